// Configuration of one memberlist node. Everything the node depends on
// (transport, clock, logger, counters, limits, delegates) is passed in, so
// several nodes can run in one process.

import type { Limits } from '../../config/limits.ts';
import type { Counters } from '../../obs/counters.ts';
import type { Logger } from '../../obs/log.ts';
import type { GossipProfile } from '../profiles.ts';
import type { Transport } from '../transport/types.ts';
import type { Keyring } from '../wire/keyring.ts';
import type { Clock } from '../clock.ts';
import type {
  ConflictDelegate, EventDelegate, MemberlistDelegate, MergeDelegate, PingDelegate, RetentionDelegate,
} from './types.ts';

/**
 * memberlist protocol versions we speak: min 1, max 5, current 2. serf pins
 * memberlist to protocol 2 whatever its own protocol (SERF-PROTOCOL.md §2.10),
 * and peers key features on our PMax (5: CRC, 4: nack, 3: TCP fallback ping).
 */
export const PROTOCOL_MIN = 1;
export const PROTOCOL_MAX = 5;
export const PROTOCOL_CUR = 2;

/** memberlist UDPBufferSize: the packet budget we fill with piggybacked gossip. */
export const UDP_BUFFER_SIZE = 1400;

/** memberlist maxPushPullRequests: concurrent inbound push/pulls served. */
export const MAX_PUSH_PULL_REQUESTS = 128;

/** memberlist pushPullScaleThreshold: above this many nodes the push/pull interval grows. */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

export interface DelegateVersions { min: number; max: number; cur: number }

export interface MemberlistConfig {
  name: string;
  transport: Transport;
  /** Address/port announced to peers; defaults to the transport's local address. */
  advertiseAddr?: string;
  advertisePort?: number;
  profile: GossipProfile;
  keyring?: Keyring | null;
  /** LZW compression of packets and streams (serf default: on). */
  compression: boolean;
  /** Delegate (serf) protocol: dmin 2, dmax 5, dcur = serf protocol (Cloudy: 4). */
  delegateVersions: DelegateVersions;
  limits: Limits;
  counters: Counters;
  logger: Logger;
  clock?: Clock;
  delegate?: MemberlistDelegate;
  events?: EventDelegate;
  ping?: PingDelegate;
  conflict?: ConflictDelegate;
  merge?: MergeDelegate;
  retention?: RetentionDelegate;
  /** Resolves a host name to IP strings for join (default: only IP literals). */
  resolve?: (host: string) => Promise<string[]>;
  /** Called at burst hot paths (push/pull windows, gossip batches): see system/heap-pacer.ts. */
  pace?: () => void;
}
