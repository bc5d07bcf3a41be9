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
//
// Pure except for `loadIdentity` (passed in) writing the HostID file.
import { join } from 'node:path';
import type { AgentConfig } from './agent-config.ts';
import type { NetFacts } from '../system/net-info.ts';
import { chooseCommunityIp, type NodeIdentity } from '../state/identity.ts';
import { parseHostPort } from '../rpc/address.ts';
import { isAgentError } from '../errors.ts';

export interface HostFacts {
  net: NetFacts;
  isRoot: boolean;
  home: string;
}

export type IdentityLoader = (stateDir: string, p: { hostname: string; ip: string; port: number }) => Promise<NodeIdentity>;

export const ROOT_DATA_DIR = '/var/lib/cloudy-agent';
export const SNAPSHOT_FILE = 'serf.snapshot';

export function defaultDataDir(f: Pick<HostFacts, 'isRoot' | 'home'>): string {
  return f.isRoot ? ROOT_DATA_DIR : join(f.home, '.local', 'state', 'cloudy-agent');
}

const WILDCARD_V4 = new Set(['0.0.0.0', '']);

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

export async function applyHostDefaults(cfg: AgentConfig, facts: HostFacts, loadIdentity: IdentityLoader): Promise<AgentConfig> {
  const out: AgentConfig = { ...cfg };
  if (out.dataDir === '' && out.autoNodeName) out.dataDir = defaultDataDir(facts);
  if (out.snapshotPath === '' && out.dataDir !== '') out.snapshotPath = join(out.dataDir, SNAPSHOT_FILE);
  const bind = parseHostPort(out.bind, 5000, '-bind');
  const ip = communityIpOf(out, facts.net);
  if (ip !== null && out.advertise === '' && WILDCARD_V4.has(bind.host)) out.advertise = `${ip}:${bind.port}`;
  if (out.autoNodeName) {
    const port = out.advertise !== '' ? parseHostPort(out.advertise, bind.port, '-advertise').port : bind.port;
    out.nodeName = ip === null || out.dataDir === ''
      ? facts.net.hostname
      : (await loadIdentity(out.dataDir, { hostname: facts.net.hostname, ip, port })).nodeName;
  }
  return out;
}
