// memberlist timing profiles, with the exact values of memberlist 0.2.2
// DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig (SERF-PROTOCOL.md
// §2.13). A node's probe/suspicion timings must match its peers' expectations:
// a serf agent started with `-profile=wan` uses the WAN row. Cloudy's default is
// wan (community networks: lossy radio links, high latency).

import type { ProfileName } from '../config/agent-config.ts';

export type { ProfileName };

export interface GossipProfile {
  name: ProfileName;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  indirectChecks: number;
  suspicionMult: number;
  suspicionMaxTimeoutMult: number;
  retransmitMult: number;
  gossipIntervalMs: number;
  gossipNodes: number;
  gossipToTheDeadMs: number;
  pushPullIntervalMs: number;
  tcpTimeoutMs: number;
  awarenessMaxMultiplier: number;
  /** 0 = a dead node's name is never reclaimed by another address. */
  deadNodeReclaimTimeMs: number;
  disableTcpPings: boolean;
}

const LAN: GossipProfile = Object.freeze({
  name: 'lan',
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  pushPullIntervalMs: 30_000,
  tcpTimeoutMs: 10_000,
  awarenessMaxMultiplier: 8,
  deadNodeReclaimTimeMs: 0,
  disableTcpPings: false,
}) as GossipProfile;

const WAN: GossipProfile = Object.freeze({
  ...LAN,
  name: 'wan',
  probeIntervalMs: 5000,
  probeTimeoutMs: 3000,
  suspicionMult: 6,
  gossipIntervalMs: 500,
  gossipNodes: 4,
  gossipToTheDeadMs: 60_000,
  pushPullIntervalMs: 60_000,
  tcpTimeoutMs: 30_000,
}) as GossipProfile;

const LOCAL: GossipProfile = Object.freeze({
  ...LAN,
  name: 'local',
  probeIntervalMs: 1000,
  probeTimeoutMs: 200,
  indirectChecks: 1,
  suspicionMult: 3,
  retransmitMult: 2,
  gossipIntervalMs: 100,
  gossipToTheDeadMs: 15_000,
  pushPullIntervalMs: 15_000,
  tcpTimeoutMs: 1000,
}) as GossipProfile;

export const PROFILES: Readonly<Record<ProfileName, GossipProfile>> = Object.freeze({ lan: LAN, wan: WAN, local: LOCAL });

export const DEFAULT_PROFILE: ProfileName = 'wan';

/** A mutable copy of a profile (tests may shorten intervals). */
export function profile(name: ProfileName = DEFAULT_PROFILE, overrides: Partial<GossipProfile> = {}): GossipProfile {
  return { ...PROFILES[name], ...overrides };
}
