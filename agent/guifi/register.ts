// The registration of this box in guifi.net's database, as Cloudy's GUI does it
// (CLOUDY-FACTS §3 steps 2-5), made idempotent: every run starts from what
// guifi.net knows (the node's CNML, after flushing guifi.net's CNML cache) and
// adds only what is missing, so a run cut at any point (power, network) is
// finished by the next one and never makes a second device, link or service.
//
//   cnml.clear, read CNML          node exists -> NODEID, NODENAME saved
//   our device?                    DEVICEID of the state, else a cloudy device with our MAC,
//                                  else one with our nick (and no other MAC) -> reused;
//                                  else guifi.device.add -> DEVICEID saved at once
//   an IPv4?                       an interface with one -> kept; else guifi.cloudy.addlink
//                                  to -link-device or the node's first device with an IPv4
//   services                       each type not under the device in CNML -> guifi.service.add
//   cnml.clear, read CNML          when something was added: the result as guifi.net has it
//
// The token is the caller's business (login.ts); a 502 comes out as it is.
import { AgentError, errorMessage } from '../errors.ts';
import { isNickInUse } from './errors.ts';
import type { CnmlDevice, CnmlNode } from './cnml.ts';
import type { GuifiClient, GuifiServiceType } from './client.ts';
import type { GuifiState, GuifiStateStore } from './state.ts';

export interface RegisterRequest {
  nodeId: number;
  /** MAC of the community interface, AA:BB:CC:DD:EE:FF. */
  mac: string;
  /** Device nick; default `<NODENAME>-Cloudy` (with `-<last 6 MAC digits>` when another box holds that one). */
  deviceName?: string;
  /** Device of the node to take an IPv4 from; default the first device with one. */
  linkDevice?: number;
  /** An existing cloudy device of the node to use (Cloudy's "pick one"); default: found by MAC/nick, else created. */
  deviceId?: number;
  email?: string;
  comment?: string;
  /** guifi services to declare on the device. */
  services?: readonly GuifiServiceType[];
}

export interface FlowDeps {
  client: GuifiClient;
  store: GuifiStateStore;
  /** One line per step taken (logs, CLI progress). */
  log?: (line: string) => void;
}

export interface RegisterResult {
  nodeId: number;
  nodeName: string;
  device: CnmlDevice;
  /** What this run added (empty on a run that found everything in place). */
  added: { device: boolean; link: boolean; services: GuifiServiceType[] };
}

const NICK_RE = /^[A-Za-z0-9_-]+$/;
const COMMENT_MAX = 150;

/** guifi.net nicks allow [A-Za-z0-9_-]: accents dropped, anything else becomes '-'. */
export function sanitizeNick(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z0-9_-]+/g, '-').replace(/-{2,}/g, '-').replace(/^-+|-+$/g, '');
}

/** Cloudy's default device nick. */
export function defaultNick(nodeName: string): string {
  const base = sanitizeNick(nodeName);
  return base === '' ? 'Cloudy' : `${base}-Cloudy`;
}

/** The nick used when another box already holds the default one: stable for this box, so a resumed run finds it. */
export function alternateNick(nick: string, mac: string): string {
  return `${nick}-${mac.replace(/:/g, '').slice(-6)}`;
}

export function checkRequest(r: RegisterRequest): void {
  if (!Number.isSafeInteger(r.nodeId) || r.nodeId <= 0) throw new AgentError('E_INVALID', `guifi node id must be a positive number, got ${r.nodeId}`);
  if (!/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/.test(r.mac)) throw new AgentError('E_INVALID', `MAC must look like AA:BB:CC:DD:EE:FF, got ${JSON.stringify(r.mac)}`);
  if (r.deviceName !== undefined && !NICK_RE.test(r.deviceName)) {
    throw new AgentError('E_INVALID', `device name ${JSON.stringify(r.deviceName)}: only letters, digits, '_' and '-' are allowed`);
  }
  if (r.linkDevice !== undefined && (!Number.isSafeInteger(r.linkDevice) || r.linkDevice <= 0)) throw new AgentError('E_INVALID', 'link device id must be a positive number');
  if (r.deviceId !== undefined && (!Number.isSafeInteger(r.deviceId) || r.deviceId <= 0)) throw new AgentError('E_INVALID', 'device id must be a positive number');
  if (r.comment !== undefined && r.comment.length > COMMENT_MAX) throw new AgentError('E_INVALID', `comment is longer than ${COMMENT_MAX} characters`);
  if (r.email !== undefined && r.email !== '' && !/^[^\s@]+@[^\s@]+$/.test(r.email)) throw new AgentError('E_INVALID', `e-mail ${JSON.stringify(r.email)} is not an address`);
}

/** A fresh view of the node: guifi.net's CNML cache flushed first (it would hide what an interrupted run added). */
async function freshNode(d: FlowDeps, nodeId: number): Promise<CnmlNode> {
  await d.client.clearCnml();
  d.log?.(`reading the CNML of node ${nodeId}`);
  return d.client.readNode(nodeId);
}

function findOurs(node: CnmlNode, st: GuifiState, mac: string, nick: string): CnmlDevice | undefined {
  const cloudy = node.devices.filter((x) => x.type === 'cloudy');
  return (st.deviceId ? cloudy.find((x) => x.id === st.deviceId) : undefined)
    ?? cloudy.find((x) => x.mac === mac)
    ?? cloudy.find((x) => x.title === nick && x.mac === '');
}

function chooseNick(node: CnmlNode, req: RegisterRequest): string {
  if (req.deviceName !== undefined) return req.deviceName;
  const nick = defaultNick(node.title);
  const holder = node.devices.find((x) => x.title === nick);
  // A cloudy device with that nick and no MAC in CNML may well be ours: findOurs decides.
  const foreign = holder !== undefined && holder.mac !== req.mac && !(holder.type === 'cloudy' && holder.mac === '');
  return foreign ? alternateNick(nick, req.mac) : nick;
}

function hasIpv4(dev: CnmlDevice): boolean {
  return dev.interfaces.length > 0;
}

function pickLinkDevice(node: CnmlNode, ours: number, wanted: number | undefined): CnmlDevice {
  if (wanted !== undefined) {
    const dev = node.devices.find((x) => x.id === wanted);
    if (!dev) throw new AgentError('E_NOT_FOUND', `device ${wanted} is not a device of guifi.net node ${node.id}`);
    if (dev.id === ours) throw new AgentError('E_INVALID', `device ${wanted} is this box's own device`);
    if (!hasIpv4(dev)) throw new AgentError('E_INVALID', `device ${wanted} of node ${node.id} has no IPv4 to share`);
    return dev;
  }
  const others = node.devices.filter((x) => x.id !== ours && hasIpv4(x));
  const dev = others.find((x) => x.type !== 'cloudy') ?? others[0];
  if (!dev) throw new AgentError('E_NOT_FOUND', `no device of guifi.net node ${node.id} has an IPv4 to link to (add one, or pass a link device)`);
  return dev;
}

export async function registerNode(req: RegisterRequest, d: FlowDeps): Promise<RegisterResult> {
  checkRequest(req);
  const log = d.log ?? (() => {});
  let st = await d.store.read();
  let node = await freshNode(d, req.nodeId);
  // A device registered under another node is not ours to reuse here.
  const patch: Partial<GuifiState> = { nodeId: node.id, nodeName: node.title };
  if (st.nodeId !== 0 && st.nodeId !== node.id && st.deviceId !== 0) patch.deviceId = 0;
  if (req.deviceId !== undefined) {
    const picked = node.devices.find((x) => x.id === req.deviceId);
    if (!picked || picked.type !== 'cloudy') throw new AgentError('E_INVALID', `device ${req.deviceId} is not a cloudy device of guifi.net node ${node.id}`, { field: 'deviceId' });
    patch.deviceId = picked.id;
  }
  st = await d.store.update(patch);
  log(`node ${node.id} "${node.title}" found (${node.devices.length} devices)`);

  const added: RegisterResult['added'] = { device: false, link: false, services: [] };
  let nick = chooseNick(node, req);
  let dev = findOurs(node, st, req.mac, nick);
  if (dev) {
    log(`reusing device ${dev.id} "${dev.title}"`);
  } else {
    let deviceId: number | null = null;
    for (let attempt = 0; deviceId === null; attempt++) {
      log(`adding cloudy device "${nick}" (MAC ${req.mac}) to node ${node.id}`);
      try {
        deviceId = await d.client.addDevice({
          nodeId: node.id, mac: req.mac, nick,
          ...(req.email ? { email: req.email } : {}), ...(req.comment ? { comment: req.comment } : {}),
        });
        added.device = true;
      } catch (e) {
        if (!isNickInUse(e) || attempt > 0) {
          if (isNickInUse(e)) throw new AgentError('E_EXISTS', `device nick "${nick}" is already used by another guifi.net device; choose another device name`);
          throw e;
        }
        // Ours from a run cut before it learnt the id, another box's, or outside this node.
        node = await freshNode(d, req.nodeId);
        dev = findOurs(node, st, req.mac, nick) ?? node.devices.find((x) => x.type === 'cloudy' && x.title === nick && x.mac === req.mac);
        if (dev) { deviceId = dev.id; log(`nick "${nick}" is our device ${dev.id}: reusing it`); break; }
        if (req.deviceName !== undefined) throw new AgentError('E_EXISTS', `device nick "${nick}" is already used by another guifi.net device; choose another device name`);
        nick = alternateNick(defaultNick(node.title), req.mac);
      }
    }
    st = await d.store.update({ deviceId });
    log(`device ${deviceId} saved as DEVICEID`);
    dev ??= { id: deviceId, title: nick, type: 'cloudy', mac: req.mac, interfaces: [], services: [] };
  }
  if (st.deviceId !== dev.id) st = await d.store.update({ deviceId: dev.id });

  if (hasIpv4(dev)) {
    log(`device ${dev.id} has IPv4 ${dev.interfaces.map((i) => i.ipv4).join(', ')}: link kept`);
  } else {
    const link = pickLinkDevice(node, dev.id, req.linkDevice);
    log(`linking device ${dev.id} to device ${link.id} "${link.title}" for an IPv4`);
    await d.client.addLink(dev.id, link.id);
    added.link = true;
  }

  for (const type of req.services ?? []) {
    if (added.services.includes(type)) continue;
    if (dev.services.some((s) => s.type === type)) { log(`service ${type} already declared`); continue; }
    log(`declaring service ${type} on device ${dev.id}`);
    try {
      await d.client.addService({ deviceId: dev.id, type });
      added.services.push(type);
    } catch (e) {
      // The nick `<prefix><id>` is ours: a run cut after guifi.net stored it.
      if (!isNickInUse(e)) throw e;
      log(`service ${type} already declared (nick in use)`);
    }
  }

  if (added.device || added.link || added.services.length > 0) {
    node = await freshNode(d, req.nodeId);
    const now = node.devices.find((x) => x.id === dev!.id);
    if (!now) throw new AgentError('E_STATE', `device ${dev.id} is missing from node ${node.id}'s CNML after registration`);
    dev = now;
    if (!hasIpv4(dev)) throw new AgentError('E_STATE', `device ${dev.id} still has no IPv4 after guifi.cloudy.addlink`);
  }
  log(`registered: device ${dev.id} "${dev.title}", IPv4 ${dev.interfaces.map((i) => i.ipv4).join(', ')}`);
  return { nodeId: node.id, nodeName: node.title, device: dev, added };
}

/** Declares the missing ones of `types` on the registered device (service-add; headless on container start). */
export async function declareServices(types: readonly GuifiServiceType[], d: FlowDeps): Promise<GuifiServiceType[]> {
  const st = await d.store.read();
  if (st.deviceId === 0 || st.nodeId === 0) throw new AgentError('E_STATE', 'this box is not registered in guifi.net yet (run guifi register)');
  const node = await freshNode(d, st.nodeId);
  const dev = node.devices.find((x) => x.id === st.deviceId);
  if (!dev) throw new AgentError('E_NOT_FOUND', `device ${st.deviceId} is not in guifi.net node ${st.nodeId} any more`);
  const added: GuifiServiceType[] = [];
  for (const type of new Set(types)) {
    if (dev.services.some((s) => s.type === type)) { d.log?.(`service ${type} already declared`); continue; }
    d.log?.(`declaring service ${type} on device ${dev.id}`);
    try {
      await d.client.addService({ deviceId: dev.id, type });
      added.push(type);
    } catch (e) {
      if (!isNickInUse(e)) throw e;
      d.log?.(`service ${type} already declared (nick in use)`);
    }
  }
  if (added.length) await d.client.clearCnml();
  return added;
}

/** guifi.cloudy.unlink: the device keeps its record in guifi.net but gives back its IPv4 and link. */
export async function unregisterNode(d: FlowDeps): Promise<number> {
  const st = await d.store.read();
  if (st.deviceId === 0) throw new AgentError('E_STATE', 'this box has no guifi.net device to unlink');
  d.log?.(`unlinking device ${st.deviceId}`);
  await d.client.unlink(st.deviceId);
  await d.client.clearCnml();
  return st.deviceId;
}

export interface StatusReport {
  state: GuifiState;
  node: CnmlNode | null;
  device: CnmlDevice | null;
  /** Why the CNML could not be read ('' when it was). */
  cnmlError: string;
}

/** What the state file says, checked against a fresh CNML read (no token needed, so no cache flush). */
export async function readStatus(d: Pick<FlowDeps, 'client' | 'store'>): Promise<StatusReport> {
  const state = await d.store.read();
  if (state.nodeId === 0) return { state, node: null, device: null, cnmlError: '' };
  try {
    const node = await d.client.readNode(state.nodeId);
    return { state, node, device: node.devices.find((x) => x.id === state.deviceId) ?? null, cnmlError: '' };
  } catch (e) {
    return { state, node: null, device: null, cnmlError: errorMessage(e) };
  }
}
