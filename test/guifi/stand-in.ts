// A stand-in for guifi.net's API and CNML export, over real HTTP on 127.0.0.1
// (port chosen at run time), with the semantics documented in CLOUDY-FACTS §3
// (guifi/drupal-guifi guifi_api.inc.php): GETs with the command in the query
// string; one token per user (a login replaces it), purged after 12 h on an
// injected clock; 502 for a missing or unknown token; 402 naming a missing
// field; 403 with the server's text for invalid input (unique nicks, device
// and service types, statuses, MACs); 500 for unknown objects; 501 when the
// node is someone else's; `guifi.cloudy.addlink` taking the first free IPv4 of
// the linked device's subnet, adding a Lan interface and a planned cable link;
// CNML generated from its own tables and cached per node until
// `guifi.cnml.clear`, as guifi.net caches it.
//
// Test levers: `calls` (every command in order), `faults` (the next matching
// replies broken: not JSON, an HTML error page, truncated XML, HTTP 500, a
// stall, a dropped connection after the change was made), `afterChange` (runs
// after a command changed the tables and before the reply goes out: a test
// kills its client there), `beforeRequest` (the same, before anything is
// done), `extraCnml` (CNML with elements and attributes a
// client must ignore).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export const TOKEN_LIFETIME_MS = 12 * 3600_000;

interface User { uid: number; name: string; password: string; mail: string }
interface Iface { id: number; type: string; ipv4: string; mask: string; mac: string }
interface Device {
  id: number; nodeId: number; nick: string; type: string; mac: string; status: string;
  comment: string; notification: string; interfaces: Iface[]; createdBy: number;
}
interface Link { id: number; aIface: number; aDevice: number; bIface: number; bDevice: number; type: string; status: string; routing: string }
interface Service { id: number; name: string; nick: string; serverId: number; type: string; status: string }
interface Node { id: number; title: string; owner: number }

/** Who a request is from: the user (by login name or token), or the node of a CNML read. */
export interface Who { user: string | null; nodeId: number | null }

export type FaultKind = 'malformed-json' | 'html' | 'truncated-xml' | 'http-500' | 'stall' | 'drop-after-change' | 'empty';
export interface Fault { what: string; kind: FaultKind; times: number }

const DEVICE_TYPES = ['radio', 'mobile', 'server', 'nat', 'generic', 'adsl', 'cam', 'phone', 'ups', 'generator', 'wifi', 'apc', 'cloudy', 'confine'];
const STATUSES = ['Planned', 'Reserved', 'Building', 'Testing', 'Working', 'Dropped', 'Inactive'];
const SERVICE_TYPES = ['SNPgraphs', 'DNS', 'Proxy', 'mail', 'web', 'ntp', 'ftp', 'apt-cache', 'radio', 'tv'];
const KNOWN_UNIMPLEMENTED = new Set([
  'guifi.zone.add', 'guifi.zone.update', 'guifi.zone.remove', 'guifi.zone.nearest', 'guifi.node.add', 'guifi.node.update',
  'guifi.node.remove', 'guifi.device.update', 'guifi.device.remove', 'guifi.service.get', 'guifi.service.update',
  'guifi.service.remove', 'guifi.service.types', 'guifi.service.list', 'guifi.hello.world',
]);
const ERR_STR: Record<number, string> = {
  400: 'Request is not valid: bad command', 401: 'Command not implemented', 402: 'Missing field', 403: 'Invalid input',
  404: 'Not allowed', 500: 'Object not found', 501: 'No permission', 502: 'Invalid token',
};

class ApiError extends Error {
  constructor(readonly code: number, readonly extra: string) { super(extra); }
}

function ipToInt(ip: string): number { return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0); }
function intToIp(n: number): string { return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.'); }
function xmlAttr(v: string | number): string {
  return String(v).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export class GuifiStandIn {
  private server: Server | null = null;
  private port = 0;
  private t = Date.UTC(2026, 11, 7, 12, 0, 0);
  private seq = 100;
  readonly users = new Map<string, User>();
  readonly tokens = new Map<number, { token: string; created: number }>();
  readonly nodes = new Map<number, Node>();
  readonly devices = new Map<number, Device>();
  readonly links = new Map<number, Link>();
  readonly services = new Map<number, Service>();
  private readonly cnmlCache = new Map<number, string>();
  /** Every request in order: the command, or `cnml <id>`. */
  readonly calls: string[] = [];
  faults: Fault[] = [];
  afterChange: ((command: string, who: Who) => Promise<void> | void) | null = null;
  /** Runs when a request arrives (command or `cnml <id>`); 'drop' closes the connection unanswered, nothing done. */
  beforeRequest: ((what: string, who: Who) => Promise<'drop' | void> | 'drop' | void) | null = null;
  extraCnml = false;
  contentType = 'application/json; charset=utf-8';
  private readonly stalled = new Set<ServerResponse>();

  /** The injected clock (ms since the epoch). */
  now(): number { return this.t; }
  advance(ms: number): void { this.t += ms; }

  get apiUrl(): string { return `http://127.0.0.1:${this.port}/api`; }
  get cnmlBase(): string { return `http://127.0.0.1:${this.port}`; }

  private id(): number { return ++this.seq; }

  addUser(name: string, password: string, mail = `${name}@example.net`): number {
    const uid = this.id();
    this.users.set(name, { uid, name, password, mail });
    return uid;
  }

  addNode(title: string, owner: string): number {
    const id = this.id();
    this.nodes.set(id, { id, title, owner: this.users.get(owner)!.uid });
    return id;
  }

  /** A device placed directly in the tables (the node's router, say). */
  addDevice(d: { nodeId: number; nick: string; type: string; mac?: string; ipv4?: string; mask?: string }): number {
    const id = this.id();
    const interfaces = d.ipv4 ? [{ id: this.id(), type: 'Lan', ipv4: d.ipv4, mask: d.mask ?? '255.255.255.0', mac: d.mac ?? '' }] : [];
    this.devices.set(id, { id, nodeId: d.nodeId, nick: d.nick, type: d.type, mac: d.mac ?? '', status: 'Working', comment: '', notification: '', interfaces, createdBy: 0 });
    return id;
  }

  devicesOf(nodeId: number): Device[] { return [...this.devices.values()].filter((d) => d.nodeId === nodeId); }
  servicesOf(deviceId: number): Service[] { return [...this.services.values()].filter((s) => s.serverId === deviceId); }
  linksOf(deviceId: number): Link[] { return [...this.links.values()].filter((l) => l.aDevice === deviceId || l.bDevice === deviceId); }
  tokenOf(user: string): string | undefined { return this.tokens.get(this.users.get(user)!.uid)?.token; }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => { void this.handle(req, res); });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const r of this.stalled) r.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private takeFault(what: string): FaultKind | null {
    const f = this.faults.find((x) => x.times > 0 && (x.what === what || x.what === '*'));
    if (!f) return null;
    f.times--;
    return f.kind;
  }

  private purgeTokens(): void {
    for (const [uid, t] of this.tokens) if (this.t - t.created > TOKEN_LIFETIME_MS) this.tokens.delete(uid);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const cnml = /^\/guifi\/cnml\/(\d+)\/node$/.exec(url.pathname);
    if (req.method !== 'GET') { res.writeHead(405).end(); return; }
    const what = cnml ? `cnml ${cnml[1]}` : url.searchParams.get('command') ?? '';
    const who = this.who(req, url, cnml ? Number(cnml[1]) : null);
    if (this.beforeRequest && (await this.beforeRequest(what, who)) === 'drop') { res.destroy(); return; }
    if (cnml) { this.serveCnml(Number(cnml[1]), res); return; }
    if (url.pathname !== '/api' && url.pathname !== '/api/auth') { res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>'); return; }
    const q = Object.fromEntries(url.searchParams);
    const command = q.command ?? '';
    this.calls.push(command);
    const fault = this.takeFault(command);
    if (fault === 'stall') { this.stalled.add(res); return; }
    if (fault === 'http-500') { res.writeHead(500, { 'content-type': 'text/html' }).end('<html><body>Internal Server Error</body></html>'); return; }
    if (fault === 'html') { res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Site under maintenance</body></html>'); return; }
    if (fault === 'empty') { res.writeHead(200, { 'content-type': this.contentType }).end(''); return; }
    let body: unknown;
    let changed = false;
    try {
      this.purgeTokens();
      const out = this.run(command, q, req.headers.authorization ?? '');
      changed = out.changed;
      body = { command, code: { code: 200, str: 'Request completed successfully' }, responses: out.responses };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      body = { command, code: { code: 201, str: 'Request could not be completed, errors found' }, errors: [{ code: e.code, str: ERR_STR[e.code], extra: e.extra }] };
    }
    if (changed && this.afterChange) await this.afterChange(command, who);
    if (fault === 'drop-after-change') { res.destroy(); return; }
    // Done, then garbled on the way out (a PHP warning in the output, a cut reply).
    if (fault === 'malformed-json') { res.writeHead(200, { 'content-type': this.contentType }).end('{"command":"' + command + '","code":{"code":200,'); return; }
    res.writeHead(200, { 'content-type': this.contentType }).end(JSON.stringify(body));
  }

  private serveCnml(nodeId: number, res: ServerResponse): void {
    this.calls.push(`cnml ${nodeId}`);
    const fault = this.takeFault(`cnml ${nodeId}`) ?? this.takeFault('cnml');
    if (fault === 'stall') { this.stalled.add(res); return; }
    if (fault === 'http-500') { res.writeHead(500, { 'content-type': 'text/html' }).end('<html>error</html>'); return; }
    let xml = this.cnmlCache.get(nodeId);
    if (xml === undefined) { xml = this.cnmlXml(nodeId); this.cnmlCache.set(nodeId, xml); }
    if (fault === 'truncated-xml') xml = xml.slice(0, Math.floor(xml.length * 0.6));
    if (fault === 'html') xml = '<html><body><p>Site under maintenance<br></body></html>';
    res.writeHead(200, { 'content-type': 'application/xml; charset=utf-8' }).end(xml);
  }

  private who(req: IncomingMessage, url: URL, nodeId: number | null): Who {
    if (nodeId !== null) return { user: null, nodeId };
    if (url.searchParams.get('command') === 'guifi.auth.login') return { user: url.searchParams.get('username'), nodeId: null };
    try { return { user: this.user(req.headers.authorization ?? '').name, nodeId: null }; } catch { return { user: null, nodeId: null }; }
  }

  private user(auth: string): User {
    const m = /^GuifiLogin auth=(.+)$/.exec(auth.trim());
    if (!m) throw new ApiError(502, 'The given token is not valid');
    for (const [uid, t] of this.tokens) {
      if (t.token === m[1]) return [...this.users.values()].find((u) => u.uid === uid)!;
    }
    throw new ApiError(502, 'The given token is not valid or has expired');
  }

  private run(command: string, q: Record<string, string>, auth: string): { responses: unknown; changed: boolean } {
    const need = (...fields: string[]): void => {
      for (const f of fields) if (q[f] === undefined || q[f] === '') throw new ApiError(402, f);
    };
    const m = /^guifi\.([a-z]+)\.([a-z]+)$/.exec(command);
    if (!m) throw new ApiError(400, command === '' ? 'no command given' : `unknown command ${command}`);
    if (command === 'guifi.auth.login') {
      need('username', 'password');
      if ((q.method ?? 'password') !== 'password') throw new ApiError(404, 'only the password method is allowed');
      const u = this.users.get(q.username!);
      if (!u || u.password !== q.password) throw new ApiError(403, 'Either the supplied username or password are not correct');
      const hash = createHash('md5').update(`${u.mail}${u.password}${u.uid}${this.t}${randomBytes(8).toString('hex')}`).digest('hex');
      const token = Buffer.from(`${u.uid}:${hash}:${Math.floor(this.t / 1000)}`).toString('base64');
      this.tokens.set(u.uid, { token, created: this.t });
      return { responses: { authToken: token }, changed: true };
    }
    if (KNOWN_UNIMPLEMENTED.has(command)) { this.user(auth); throw new ApiError(401, command); }
    const handlers: Record<string, () => { responses: unknown; changed: boolean }> = {
      'guifi.device.add': () => this.deviceAdd(q, need, this.user(auth)),
      'guifi.cloudy.addlink': () => this.addLink(q, need, this.user(auth)),
      'guifi.cloudy.unlink': () => this.unlink(q, need, this.user(auth)),
      'guifi.service.add': () => this.serviceAdd(q, need, this.user(auth)),
      'guifi.cnml.clear': () => { this.user(auth); this.cnmlCache.clear(); return { responses: [], changed: false }; },
    };
    const h = handlers[command];
    if (!h) throw new ApiError(400, `unknown command ${command}`);
    return h();
  }

  private ownNode(nodeId: number, u: User): Node {
    const node = this.nodes.get(nodeId);
    if (!node) throw new ApiError(500, `node ${nodeId} not found`);
    if (node.owner !== u.uid) throw new ApiError(501, `node ${nodeId} is not yours`);
    return node;
  }

  private deviceAdd(q: Record<string, string>, need: (...f: string[]) => void, u: User): { responses: unknown; changed: boolean } {
    need('node_id', 'type');
    if (!/^\d+$/.test(q.node_id!)) throw new ApiError(403, 'node_id must be a number');
    const node = this.ownNode(Number(q.node_id), u);
    if (!DEVICE_TYPES.includes(q.type!)) throw new ApiError(403, `invalid device type ${q.type}`);
    const status = q.status ?? 'Working';
    if (!STATUSES.includes(status)) throw new ApiError(403, `invalid status ${status}`);
    const mac = q.mac ?? '';
    if (mac !== '' && !/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(mac)) throw new ApiError(403, `mac ${mac} is not valid`);
    const nick = q.nick ?? `${node.title}-${q.type}`;
    if (!/^[A-Za-z0-9_-]+$/.test(nick)) throw new ApiError(403, 'nick may only have letters, digits, _ and -');
    if ([...this.devices.values()].some((d) => d.nick.toLowerCase() === nick.toLowerCase())) throw new ApiError(403, 'nick already in use');
    if (q.notification !== undefined && !/^[^\s@]+@[^\s@]+$/.test(q.notification)) throw new ApiError(403, 'notification is not a valid e-mail address');
    const id = this.id();
    this.devices.set(id, {
      id, nodeId: node.id, nick, type: q.type!, mac: mac.toUpperCase(), status, comment: q.comment ?? '',
      notification: q.notification ?? '', interfaces: [], createdBy: u.uid,
    });
    return { responses: { device_id: id }, changed: true };
  }

  private addLink(q: Record<string, string>, need: (...f: string[]) => void, u: User): { responses: unknown; changed: boolean } {
    need('device_id', 'cloudy_id');
    const dev = this.devices.get(Number(q.device_id));
    if (!dev) throw new ApiError(500, `device ${q.device_id} not found`);
    const cloudy = this.devices.get(Number(q.cloudy_id));
    if (!cloudy) throw new ApiError(500, `device ${q.cloudy_id} not found`);
    this.ownNode(cloudy.nodeId, u);
    if (cloudy.type !== 'cloudy') throw new ApiError(404, `device ${cloudy.id} is not a cloudy device`);
    const src = dev.interfaces.find((i) => i.ipv4 !== '' && i.mask !== '');
    if (!src) throw new ApiError(403, `device ${dev.id} has no IPv4 address`);
    const mask = ipToInt(src.mask);
    const net = ipToInt(src.ipv4) - (ipToInt(src.ipv4) % (2 ** 32 - mask));
    const size = 2 ** 32 - mask;
    const used = new Set([...this.devices.values()].flatMap((d) => d.interfaces.map((i) => i.ipv4)));
    let ip = '';
    for (let h = 1; h < size - 1; h++) {
      const cand = intToIp(net + h);
      if (!used.has(cand)) { ip = cand; break; }
    }
    if (ip === '') throw new ApiError(403, `no free IPv4 address left in ${intToIp(net)}/${src.mask}`);
    const iface: Iface = { id: this.id(), type: 'Lan', ipv4: ip, mask: src.mask, mac: cloudy.mac };
    cloudy.interfaces.push(iface);
    const link: Link = { id: this.id(), aIface: iface.id, aDevice: cloudy.id, bIface: src.id, bDevice: dev.id, type: 'cable', status: 'Planned', routing: 'Gateway' };
    this.links.set(link.id, link);
    return { responses: { device: { id: cloudy.id, nick: cloudy.nick, interfaces: cloudy.interfaces.map((i) => ({ id: i.id, interface_type: i.type, ipv4: i.ipv4, netmask: i.mask })) } }, changed: true };
  }

  private unlink(q: Record<string, string>, need: (...f: string[]) => void, u: User): { responses: unknown; changed: boolean } {
    need('cloudy_id');
    const cloudy = this.devices.get(Number(q.cloudy_id));
    if (!cloudy) throw new ApiError(500, `device ${q.cloudy_id} not found`);
    this.ownNode(cloudy.nodeId, u);
    if (cloudy.type !== 'cloudy') throw new ApiError(404, `device ${cloudy.id} is not a cloudy device`);
    for (const l of this.linksOf(cloudy.id)) {
      this.links.delete(l.id);
      cloudy.interfaces = cloudy.interfaces.filter((i) => i.id !== l.aIface);
    }
    return { responses: [], changed: true };
  }

  private serviceAdd(q: Record<string, string>, need: (...f: string[]) => void, u: User): { responses: unknown; changed: boolean } {
    need('name', 'server_id', 'service_type');
    const server = this.devices.get(Number(q.server_id));
    if (!server) throw new ApiError(500, `device ${q.server_id} not found`);
    this.ownNode(server.nodeId, u);
    if (!SERVICE_TYPES.includes(q.service_type!)) throw new ApiError(403, `invalid service type ${q.service_type}`);
    const status = q.status ?? 'Working';
    if (!STATUSES.includes(status)) throw new ApiError(403, `invalid status ${status}`);
    const nick = q.nick ?? q.name!;
    if ([...this.services.values()].some((s) => s.nick === nick)) throw new ApiError(403, 'nick already in use');
    const id = this.id();
    this.services.set(id, { id, name: q.name!, nick, serverId: server.id, type: q.service_type!, status });
    return { responses: { service: { id, nick, service_type: q.service_type, status } }, changed: true };
  }

  /** CNML of one node, as guifi.net renders it (and more, with extraCnml). */
  cnmlXml(nodeId: number): string {
    const x = this.extraCnml;
    const node = this.nodes.get(nodeId);
    const head = `<?xml version="1.0" encoding="utf-8"?>\n${x ? '<?xml-stylesheet type="text/xsl" href="cnml.xsl"?>\n<!-- generated by the stand-in -->\n' : ''}`;
    const root = `<cnml version="0.1" server_id="1" server_url="${xmlAttr(this.cnmlBase)}" generated="${new Date(this.t).toISOString()}"${x ? ' xmlns:gf="http://guifi.net/ns" gf:flavour="test"' : ''}>`;
    if (!node) return `${head}${root}<class node_description="${nodeId}" mapping="y"/><network nodes="0" devices="0"/></cnml>\n`;
    const devs = this.devicesOf(nodeId);
    const lines: string[] = [head + root, `<class node_description="${nodeId}" mapping="y"/>`, `<network nodes="1" devices="${devs.length}" services="${devs.reduce((a, d) => a + this.servicesOf(d.id).length, 0)}">`];
    if (x) lines.push('<zone id="1" title="Elsewhere"><node id="99999" title="Not this one"><device id="99998" title="decoy" type="cloudy" mac="00:11:22:33:44:55"/></node></zone>');
    lines.push(`<node id="${node.id}" title="${xmlAttr(node.title)}" lat="41.38" lon="2.17" status="Working" created="20150416"${x ? ' elevation="12" graph_server="3" future_attr="yes"' : ''}>`);
    if (x) lines.push('<description><![CDATA[A node <with> markup & such]]></description>', '<unknown_element><device id="4242" title="inside-unknown" type="cloudy"/></unknown_element>');
    for (const d of devs) {
      const macAttr = d.mac ? ` mac="${d.mac}"` : '';
      lines.push(`<device id="${d.id}" title="${xmlAttr(d.nick)}" type="${d.type}" status="${d.status}"${macAttr} created="20150416"${x ? ' firmware="none" snmp_index="5" graph_server="3"' : ''}>`);
      if (x) lines.push('<snmp community="public"/>');
      const ifaces = d.interfaces.map((i) => {
        const links = this.linksOf(d.id).filter((l) => l.aIface === i.id || l.bIface === i.id).map((l) => {
          const other = l.aIface === i.id ? l.bDevice : l.aDevice;
          return `<link id="${l.id}" linked_device_id="${other}" linked_node_id="${this.devices.get(other)?.nodeId ?? 0}" link_type="${l.type}" link_status="${l.status}"/>`;
        }).join('');
        return `<interface id="${i.id}" type="${i.type}" ipv4="${i.ipv4}" mask="${i.mask}"${i.mac ? ` mac="${i.mac}"` : ''}${x ? ' extra="1"' : ''}>${links}</interface>`;
      });
      // Radio devices nest their interfaces in <radio>, the rest list them directly.
      if (x && d.type === 'radio') lines.push(`<radio id="0" ssid="guifi-${d.id}" mode="ap" protocol="802.11n">${ifaces.join('')}</radio>`);
      else lines.push(...ifaces);
      for (const s of this.servicesOf(d.id)) {
        lines.push(`<service id="${s.id}" title="${xmlAttr(s.name)}" type="${s.type}" status="${s.status}" created="20150416"${x ? ' nick="' + xmlAttr(s.nick) + '"' : ''}/>`);
      }
      lines.push('</device>');
    }
    lines.push('</node>', '</network>', '</cnml>');
    return lines.join('\n') + '\n';
  }
}
