// guifi.net API client: the calls Cloudy's registration makes (CLOUDY-FACTS §3,
// Clommunity/cDistro web/lib/guifi_api.php) over plain GETs with every
// parameter in the query string, the token in `Authorization: GuifiLogin
// auth=<token>`, and the node's CNML read from `/guifi/cnml/<id>/node` beside
// the API. Every reply is validated before anything is taken from it; a
// refusal becomes a GuifiApiError with guifi.net's code, a reply that is not
// guifi.net's format an E_DECODE naming the command.
import { AgentError, errorMessage } from '../errors.ts';
import { GuifiApiError, type GuifiErrorEntry } from './errors.ts';
import { parseCnmlNode, type CnmlNode } from './cnml.ts';
import { tinyHttpGet, type HttpGet, type HttpReply } from './http.ts';

export const DEFAULT_GUIFI_API = 'https://guifi.net/api';

/** guifi.net service types Cloudy declares, with its name and nick prefixes (cDistro web/config/global.php). */
export const GUIFI_SERVICE_TYPES = {
  SNPgraphs: { namePrefix: 'SNPgraphs', nickPrefix: 'snp' },
  DNS: { namePrefix: 'DNS', nickPrefix: 'dns' },
  Proxy: { namePrefix: 'Proxy', nickPrefix: 'prx' },
} as const;
export type GuifiServiceType = keyof typeof GUIFI_SERVICE_TYPES;

export function isGuifiServiceType(s: string): s is GuifiServiceType {
  return Object.prototype.hasOwnProperty.call(GUIFI_SERVICE_TYPES, s);
}

export interface GuifiClientOptions {
  /** API endpoint, e.g. https://guifi.net/api (the login goes to `<api>/auth`). */
  apiUrl: string;
  timeoutMs: number;
  maxReplyBytes: number;
  http?: HttpGet;
  token?: string;
  signal?: AbortSignal;
  /** Called before each request with the command (or `cnml <id>`), for step logs. Never sees parameters. */
  onRequest?: (what: string) => void;
}

export interface AddDeviceRequest {
  nodeId: number;
  /** AA:BB:CC:DD:EE:FF */
  mac: string;
  nick: string;
  email?: string;
  comment?: string;
  status?: string;
}

export interface AddServiceRequest {
  deviceId: number;
  type: GuifiServiceType;
}

type Obj = Record<string, unknown>;

/** Tokens are base64 (`<uid>:<hash>:<time>`); anything else would break the header or the state file. */
const TOKEN_RE = /^[A-Za-z0-9+/=._-]{8,1024}$/;

export class GuifiClient {
  private tokenValue: string | undefined;
  readonly apiUrl: string;
  private readonly http: HttpGet;

  constructor(private readonly o: GuifiClientOptions) {
    this.apiUrl = o.apiUrl.replace(/\/+$/, '');
    this.http = o.http ?? tinyHttpGet;
    this.tokenValue = o.token;
  }

  get token(): string | undefined { return this.tokenValue; }
  setToken(t: string | undefined): void { this.tokenValue = t; }

  /** Where CNML lives: the site of the API (`https://guifi.net/api` -> `https://guifi.net`). */
  cnmlUrl(nodeId: number): string {
    const base = this.apiUrl.endsWith('/api') ? this.apiUrl.slice(0, -4) : new URL(this.apiUrl).origin;
    return `${base}/guifi/cnml/${nodeId}/node`;
  }

  /** guifi.auth.login: a new token (guifi.net keeps one per user: the previous one stops working). */
  async login(username: string, password: string): Promise<string> {
    const r = await this.call('guifi.auth.login', { username, password, method: 'password' }, { auth: false, url: `${this.apiUrl}/auth` });
    const token = r.authToken;
    if (typeof token !== 'string' || !TOKEN_RE.test(token)) throw malformed('guifi.auth.login', 'responses.authToken is missing or not a token');
    this.tokenValue = token;
    return token;
  }

  /** guifi.device.add of a `cloudy` device; its new id. */
  async addDevice(d: AddDeviceRequest): Promise<number> {
    const q: Record<string, string> = {
      node_id: String(d.nodeId), type: 'cloudy', mac: d.mac, nick: d.nick, status: d.status ?? 'Testing',
    };
    if (d.email) q.notification = d.email;
    if (d.comment) q.comment = d.comment;
    const r = await this.call('guifi.device.add', q);
    return idOf(r.device_id, 'guifi.device.add', 'responses.device_id');
  }

  /** guifi.cloudy.addlink: an IPv4 from `deviceId`'s subnet for the Cloudy device, with a planned cable link. */
  async addLink(cloudyId: number, deviceId: number): Promise<Obj> {
    const r = await this.call('guifi.cloudy.addlink', { device_id: String(deviceId), cloudy_id: String(cloudyId) });
    if (!isObj(r.device)) throw malformed('guifi.cloudy.addlink', 'responses.device is missing');
    return r.device;
  }

  /** guifi.cloudy.unlink: the Cloudy device's link (and the IPv4 it gave) removed. */
  async unlink(cloudyId: number): Promise<void> {
    await this.call('guifi.cloudy.unlink', { cloudy_id: String(cloudyId) });
  }

  /** guifi.service.add with Cloudy's name and nick (`<type><id>`, `<snp|dns|prx><id>`); the new service's id when told. */
  async addService(s: AddServiceRequest): Promise<number | null> {
    const t = GUIFI_SERVICE_TYPES[s.type];
    const r = await this.call('guifi.service.add', {
      name: `${t.namePrefix}${s.deviceId}`, server_id: String(s.deviceId), service_type: s.type, nick: `${t.nickPrefix}${s.deviceId}`,
    });
    const svc = r.service;
    if (svc === undefined) throw malformed('guifi.service.add', 'responses.service is missing');
    if (isObj(svc) && svc.id !== undefined) return idOf(svc.id, 'guifi.service.add', 'responses.service.id');
    if (typeof svc === 'number' || typeof svc === 'string') return idOf(svc, 'guifi.service.add', 'responses.service');
    return null;
  }

  /** guifi.cnml.clear: guifi.net serves CNML from a cache until this. */
  async clearCnml(): Promise<void> {
    await this.call('guifi.cnml.clear', {});
  }

  /** The node's CNML (no token needed). */
  async readNode(nodeId: number): Promise<CnmlNode> {
    this.o.onRequest?.(`cnml ${nodeId}`);
    const url = this.cnmlUrl(nodeId);
    const r = await this.get(url, {}, {});
    if (r.status !== 200) throw new AgentError('E_UNAVAILABLE', `CNML of node ${nodeId}: HTTP ${r.status} from ${url}`);
    return parseCnmlNode(r.body.toString('utf8'), nodeId);
  }

  private get(url: string, query: Record<string, string>, headers: Record<string, string>): Promise<HttpReply> {
    return this.http(url, {
      query, headers, timeoutMs: this.o.timeoutMs, maxBytes: this.o.maxReplyBytes,
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
  }

  /** Any API command (guifi.<area>.<op>); its `responses` object once the reply is known good. */
  async call(command: string, params: Record<string, string>, o: { auth?: boolean; url?: string } = {}): Promise<Obj> {
    const headers: Record<string, string> = {};
    if (o.auth !== false) {
      // guifi.net would answer 502 as well; not sending a request we know it refuses saves a round trip.
      if (this.tokenValue === undefined) throw new GuifiApiError(command, [{ code: 502, str: 'Invalid token', extra: 'not logged in' }]);
      headers.authorization = `GuifiLogin auth=${this.tokenValue}`;
    }
    this.o.onRequest?.(command);
    const r = await this.get(o.url ?? this.apiUrl, { command, ...params }, headers);
    if (r.status !== 200) throw new AgentError('E_UNAVAILABLE', `guifi.net ${command}: HTTP ${r.status}`);
    let body: unknown;
    try {
      body = JSON.parse(r.body.toString('utf8'));
    } catch (e) {
      throw malformed(command, `reply is not JSON (${errorMessage(e)}): ${snippet(r.body)}`);
    }
    if (!isObj(body)) throw malformed(command, 'reply is not a JSON object');
    if (body.command !== undefined && body.command !== command) throw malformed(command, `reply is for ${JSON.stringify(body.command)}`);
    const code = isObj(body.code) ? body.code.code : undefined;
    const codeNum = typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : code;
    if (codeNum === 200) {
      const resp = body.responses;
      // PHP encodes an empty array as [], so an empty `responses` may be a list.
      if (resp === undefined || (Array.isArray(resp) && resp.length === 0)) return {};
      if (!isObj(resp)) throw malformed(command, 'responses is not an object');
      return resp;
    }
    if (typeof codeNum !== 'number') throw malformed(command, 'reply has no code.code');
    const errors = Array.isArray(body.errors) ? body.errors.map(errorEntry).filter((x): x is GuifiErrorEntry => x !== null) : [];
    if (errors.length === 0) throw malformed(command, `code ${codeNum} without a readable errors list`);
    throw new GuifiApiError(command, errors);
  }
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function errorEntry(e: unknown): GuifiErrorEntry | null {
  if (!isObj(e)) return null;
  const code = typeof e.code === 'string' && /^\d+$/.test(e.code) ? Number(e.code) : e.code;
  if (typeof code !== 'number') return null;
  const str = typeof e.str === 'string' ? e.str : '';
  const extra = typeof e.extra === 'string' ? e.extra : typeof e.extra === 'number' ? String(e.extra) : undefined;
  return extra === undefined ? { code, str } : { code, str, extra };
}

function idOf(v: unknown, command: string, where: string): number {
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw malformed(command, `${where} is not a positive integer id`);
  return n;
}

function malformed(command: string, why: string): AgentError {
  return new AgentError('E_DECODE', `guifi.net ${command}: malformed reply: ${why}`);
}

function snippet(b: Buffer): string {
  const s = b.subarray(0, 80).toString('utf8').replace(/\s+/g, ' ');
  return JSON.stringify(b.length > 80 ? `${s}...` : s);
}
