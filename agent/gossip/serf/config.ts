// Configuration of one serf node (serf config.go): the options with serf's
// defaults, and the collaborators passed in (clock, logger, counters, limits,
// keyring, snapshotter), so several nodes can run in one process.

import type { Limits } from '../../config/limits.ts';
import type { Counters } from '../../obs/counters.ts';
import type { Logger } from '../../obs/log.ts';
import type { Snapshotter } from '../../state/snapshot.ts';
import type { Keyring } from '../wire/keyring.ts';
import type { Clock } from '../clock.ts';
import type { CoalesceTiming } from './coalesce.ts';

/** Serf (delegate) protocol versions we understand (serf ProtocolVersionMin/Max, §3.14). */
export const SERF_PROTOCOL_MIN = 2;
export const SERF_PROTOCOL_MAX = 5;
/** Hard cap of UserEventSizeLimit in serf. */
export const USER_EVENT_SIZE_LIMIT_MAX = 9 * 1024;

export interface SerfOptions {
  /** Our member name, unique in the cluster (a duplicate triggers conflict resolution). */
  nodeName: string;
  /** Serf (delegate) protocol we speak, 2..5. Cloudy: 4 (queries need 4; tags in meta need 3). */
  protocolVersion: number;
  /** Our tags, carried in memberlist's node meta (at most META_MAX_SIZE bytes encoded). */
  tags: Record<string, string>;
  /** memberlist GossipInterval of the profile (query timeout scale). */
  gossipIntervalMs: number;
  /** memberlist RetransmitMult of the profile (serf queues use it too). */
  retransmitMult: number;
  /** Default query timeout = GossipInterval x this x ceil(log10(N+1)) (serf QueryTimeoutMult). */
  queryTimeoutMult: number;
  /** How often failed and left members are checked for reaping (serf ReapInterval). */
  reapIntervalMs: number;
  /** How often a random failed member is retried (serf ReconnectInterval). */
  reconnectIntervalMs: number;
  /** A failed member is reaped (forgotten) after this long (serf ReconnectTimeout, 24 h). */
  reconnectTimeoutMs: number;
  /** A left member is kept this long so its leave is not undone by old gossip (serf TombstoneTimeout, 24 h). */
  tombstoneTimeoutMs: number;
  /** Intents for members we do not know yet are kept this long (serf RecentIntentTimeout). */
  recentIntentTimeoutMs: number;
  /** How long leave and tag updates wait for their broadcast to go out (serf BroadcastTimeout). */
  broadcastTimeoutMs: number;
  /** Extra wait after a leave so the intent spreads before we stop answering (serf LeavePropagateDelay). */
  leavePropagateDelayMs: number;
  /** Largest user event (name + payload, then encoded) we send (serf UserEventSizeLimit, <= 9 KiB). */
  userEventSizeLimit: number;
  /** Largest encoded query we send (serf QuerySizeLimit). */
  querySizeLimit: number;
  /** Largest encoded query response we send (serf QueryResponseSizeLimit). */
  queryResponseSizeLimit: number;
  /** Member events coalescing (serf CoalescePeriod / QuiescentPeriod); null or period 0 = none. */
  memberCoalesce: CoalesceTiming | null;
  /** User events with the coalesce flag (serf UserCoalescePeriod / UserQuiescentPeriod); null = none. */
  userCoalesce: CoalesceTiming | null;
  /** On a name conflict about us, ask the cluster and shut down if we are the minority (serf default on). */
  enableNameConflictResolution: boolean;
  /** No Vivaldi coordinates: empty ack payloads, nothing learnt from pings. */
  disableCoordinates: boolean;
  /** -join seeds (ip:port), kept preferentially in memory-bounded mode. */
  seeds: string[];
}

/** serf DefaultConfig() values (LAN profile timings; create.ts fills the profile's). */
export function defaultSerfOptions(nodeName: string, over: Partial<SerfOptions> = {}): SerfOptions {
  return {
    nodeName,
    protocolVersion: SERF_PROTOCOL_MAX,
    tags: {},
    gossipIntervalMs: 200,
    retransmitMult: 4,
    queryTimeoutMult: 16,
    reapIntervalMs: 15_000,
    reconnectIntervalMs: 30_000,
    reconnectTimeoutMs: 24 * 3600_000,
    tombstoneTimeoutMs: 24 * 3600_000,
    recentIntentTimeoutMs: 5 * 60_000,
    broadcastTimeoutMs: 5000,
    leavePropagateDelayMs: 1000,
    userEventSizeLimit: 512,
    querySizeLimit: 1024,
    queryResponseSizeLimit: 1024,
    memberCoalesce: { periodMs: 3000, quiescentMs: 1000 },
    userCoalesce: { periodMs: 3000, quiescentMs: 1000 },
    enableNameConflictResolution: true,
    disableCoordinates: false,
    seeds: [],
    ...over,
  };
}

/** What a serf node is given rather than creates. */
export interface SerfDeps {
  clock: Clock;
  logger: Logger;
  counters: Counters;
  /** Every bound the node applies (member table, buffers, queues, pending queries). */
  limits: Limits;
  /** The keyring memberlist encrypts with (null = no encryption). */
  keyring: Keyring | null;
  /** Called after a key query changed the keyring (persist the keyring file). */
  onKeyringChange?: (keyring: Keyring) => void | Promise<void>;
  /** Persists clocks and peers for a restart (serf's snapshot file). */
  snapshotter?: Snapshotter | null;
  /** Random source (reconnect choice, query ids, relays, Vivaldi); Math.random by default. */
  random?: () => number;
}
