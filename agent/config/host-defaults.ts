// The agent's embedded defaults that depend on the host: a Cloudy device is
// flashed, plugged in and must come up headless with nothing configured.
//
//   data dir      /var/lib/cloudy-agent (root) or ~/.local/state/cloudy-agent,
//                 only when the node name is automatic (an explicit -node without
//                 -data-dir persists nothing beyond -snapshot)
//   snapshot      <data dir>/serf.snapshot, so a power cut is survived by default
//   advertise     with a wildcard IPv4 bind, the community IPv4 chosen as Cloudy
//                 does (-interface, else default-route interface, else first 10/8)
//   node name     Cloudy's <md5 HostID>-<ns>-<short hostname>-<ip>:<port>, HostID
//                 generated once and kept in the data dir
//   host          hostname, community IPv4 and gossip port, decided here once
//                 (decideHost) for every plug-in
//
// Community IPv4: `-advertise` wins; else a specific -bind address; else the
// configured interface (Cloudy's SERF_INTERFACE / PRIMARYINTERFACE); else the
// interface of the default route; else the first 10.0.0.0/8 address
// (cloudynitzar's rule). Cloudy refuses loopback addresses unless told explicitly.
//
// Pure except for `loadIdentity` (passed in) writing the HostID file.
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import type { AgentConfig, HostInfo } from './agent-config.ts';
import type { NetFacts } from '../system/net-info.ts';
import type { IdentityNote, NodeIdentity } from '../state/identity.ts';
import { parseHostPort } from './address.ts';
import { AgentError, isAgentError } from '../errors.ts';

export interface HostFacts {
  net: NetFacts;
  isRoot: boolean;
  home: string;
}

export type IdentityLoader = (stateDir: string, p: { hostname: string; ip: string; port: number; snapshotPath?: string }) => Promise<NodeIdentity>;

export const ROOT_DATA_DIR = '/var/lib/cloudy-agent';
export const SNAPSHOT_FILE = 'serf.snapshot';

export function defaultDataDir(f: Pick<HostFacts, 'isRoot' | 'home'>): string {
  return f.isRoot ? ROOT_DATA_DIR : join(f.home, '.local', 'state', 'cloudy-agent');
}

const WILDCARD_V4 = new Set(['0.0.0.0', '']);

export interface CommunityIpOptions {
  /** `-advertise` address (IP only); used as is. */
  advertise?: string;
  /** Interface named in config (SERF_INTERFACE / PRIMARYINTERFACE). */
  interface?: string;
}

export interface CommunityIpChoice { ip: string; source: 'advertise' | 'interface' | 'default-route' | '10/8' }

const isLoopback = (ip: string): boolean => ip.startsWith('127.');

/** Cloudy's interface rule. Throws E_CONFIG (named interface missing/without IPv4) or E_UNAVAILABLE (nothing usable). */
export function chooseCommunityIp(facts: NetFacts, opts: CommunityIpOptions = {}): CommunityIpChoice {
  if (opts.advertise) {
    if (!isIPv4(opts.advertise)) throw new AgentError('E_CONFIG', `advertise address ${opts.advertise} is not IPv4`);
    return { ip: opts.advertise, source: 'advertise' };
  }
  const byName = new Map(facts.interfaces.map((i) => [i.name, i.ipv4.filter((a) => !isLoopback(a))]));
  if (opts.interface) {
    const addrs = byName.get(opts.interface);
    if (!addrs) throw new AgentError('E_CONFIG', `interface ${opts.interface} does not exist`);
    if (!addrs[0]) throw new AgentError('E_CONFIG', `interface ${opts.interface} has no IPv4 address`);
    return { ip: addrs[0], source: 'interface' };
  }
  if (facts.defaultRouteInterface) {
    const a = byName.get(facts.defaultRouteInterface)?.[0];
    if (a) return { ip: a, source: 'default-route' };
  }
  for (const i of facts.interfaces) {
    const a = i.ipv4.find((x) => x.startsWith('10.'));
    if (a) return { ip: a, source: '10/8' };
  }
  throw new AgentError('E_UNAVAILABLE', 'no community IPv4 found (no default route, no 10.0.0.0/8 address); set -advertise or an interface');
}

/**
 * The community IPv4 of this node: the -advertise host, else a specific -bind
 * host, else Cloudy's interface rule. Null when none can be found (the gossip
 * layer then picks an address itself). Throws E_CONFIG for a named interface
 * that is missing or has no IPv4.
 */
export function communityIpOf(cfg: AgentConfig, net: NetFacts): string | null {
  const bind = parseHostPort(cfg.bind, 5000, '-bind');
  if (cfg.advertise !== '') {
    const adv = parseHostPort(cfg.advertise, bind.port, '-advertise');
    if (!WILDCARD_V4.has(adv.host) && adv.host !== '::') return adv.host;
  }
  if (!WILDCARD_V4.has(bind.host) && bind.host !== '::') return bind.host;
  try {
    return chooseCommunityIp(net, cfg.communityInterface !== '' ? { interface: cfg.communityInterface } : {}).ip;
  } catch (e) {
    if (isAgentError(e, 'E_UNAVAILABLE')) return null;
    throw e;
  }
}

/** The host facts every plug-in reads: decided once, from the config and one read of the interfaces. */
export function decideHost(cfg: AgentConfig, net: NetFacts): HostInfo {
  const bind = parseHostPort(cfg.bind, 5000, '-bind');
  const port = cfg.advertise !== '' ? parseHostPort(cfg.advertise, bind.port, '-advertise').port : bind.port;
  return { hostname: net.hostname, communityIp: communityIpOf(cfg, net), gossipPort: port };
}

export async function applyHostDefaults(cfg: AgentConfig, facts: HostFacts, loadIdentity: IdentityLoader): Promise<AgentConfig> {
  const out: AgentConfig = { ...cfg };
  if (out.dataDir === '' && out.autoNodeName) out.dataDir = defaultDataDir(facts);
  if (out.snapshotPath === '' && out.dataDir !== '') out.snapshotPath = join(out.dataDir, SNAPSHOT_FILE);
  const bind = parseHostPort(out.bind, 5000, '-bind');
  const ip = communityIpOf(out, facts.net);
  if (ip !== null && out.advertise === '' && WILDCARD_V4.has(bind.host)) out.advertise = `${ip}:${bind.port}`;
  let notes: IdentityNote[] = [];
  if (out.autoNodeName) {
    const port = out.advertise !== '' ? parseHostPort(out.advertise, bind.port, '-advertise').port : bind.port;
    if (ip === null || out.dataDir === '') out.nodeName = facts.net.hostname;
    else {
      const id = await loadIdentity(out.dataDir, { hostname: facts.net.hostname, ip, port, ...(out.snapshotPath ? { snapshotPath: out.snapshotPath } : {}) });
      out.nodeName = id.nodeName;
      notes = id.notes ?? [];
    }
  }
  out.host = { ...decideHost(out, facts.net), ...(notes.length ? { identityNotes: notes } : {}) };
  return out;
}
