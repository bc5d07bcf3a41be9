// Configuration of the `agent` daemon: serf's agent options (same names as
// serf's flags and JSON config keys) plus Cloudy's: `mode` (edge|full), a
// memory budget and per-limit overrides. Built from defaults, then config
// files (in order), then flags; validated once, with errors that name the
// offending flag or key.
import { hostname } from 'node:os';
import { AgentError } from '../errors.ts';
import { parseLogLevel, type LogLevel } from '../obs/log.ts';
import { defaultLimits, limitName, type AgentMode, type LimitName, type Limits } from './limits.ts';
import type { GuifiSettings } from './guifi-settings.ts';
import type { IdentityNote } from '../state/identity.ts';

/** memberlist's timing profiles (gossip/profiles.ts holds their values). */
export type ProfileName = 'lan' | 'wan' | 'local';

export interface AgentConfig {
  nodeName: string;
  /** Gossip bind address (ip:port, [ipv6]:port); Cloudy uses port 5000. */
  bind: string;
  /** Address advertised to peers ('' = derived from bind). */
  advertise: string;
  /** Addresses joined at start; retried with backoff until one join succeeds. */
  join: string[];
  replayOnJoin: boolean;
  /** Delay before the first retry and cap of the exponential backoff (ms). */
  retryIntervalMs: number;
  retryMaxIntervalMs: number;
  /** 0 = retry forever. */
  retryMaxAttempts: number;
  /** Base64 gossip key (16, 24 or 32 bytes). */
  encryptKey: string;
  /** JSON array of base64 keys, first = primary (serf keyring file); rewritten after key changes. */
  keyringFile: string;
  profile: ProfileName;
  /** Serf protocol version spoken (2..5). */
  protocol: number;
  tags: Record<string, string>;
  tagsFile: string;
  rpcAddr: string;
  rpcAuth: string;
  snapshotPath: string;
  rejoinAfterLeave: boolean;
  logLevel: LogLevel;
  /** serf event handler specs: `[filter=]script`. */
  eventHandlers: string[];
  /** Leave gracefully on SIGTERM (serf leave_on_terminate, default false). */
  leaveOnTerminate: boolean;
  /** Skip the graceful leave on SIGINT (serf skip_leave_on_interrupt, default false). */
  skipLeaveOnInterrupt: boolean;
  enableCompression: boolean;
  mode: AgentMode;
  /** Bytes the agent may use; scales the member-bound limits (null = mode defaults). */
  memoryBudget: number | null;
  /** Explicit limit overrides (config `limits` object and -limit flags). */
  limitOverrides: Partial<Limits>;
  /** The -limit flags alone (also in limitOverrides): they win over <data-dir>/remote/limits.json (config/limit-overrides-file.ts). */
  limitFlags: Partial<Limits>;
  /**
   * Where the agent keeps its state (HostID and node name, published services,
   * containers' desired state, default snapshot). '' = the host default
   * (/var/lib/cloudy-agent as root) when the node name is Cloudy's automatic
   * one; with an explicit -node and no -data-dir, nothing is persisted beyond
   * -snapshot (so several test agents on one host never share state).
   */
  dataDir: string;
  /** Community interface whose IPv4 is announced (Cloudy's SERF_INTERFACE); '' = default-route interface, else first 10/8. */
  communityInterface: string;
  /** Manage LXC containers (when lxc is installed and a data dir is set). */
  containers: boolean;
  /**
   * Config key "lxc": {"bridge", "cidr", "gateway", "path", "nft_table"}: the containers' bridge and
   * subnet (default lxc-net's lxcbr0 10.0.3.0/24), LXC path (default lxc-config's) and the nftables
   * table of the port forwards (default cloudy_agent). Set all three of bridge/cidr/gateway or none.
   */
  lxc: { bridge?: string; cidr?: string; gateway?: string; path?: string; nftTable?: string };
  /** guifi.net registration (config key `guifi`, the first-boot seed's; flags -guifi-*): see config/guifi-settings.ts. */
  guifi: Partial<GuifiSettings>;
  /** `e` of published records (-microcloud, key "microcloud"); null = getinconf's NETWORK_NAME, as avahi-ps. */
  microcloud: string | null;
  /** getinconf's client config avahi-ps reads `e` from (-getinconf-file, key "getinconf_file"; '' = /etc/getinconf-client.conf). */
  getinconfFile: string;
  /** serf's -discover: find peers on the LAN by mDNS as _serf_<NAME>._tcp ('' = off). */
  discover: string;
  /** serf's -iface: the one interface mDNS discovery uses ('' = every IPv4 interface). */
  discoverInterface: string;
  /** Operator public keys obeyed for remote control, `ed25519:BASE64[@admin|@viewer]` (none = no remote control). */
  trustedOperators: string[];
  /**
   * HTTP API and web GUI address (host:port): '' = the mode's default (full:
   * 0.0.0.0:7000, Cloudy's GUI port; edge: off), 'off' = no HTTP server.
   */
  http: string;
  /** Public read-only view (-http-guest): members, services and plots without logging in. */
  httpGuest: boolean;
  /** True while no source named the node: the name follows Cloudy's scheme (<HostID>-<ns>-<host>-<ip>:<port>). */
  autoNodeName: boolean;
  /**
   * Facts about this host decided once at start (config/host-defaults.ts
   * decideHost); plug-ins read these, never bind/advertise or the interfaces.
   * Absent: the daemon decides them itself when it starts.
   */
  host?: HostInfo;
}

/** What the agent decided about its host, once. */
export interface HostInfo {
  /** `uname -n` (records carry `<hostname>.guifi.local`). */
  hostname: string;
  /** The community IPv4 announced in service records and used for port forwards (null: none found). */
  communityIp: string | null;
  /** The gossip port peers reach: -advertise port, else -bind port (Cloudy: 5000). */
  gossipPort: number;
  /** Identity files moved aside or not written (full/read-only disk), for the daemon's StateHealth to report and retry. */
  identityNotes?: IdentityNote[];
}

export const CLOUDY_GOSSIP_PORT = 5000;
export const DEFAULT_RPC_ADDR = '127.0.0.1:7373';
/** Cloudy's web GUI port (cDistro), where a full node serves its API and GUI by default. */
export const DEFAULT_FULL_HTTP_ADDR = '0.0.0.0:7000';

/** Where the HTTP server listens, or null when it is off (edge mode default, or `-http off`). */
export function httpAddrOf(c: Pick<AgentConfig, 'http' | 'mode'>): string | null {
  if (c.http === 'off' || c.http === 'false') return null;
  if (c.http !== '') return c.http;
  return c.mode === 'full' ? DEFAULT_FULL_HTTP_ADDR : null;
}

export function defaultAgentConfig(): AgentConfig {
  return {
    nodeName: hostname(),
    bind: `0.0.0.0:${CLOUDY_GOSSIP_PORT}`,
    advertise: '',
    join: [],
    replayOnJoin: false,
    retryIntervalMs: 1000,
    retryMaxIntervalMs: 60_000,
    retryMaxAttempts: 0,
    encryptKey: '',
    keyringFile: '',
    profile: 'wan',
    protocol: 4,
    tags: {},
    tagsFile: '',
    rpcAddr: DEFAULT_RPC_ADDR,
    rpcAuth: '',
    snapshotPath: '',
    rejoinAfterLeave: false,
    logLevel: 'INFO',
    eventHandlers: [],
    leaveOnTerminate: false,
    skipLeaveOnInterrupt: false,
    enableCompression: true,
    mode: 'edge',
    memoryBudget: null,
    limitOverrides: {},
    limitFlags: {},
    guifi: {},
    dataDir: '',
    communityInterface: '',
    containers: true,
    lxc: {},
    microcloud: null,
    getinconfFile: '',
    discover: '',
    discoverInterface: '',
    trustedOperators: [],
    http: '',
    httpGuest: false,
    autoNodeName: true,
  };
}

/** A partial config as read from one source (file or flags); lists/maps are merged. */
export type ConfigLayer = Partial<AgentConfig>;

export function mergeLayers(base: AgentConfig, ...layers: ConfigLayer[]): AgentConfig {
  const out: AgentConfig = { ...base, tags: { ...base.tags }, join: [...base.join], eventHandlers: [...base.eventHandlers], trustedOperators: [...base.trustedOperators], limitOverrides: { ...base.limitOverrides }, limitFlags: { ...base.limitFlags }, guifi: { ...base.guifi } };
  for (const l of layers) {
    for (const [k, v] of Object.entries(l) as [keyof AgentConfig, unknown][]) {
      if (v === undefined) continue;
      if (k === 'nodeName') out.autoNodeName = false;
      if (k === 'tags') Object.assign(out.tags, v);
      else if (k === 'join' || k === 'eventHandlers' || k === 'trustedOperators') (out[k] as string[]).push(...(v as string[]));
      else if (k === 'limitOverrides' || k === 'limitFlags') Object.assign(out[k], v);
      else if (k === 'guifi') Object.assign(out.guifi, v);
      else (out as unknown as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

function bad(where: string, msg: string): never {
  throw new AgentError('E_CONFIG', `${where}: ${msg}`);
}

/** Checks cross-field rules; `where(key)` names the flag or config key in errors. */
export function validateConfig(c: AgentConfig, where: (key: keyof AgentConfig) => string = (k) => `-${k}`): AgentConfig {
  if (c.nodeName.trim() === '') bad(where('nodeName'), 'node name must not be empty');
  if (!['lan', 'wan', 'local'].includes(c.profile)) bad(where('profile'), `unknown profile ${JSON.stringify(c.profile)} (lan, wan or local)`);
  if (!Number.isInteger(c.protocol) || c.protocol < 2 || c.protocol > 5) bad(where('protocol'), `protocol version must be 2..5, got ${c.protocol}`);
  if (c.mode !== 'edge' && c.mode !== 'full') bad(where('mode'), `mode must be edge or full, got ${JSON.stringify(c.mode)}`);
  if (c.discover !== '' && !/^[A-Za-z0-9-]{1,40}$/.test(c.discover)) bad(where('discover'), `cluster name must be 1-40 letters, digits or '-', got ${JSON.stringify(c.discover)}`);
  if (c.encryptKey !== '') checkKey(c.encryptKey, where('encryptKey'));
  if (c.memoryBudget !== null && (!Number.isFinite(c.memoryBudget) || c.memoryBudget < MIN_MEMORY_BUDGET)) {
    bad(where('memoryBudget'), 'memory budget must be at least 48MB');
  }
  return c;
}

export function checkKey(b64: string, where: string): Uint8Array {
  const raw = Buffer.from(b64, 'base64');
  if (raw.toString('base64') !== b64.trim() || ![16, 24, 32].includes(raw.length)) {
    bad(where, 'key must be base64 of 16, 24 or 32 bytes');
  }
  return new Uint8Array(raw);
}

/** "64MB", "64M", "64MiB", "1G", "67108864" -> bytes. */
export function parseSize(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(s);
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase()[0]!;
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Math.floor(Number(m[1]) * mult);
}

/** `name=value` limit override (name camelCase or kebab-case). */
export function parseLimitOverride(s: string, where: string): [LimitName, number] {
  const i = s.indexOf('=');
  if (i <= 0) bad(where, `expected name=value, got ${JSON.stringify(s)}`);
  const name = limitName(s.slice(0, i));
  if (!name) bad(where, `unknown limit ${JSON.stringify(s.slice(0, i))}`);
  const v = s.slice(i + 1).trim();
  const n = /^\d+$/.test(v) ? Number(v) : parseSize(v);
  if (n === undefined || !Number.isSafeInteger(n) || n <= 0) bad(where, `limit ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return [name, n];
}

/** Approximate bytes per known member (memberlist + serf state, tags, coordinate, snapshot entry, broadcast share). */
const BYTES_PER_MEMBER = 8192;
/** Node runtime + code + fixed buffers (measured RSS of an idle agent is ~40 MiB), not available to tables. */
const BASE_BYTES = 40 * 1024 * 1024;
/** Smallest budget accepted: the runtime plus room for a small cluster. */
export const MIN_MEMORY_BUDGET = 48 * 1024 * 1024;

/**
 * Effective limits: the mode's defaults, scaled down to the memory budget
 * (a quarter of what remains after the runtime goes to member-bound tables),
 * then explicit overrides, which always win: config files, then `remote`
 * (the data dir's limits.json, set by `config set limit.*`), then -limit flags.
 */
export function effectiveLimits(c: AgentConfig, remote: Partial<Limits> = {}): Limits {
  const l = defaultLimits(c.mode);
  if (c.memoryBudget !== null) {
    // A quarter of what the runtime leaves goes to member-bound tables; the
    // rest absorbs transient buffers (push/pull, RPC, handler output) and GC headroom.
    const tableBytes = Math.max(0, c.memoryBudget - BASE_BYTES) / 4;
    const members = Math.max(64, Math.floor(tableBytes / BYTES_PER_MEMBER));
    l.maxMembers = Math.min(l.maxMembers, members);
    l.coordinateCache = Math.min(l.coordinateCache, members);
    l.snapshotPeers = Math.min(l.snapshotPeers, members);
    l.maxPushPullNodes = Math.min(l.maxPushPullNodes, members * 4);
    // Only an encrypted state is held whole (plain and compressed ones stream through).
    l.maxHeldStreamBytes = Math.min(l.maxHeldStreamBytes, Math.max(256 * 1024, Math.floor(tableBytes / 4)));
  }
  Object.assign(l, c.limitOverrides, remote, c.limitFlags);
  return l;
}

export function parseLevel(s: string, where: string): LogLevel {
  const l = parseLogLevel(s);
  if (!l) bad(where, `unknown log level ${JSON.stringify(s)} (trace, debug, info, warn, err)`);
  return l;
}
