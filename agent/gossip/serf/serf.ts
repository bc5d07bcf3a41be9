// The serf layer (SERF-PROTOCOL.md §3): membership with intents and Lamport
// clocks on top of memberlist, tags, user events, queries (incl. internal and
// key-management queries), push/pull user state, reaping/reconnect, network
// coordinates. Byte-compatible with hashicorp/serf 0.9.4.
//
// Construction is two-phase because memberlist needs serf as its delegates:
//   const serf = new SerfNode(opts, deps); const ml = createMemberlist(..., serf.delegates());
//   await serf.start(ml)
// (create.ts does this in one call).
import type {
  Coordinate, IncomingQuery, KeyManager, KeyResponse, Member, MemberEvent, MemberEventType, MemberStatus,
  QueryHandle, QueryHandlers, QueryParams, Serf, SerfEvent, SerfState,
} from './types.ts';
import type {
  ConflictDelegate, EventDelegate, MemberNode, Memberlist, MemberlistDelegate, MergeDelegate, PingDelegate,
  RemoteStateReader, RetentionDelegate,
} from '../memberlist/types.ts';
import type { Logger } from '../../obs/log.ts';
import type { Counters } from '../../obs/counters.ts';
import type { Limits } from '../../config/limits.ts';
import type { Keyring } from '../wire/keyring.ts';
import type { SerfClock, TimerHandle } from './clock.ts';
import type { Snapshotter } from '../../state/snapshot.ts';
import { AgentError, errorMessage } from '../../errors.ts';
import { TransmitLimitedQueue } from '../broadcast-queue.ts';
import { ipToBytes, bytesToIp } from '../wire/memberlist-messages.ts';
import {
  type SerfMessage, encodeSerfMessage, decodeSerfMessage, QUERY_FLAG_ACK, QUERY_FLAG_NO_BROADCAST,
  encodeNodeFilter, encodeTagFilter, decodeFilter, encodeTags, decodeTags, encodeConflictMember, decodeConflictMember,
  encodeCoordinatePayload, decodeCoordinatePayload, MemberStatusCode,
  INTERNAL_QUERY_PREFIX, QUERY_PING as Q_PING, QUERY_CONFLICT as Q_CONFLICT, QUERY_INSTALL_KEY as Q_INSTALL_KEY,
  QUERY_USE_KEY as Q_USE_KEY, QUERY_REMOVE_KEY as Q_REMOVE_KEY, QUERY_LIST_KEYS as Q_LIST_KEYS, META_MAX_SIZE,
  SerfMessageType, decodeUserEventsSlot, type SerfUserEvents,
} from '../wire/serf-messages.ts';
import { asStr, asUint } from '../wire/msgpack.ts';
import { ByteCursor } from '../wire/byte-cursor.ts';
import { UserStateReader } from '../memberlist/push-pull.ts';
import { LamportClock } from './lamport.ts';
import { EventBuffer, QueryBuffer, tooOld } from './event-buffer.ts';
import { RecentIntents } from './intents.ts';
import { MemberTable, type MemberState, copyMember } from './member-table.ts';
import { EventCoalescing, type CoalesceTiming } from './coalesce.ts';
import { filtersMatch, type QueryFilter } from './filters.ts';
import { VivaldiClient } from '../coordinate/vivaldi.ts';
import { CoordinateCache } from '../coordinate/cache.ts';
import { answerKeyQuery, runKeyQuery } from './key-queries.ts';
import { QueryCollector } from './query-collector.ts';

// ---------------------------------------------------------------------------
// Protocol constants (must match serf 0.9.4, §3.14)

export const SERF_PROTOCOL_MIN = 2;
export const SERF_PROTOCOL_MAX = 5;
/** Hard cap of UserEventSizeLimit in serf. */
export const USER_EVENT_SIZE_LIMIT_MAX = 9 * 1024;
/** Queries need serf protocol >= 4 on the sender. */
const QUERY_MIN_PROTOCOL = 4;
/** serf QueueDepthWarning: queues deeper than this are logged at each check. */
const QUEUE_DEPTH_WARNING = 128;
/** Status times of a streamed push/pull handled between two yields to the event loop. */
const STREAM_MERGE_YIELD_EVERY = 2048;
/** Relays go only to members whose memberlist PMax >= 5 (they understand type 9). */
const RELAY_MIN_PMAX = 5;
export { INTERNAL_QUERY_PREFIX, Q_PING, Q_CONFLICT, Q_INSTALL_KEY, Q_USE_KEY, Q_REMOVE_KEY, Q_LIST_KEYS };

/**
 * Node meta for our tags: protocol >= 3 is 0xFF + msgpack map; protocol 2 only
 * carries the raw value of tag `role` (§3.3).
 */
export function encodeMeta(tags: Record<string, string>, protocolVersion: number): Uint8Array {
  if (protocolVersion < 3) return new TextEncoder().encode(tags['role'] ?? '');
  return encodeTags(tags);
}

export interface SerfOptions {
  nodeName: string;
  /** Serf (delegate) protocol we speak, 2..5. Cloudy: 4. */
  protocolVersion: number;
  tags: Record<string, string>;
  /** memberlist GossipInterval of the profile (query timeout scale). */
  gossipIntervalMs: number;
  /** memberlist RetransmitMult of the profile (serf queues use it too). */
  retransmitMult: number;
  queryTimeoutMult: number;
  reapIntervalMs: number;
  reconnectIntervalMs: number;
  reconnectTimeoutMs: number;
  tombstoneTimeoutMs: number;
  recentIntentTimeoutMs: number;
  broadcastTimeoutMs: number;
  leavePropagateDelayMs: number;
  userEventSizeLimit: number;
  querySizeLimit: number;
  queryResponseSizeLimit: number;
  /** null/0 period = no coalescing. */
  memberCoalesce: CoalesceTiming | null;
  userCoalesce: CoalesceTiming | null;
  enableNameConflictResolution: boolean;
  disableCoordinates: boolean;
  /** -join seeds (ip:port), kept preferentially in memory-bounded mode. */
  seeds: string[];
}

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

export interface SerfDeps {
  clock: SerfClock;
  logger: Logger;
  counters: Counters;
  limits: Limits;
  /** The keyring memberlist encrypts with (null = no encryption). */
  keyring: Keyring | null;
  /** Called after a key query changed the keyring (persist the keyring file). */
  onKeyringChange?: (keyring: Keyring) => void | Promise<void>;
  snapshotter?: Snapshotter | null;
  random?: () => number;
}


export class SerfNode implements Serf {
  private ml: Memberlist | null = null;
  private serfState: SerfState = 'alive';
  private readonly opts: SerfOptions;
  private readonly log: Logger;
  private readonly random: () => number;

  readonly clock = new LamportClock();
  readonly eventClock = new LamportClock();
  readonly queryClock = new LamportClock();
  private eventMinTime = 0;
  private queryMinTime = 0;
  /** >0 while a join with ignoreOld is in progress (push/pull merges raise eventMinTime). */
  private eventJoinIgnore = 0;

  private readonly table: MemberTable;
  private readonly intents: RecentIntents;
  private readonly eventBuffer: EventBuffer;
  private readonly queryBuffer: QueryBuffer;
  private readonly intentQueue: TransmitLimitedQueue;
  private readonly eventQueue: TransmitLimitedQueue;
  private readonly queryQueue: TransmitLimitedQueue;
  private readonly collector: QueryCollector;
  private inboundPending = 0;

  private tags: Record<string, string>;
  private readonly listeners = new Set<(e: SerfEvent) => void>();
  private readonly coalescing: EventCoalescing;
  private readonly timers: TimerHandle[] = [];

  private readonly vivaldi: VivaldiClient | null;
  private readonly coordCache: CoordinateCache;
  private readonly seedSet: Set<string>;
  private conflictQueryRunning = false;

  constructor(opts: SerfOptions, private readonly deps: SerfDeps) {
    if (opts.protocolVersion < SERF_PROTOCOL_MIN || opts.protocolVersion > SERF_PROTOCOL_MAX) {
      throw new AgentError('E_CONFIG', `serf protocol version ${opts.protocolVersion} not in ${SERF_PROTOCOL_MIN}..${SERF_PROTOCOL_MAX}`);
    }
    if (opts.userEventSizeLimit > USER_EVENT_SIZE_LIMIT_MAX) {
      throw new AgentError('E_CONFIG', `user event size limit exceeds the maximum of ${USER_EVENT_SIZE_LIMIT_MAX} bytes`);
    }
    this.opts = opts;
    this.log = deps.logger.child('serf');
    this.random = deps.random ?? Math.random;
    const { limits, counters } = deps;
    this.table = new MemberTable(limits.maxMembers, (name) => {
      counters.inc('evict.serf_members');
      this.coordCache.delete(name);
    });
    this.collector = new QueryCollector({
      clock: deps.clock, counters, logger: this.log, maxPending: limits.pendingQueries, maxResponsesPerQuery: limits.queryResponsesPerQuery,
    });
    this.intents = new RecentIntents(limits.recentIntents, () => counters.inc('evict.recent_intents'));
    this.eventBuffer = new EventBuffer(limits.eventBuffer, limits.entriesPerLTime, () => deps.counters.inc('drop.serf_event_slot_full'));
    this.queryBuffer = new QueryBuffer(limits.queryBuffer, limits.entriesPerLTime, () => deps.counters.inc('drop.serf_query_slot_full'));
    // The cluster's size, not the members we keep: an edge node keeping 512 of
    // 10,000 must retransmit as often as memberlist's own queue does.
    const numNodes = (): number => Math.max(this.table.size, this.ml?.estimateNumNodes() ?? 0);
    const q = (name: string): TransmitLimitedQueue => new TransmitLimitedQueue({
      name, numNodes, retransmitMult: opts.retransmitMult, maxDepth: limits.broadcastQueueDepth, counters,
      onQueued: () => this.ml?.wakeGossip(),
    });
    this.intentQueue = q('serf_intents');
    this.eventQueue = q('serf_events');
    this.queryQueue = q('serf_queries');
    this.tags = { ...opts.tags };
    this.checkTags(this.tags);
    this.coalescing = new EventCoalescing(deps.clock, opts.memberCoalesce, opts.userCoalesce, (e) => this.deliver(e), limits.maxMembers);
    this.vivaldi = opts.disableCoordinates ? null
      : new VivaldiClient(undefined, limits.coordinateCache, this.random, () => counters.inc('evict.coordinate_filters'));
    this.coordCache = new CoordinateCache(limits.coordinateCache, () => counters.inc('evict.coordinates'));
    this.seedSet = new Set(opts.seeds);
    // Each clock starts at 1 (serf increments once at creation: a fresh node's first join has LTime 1).
    this.clock.increment();
    this.eventClock.increment();
    this.queryClock.increment();
  }

  // -------------------------------------------------------------------------
  // Wiring

  /** The memberlist delegates, to pass when constructing the memberlist. */
  delegates(): {
    delegate: MemberlistDelegate; events: EventDelegate; ping: PingDelegate; conflict: ConflictDelegate;
    merge: MergeDelegate; retention: RetentionDelegate;
  } {
    return {
      delegate: {
        nodeMeta: (limit) => this.nodeMeta(limit),
        notifyMsg: (msg) => this.safe('notifyMsg', () => this.notifyMsg(msg)),
        getBroadcasts: (overhead, limit) => this.getBroadcasts(overhead, limit),
        pendingBroadcasts: () => this.intentQueue.numQueued() + this.queryQueue.numQueued() + this.eventQueue.numQueued(),
        localState: (join) => this.localState(join),
        mergeRemoteState: (buf, join) => {
          this.mergeRemoteState(buf, join).catch((e: unknown) => {
            this.deps.counters.inc('serf.delegate_errors');
            this.log.warn(`mergeRemoteState: ${errorMessage(e)}`);
          });
        },
        mergeRemoteStateStream: (r, join) => this.mergeRemoteStateStream(r, join),
      },
      events: {
        notifyJoin: (n) => this.safe('notifyJoin', () => this.handleNodeJoin(n)),
        notifyLeave: (n) => this.safe('notifyLeave', () => this.handleNodeLeave(n)),
        notifyUpdate: (n) => this.safe('notifyUpdate', () => this.handleNodeUpdate(n)),
        notifyEvict: (n) => this.safe('notifyEvict', () => this.handleNodeEvict(n)),
      },
      ping: {
        ackPayload: () => this.ackPayload(),
        notifyPingComplete: (n, rtt, payload) => this.safe('ping', () => this.notifyPingComplete(n, rtt, payload)),
      },
      conflict: { notifyConflict: (a, b) => this.safe('conflict', () => this.notifyConflict(a, b)) },
      merge: { notifyMerge: (nodes) => this.notifyMerge(nodes) },
      retention: { retainPriority: (n) => this.retainPriority(n) },
    };
  }

  private safe(what: string, fn: () => void): void {
    try { fn(); } catch (e) {
      this.deps.counters.inc('serf.delegate_errors');
      this.log.warn(`${what}: ${errorMessage(e)}`);
    }
  }

  /** Attaches the memberlist and starts the periodic tasks (reaper, reconnect, snapshot clocks). */
  start(ml: Memberlist): void {
    this.ml = ml;
    const self = ml.localNode();
    if (!this.table.has(self.name)) this.handleNodeJoin(self);
    this.timers.push(this.deps.clock.every(this.opts.reapIntervalMs, () => this.reap()));
    this.timers.push(this.deps.clock.every(this.opts.reconnectIntervalMs, () => this.reconnect()));
    if (this.deps.snapshotter) this.timers.push(this.deps.clock.every(1000, () => this.snapshotClocks()));
  }

  /** Restores clocks from a snapshot (before joining). */
  restoreClocks(clock: number, eventClock: number, queryClock: number): void {
    if (clock > 0) this.clock.witness(clock);
    // serf.go: what the snapshot last saw was already handled: only newer ones count (min = last + 1).
    if (eventClock > 0) { this.eventClock.witness(eventClock); this.eventMinTime = eventClock + 1; }
    if (queryClock > 0) { this.queryClock.witness(queryClock); this.queryMinTime = queryClock + 1; }
  }

  private memberlist(): Memberlist {
    if (!this.ml) throw new AgentError('E_STATE', 'serf is not started');
    return this.ml;
  }

  // -------------------------------------------------------------------------
  // Events out

  onEvent(listener: (e: SerfEvent) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  private deliver(e: SerfEvent): void {
    for (const l of this.listeners) {
      try { l(e); } catch (err) { this.log.warn(`event listener failed: ${errorMessage(err)}`); }
    }
  }

  private emitMember(type: MemberEventType, m: Member): void {
    const snap = this.deps.snapshotter;
    if (snap) {
      if (type === 'member-join' || type === 'member-update') {
        if (m.status === 'alive') snap.peerAlive(m.name, m.addr, m.port);
      } else if (type === 'member-failed') snap.peerFailed(m.name);
      else if (type === 'member-leave' || type === 'member-reap') snap.peerGone(m.name);
    }
    for (const h of this.memberHooks) {
      try { h(type, m); } catch { /* hooks must not break serf */ }
    }
    const ev: MemberEvent = { type, members: [copyMember(m)] };
    this.coalescing.push(ev);
  }

  private readonly memberHooks = new Set<(type: MemberEventType, m: Member) => void>();
  /** Un-coalesced member changes (rejoiner, discovery); returns the unsubscribe function. */
  onMemberChange(hook: (type: MemberEventType, m: Member) => void): () => void {
    this.memberHooks.add(hook);
    return () => { this.memberHooks.delete(hook); };
  }

  // -------------------------------------------------------------------------
  // Members

  private memberFromNode(n: MemberNode, status: MemberStatus): Member {
    return {
      name: n.name, addr: n.addr, port: n.port, tags: this.decodeMeta(n.meta), status,
      protocolMin: n.pMin, protocolMax: n.pMax, protocolCur: n.pCur,
      delegateMin: n.dMin, delegateMax: n.dMax, delegateCur: n.dCur,
    };
  }

  private decodeMeta(meta: Uint8Array): Record<string, string> {
    try { return decodeTags(meta); } catch {
      this.deps.counters.inc('serf.decode_errors.tags');
      return {};
    }
  }

  private handleNodeJoin(n: MemberNode): void {
    let st = this.table.get(n.name);
    let oldStatus: MemberStatus = 'none';
    if (!st) {
      st = { member: this.memberFromNode(n, 'alive'), statusLTime: 0, leaveTime: 0 };
      const j = this.intents.get(n.name, 'join');
      if (j !== undefined) st.statusLTime = j;
      const l = this.intents.get(n.name, 'leave');
      if (l !== undefined) { st.member.status = 'leaving'; st.statusLTime = l; }
      this.intents.delete(n.name);
      this.table.set(st);
    } else {
      oldStatus = st.member.status;
      const m = this.memberFromNode(n, 'alive');
      st.member = m;
      st.leaveTime = 0;
    }
    if (oldStatus === 'failed' || oldStatus === 'left') this.deps.counters.inc('serf.member_revived');
    this.emitMember('member-join', st.member);
  }

  private handleNodeLeave(n: MemberNode): void {
    const st = this.table.get(n.name);
    if (!st) return;
    const now = this.deps.clock.now();
    switch (st.member.status) {
      case 'leaving':
        st.member.status = 'left';
        st.leaveTime = now;
        this.emitMember('member-leave', st.member);
        return;
      case 'alive':
        st.member.status = 'failed';
        st.leaveTime = now;
        this.emitMember('member-failed', st.member);
        return;
      default:
        return;
    }
  }

  /**
   * Memory-bounded mode: memberlist dropped the node from its full table. It is
   * not known to have failed, so no member event: serf just forgets it locally
   * (the snapshot keeps it as a rejoin candidate). It comes back with its next alive.
   */
  private handleNodeEvict(n: MemberNode): void {
    const st = this.table.get(n.name);
    if (!st || n.name === this.opts.nodeName) return;
    this.table.delete(n.name);
    this.coordCache.delete(n.name);
    this.vivaldi?.forgetNode(n.name);
    this.deps.counters.inc('evict.serf_members_memberlist');
  }

  private handleNodeUpdate(n: MemberNode): void {
    const st = this.table.get(n.name);
    if (!st) return;
    const status = st.member.status;
    st.member = this.memberFromNode(n, status);
    this.emitMember('member-update', st.member);
  }

  localMember(): Member {
    const self = this.table.get(this.opts.nodeName);
    if (self) return copyMember(self.member);
    const n = this.memberlist().localNode();
    return this.memberFromNode(n, 'alive');
  }


  members(): Member[] {
    return [...this.table.values()].map((s) => copyMember(s.member));
  }

  private hasAliveMembers(): boolean {
    for (const s of this.table.values()) {
      if (s.member.name !== this.opts.nodeName && s.member.status === 'alive') return true;
    }
    return false;
  }

  /** Other members currently alive (rejoiner). */
  aliveOthers(): number {
    let n = 0;
    for (const s of this.table.values()) if (s.member.name !== this.opts.nodeName && s.member.status === 'alive') n++;
    return n;
  }

  state(): SerfState { return this.serfState; }

  // -------------------------------------------------------------------------
  // Intents (§3.5)

  private handleNodeLeaveIntent(msg: { ltime: number; node: string; prune: boolean }): boolean {
    this.clock.witness(msg.ltime);
    const st = this.table.get(msg.node);
    if (!st) return this.intents.upsert(msg.node, 'leave', msg.ltime, this.deps.clock.now());
    if (msg.ltime <= st.statusLTime) return false;
    if (msg.node === this.opts.nodeName && this.serfState === 'alive') {
      // Someone says we are leaving while we are not: refute with a newer join intent.
      this.log.debug(`refuting an older leave intent (${msg.ltime})`);
      this.broadcastJoin(this.clock.time());
      return false;
    }
    switch (st.member.status) {
      case 'alive':
        st.member.status = 'leaving';
        st.statusLTime = msg.ltime;
        if (msg.prune) this.handlePrune(st);
        return true;
      case 'failed':
        st.member.status = 'left';
        st.statusLTime = msg.ltime;
        st.leaveTime = this.deps.clock.now();
        this.emitMember('member-leave', st.member);
        if (msg.prune) this.handlePrune(st);
        return true;
      case 'leaving':
      case 'left':
        if (msg.prune) this.handlePrune(st);
        return true;
      default:
        return false;
    }
  }

  private handlePrune(st: MemberState): void {
    const erase = (): void => { if (this.table.get(st.member.name) === st) this.eraseNode(st); };
    if (st.member.status === 'leaving') {
      this.deps.clock.after(this.opts.broadcastTimeoutMs + this.opts.leavePropagateDelayMs, erase);
    } else {
      erase();
    }
  }

  private eraseNode(st: MemberState): void {
    this.table.delete(st.member.name);
    this.coordCache.delete(st.member.name);
    this.vivaldi?.forgetNode(st.member.name);
    this.emitMember('member-reap', st.member);
  }

  private handleNodeJoinIntent(msg: { ltime: number; node: string }): boolean {
    this.clock.witness(msg.ltime);
    const st = this.table.get(msg.node);
    if (!st) return this.intents.upsert(msg.node, 'join', msg.ltime, this.deps.clock.now());
    if (msg.ltime <= st.statusLTime) return false;
    st.statusLTime = msg.ltime;
    if (st.member.status === 'leaving') st.member.status = 'alive';
    return true;
  }

  private broadcastJoin(ltime: number): void {
    const msg = { type: 'join' as const, ltime, node: this.opts.nodeName };
    this.clock.witness(ltime);
    this.handleNodeJoinIntent(msg);
    this.intentQueue.queue({ msg: encodeSerfMessage(msg) });
  }

  /** Queues an intent and resolves once it was transmitted enough, or after the broadcast timeout. */
  private broadcastAndWait(queue: TransmitLimitedQueue, raw: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (): void => { if (!done) { done = true; t.cancel(); resolve(); } };
      const t = this.deps.clock.after(this.opts.broadcastTimeoutMs, () => {
        this.log.warn('timeout while waiting for a broadcast to propagate');
        finish();
      });
      queue.queue({ msg: raw, onDone: finish });
    });
  }

  // -------------------------------------------------------------------------
  // Memberlist delegate

  private nodeMeta(limit: number): Uint8Array {
    const meta = encodeMeta(this.tags, this.opts.protocolVersion);
    if (meta.length > limit) {
      // setTags and the constructor refuse this; never hand memberlist an oversized meta.
      this.log.error(`node meta ${meta.length} bytes exceeds ${limit}`);
      return encodeMeta({}, this.opts.protocolVersion);
    }
    return meta;
  }

  private notifyMsg(buf: Uint8Array): void {
    if (buf.length === 0) { this.deps.counters.inc('serf.decode_errors.empty'); return; }
    let m: SerfMessage;
    try { m = decodeSerfMessage(buf); } catch (e) {
      this.deps.counters.inc('serf.decode_errors.message');
      this.log.debug(`undecodable serf message (type ${buf[0]}): ${errorMessage(e)}`);
      return;
    }
    let rebroadcast: TransmitLimitedQueue | null = null;
    switch (m.type) {
      case 'leave':
        this.log.debug(`leave intent ${m.node} ltime ${m.ltime}`);
        if (this.handleNodeLeaveIntent(m)) rebroadcast = this.intentQueue;
        break;
      case 'join':
        if (this.handleNodeJoinIntent(m)) rebroadcast = this.intentQueue;
        break;
      case 'userEvent':
        if (this.handleUserEvent(m)) rebroadcast = this.eventQueue;
        break;
      case 'query':
        if (this.handleQuery(m)) rebroadcast = this.queryQueue;
        break;
      case 'queryResponse':
        this.handleQueryResponse(m);
        break;
      case 'relay':
        this.handleRelay(m);
        break;
      default:
        this.deps.counters.inc('serf.unexpected_messages');
        return;
    }
    // Rebroadcast the exact received bytes (§3.5: never re-encoded).
    if (rebroadcast) {
      this.deps.counters.inc(`serf.rebroadcast.${m.type}`);
      rebroadcast.queue({ msg: buf.slice() });
    }
  }

  private getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let used = 0;
    for (const q of [this.intentQueue, this.queryQueue, this.eventQueue]) {
      const room = limit - used;
      if (room <= overhead) break;
      for (const m of q.getBroadcasts(overhead, room)) {
        out.push(m);
        used += m.length + overhead;
      }
    }
    return out;
  }

  private localState(_join: boolean): Uint8Array {
    const statusLTimes = new Map<string, number>();
    const leftMembers: string[] = [];
    for (const s of this.table.values()) {
      statusLTimes.set(s.member.name, s.statusLTime);
      if (s.member.status === 'left') leftMembers.push(s.member.name);
    }
    const events = this.eventBuffer.snapshot().map((slot) => slot
      ? { ltime: slot.ltime, events: slot.events.map((e) => ({ name: e.name, payload: e.payload })) }
      : null);
    return encodeSerfMessage({
      type: 'pushPull', ltime: this.clock.time(), statusLTimes, leftMembers,
      eventLTime: this.eventClock.time(), events, queryLTime: this.queryClock.time(),
    });
  }

  /**
   * A whole remote state (memberlist's path for delegates that cannot stream):
   * the same merge, read from memory, so there is one implementation of it.
   */
  private mergeRemoteState(buf: Uint8Array, join: boolean): Promise<void> {
    return this.mergeRemoteStateStream(new UserStateReader(ByteCursor.over(buf, 'remote state'), buf.length, buf.length), join);
  }

  /**
   * The remote push/pull user state read as it streams in (serf delegate.go
   * MergeRemoteState), so a 50,000-member state never becomes a 50,000-key
   * object. Go's encoder writes the keys sorted — EventLTime, Events, LTime,
   * LeftMembers, QueryLTime, StatusLTimes — so the clocks are witnessed and the
   * left members known before the status times arrive: each StatusLTimes entry
   * becomes a leave intent (a left member) or a join intent as it is read.
   * Events are held (at most our event buffer's slots) and handled last, as
   * serf does. Intents for distinct members are independent, so the result is
   * serf's. Left names are remembered for members we know plus at most
   * maxMembers others (beyond: counted, handled as joins, which for a member
   * we do not keep only records a recent intent). A malformed state stops
   * where it breaks (counted): unlike serf, what came before stays merged.
   */
  private async mergeRemoteStateStream(r: RemoteStateReader, join: boolean): Promise<void> {
    const counters = this.deps.counters;
    try {
      if ((await r.byte()) !== SerfMessageType.pushPull) {
        counters.inc('serf.decode_errors.pushpull');
        this.log.warn('remote state is not a push/pull message');
        return;
      }
      const h = await r.containerHeader();
      if (!h || h.kind !== 'map') throw new AgentError('E_DECODE', 'push/pull state is not a map');
      const left = new Set<string>();
      let leftOthers = 0;
      const events: SerfUserEvents[] = [];
      let eventLTime = 0;
      for (let i = 0; i < h.count; i++) {
        const key = asStr(await r.value(), 'messagePushPull key');
        switch (key) {
          case 'LTime': {
            const v = asUint(await r.value(), 'LTime');
            if (v > 0) this.clock.witness(v - 1);
            break;
          }
          case 'EventLTime': {
            eventLTime = asUint(await r.value(), 'EventLTime');
            if (eventLTime > 0) this.eventClock.witness(eventLTime - 1);
            break;
          }
          case 'QueryLTime': {
            const v = asUint(await r.value(), 'QueryLTime');
            if (v > 0) this.queryClock.witness(v - 1);
            break;
          }
          case 'LeftMembers': {
            const a = await r.containerHeader();
            if (a && a.kind !== 'array') throw new AgentError('E_DECODE', 'LeftMembers is not an array');
            await r.forEach(a?.count ?? 0, (v) => {
              const name = asStr(v, 'LeftMembers[]');
              if (this.table.has(name)) left.add(name);
              else if (leftOthers < this.deps.limits.maxMembers) { left.add(name); leftOthers++; }
              else counters.inc('drop.pushpull.left-members');
            });
            break;
          }
          case 'StatusLTimes': {
            const m = await r.containerHeader();
            if (m && m.kind !== 'map') throw new AgentError('E_DECODE', 'StatusLTimes is not a map');
            let name = '';
            await r.forEach(2 * (m?.count ?? 0), (v, j) => {
              if (j % 2 === 0) { name = asStr(v, 'StatusLTimes key'); return undefined; }
              const ltime = asUint(v, `StatusLTimes.${name}`);
              // serf goes one past the status time: the leave was accepted after it (delegate.go).
              if (left.delete(name)) this.handleNodeLeaveIntent({ ltime: ltime + 1, node: name, prune: false });
              else this.handleNodeJoinIntent({ ltime, node: name });
              if ((j + 1) % (2 * STREAM_MERGE_YIELD_EVERY) === 0) return new Promise((res) => setImmediate(res));
              return undefined;
            });
            break;
          }
          case 'Events': {
            const a = await r.containerHeader();
            if (a && a.kind !== 'array') throw new AgentError('E_DECODE', 'Events is not an array');
            for (let j = 0; j < (a?.count ?? 0); j++) {
              const slot = decodeUserEventsSlot(await r.value(), j);
              if (!slot) continue;
              if (events.length < this.deps.limits.eventBuffer) events.push(slot);
              else counters.inc('drop.pushpull.event-slots');
            }
            break;
          }
          default:
            await r.value();
        }
      }
      // Left members without a status time: serf reads a missing map entry as 0 (then + 1).
      for (const name of left) this.handleNodeLeaveIntent({ ltime: 1, node: name, prune: false });
      if (join && this.eventJoinIgnore > 0 && eventLTime > this.eventMinTime) this.eventMinTime = eventLTime;
      for (const slot of events) {
        for (const e of slot.events) this.handleUserEvent({ ltime: slot.ltime, name: e.name, payload: e.payload, cc: false });
      }
    } catch (e) {
      if (e instanceof AgentError && (e.code === 'E_TIMEOUT' || e.code === 'E_IO')) throw e;
      counters.inc('serf.decode_errors.pushpull');
      this.log.warn(`undecodable remote state: ${errorMessage(e)}`);
    }
  }

  // -------------------------------------------------------------------------
  // Merge delegate: refuse peers serf would refuse (§2.10 + serf merge_delegate)

  private notifyMerge(nodes: MemberNode[]): string | null {
    for (const n of nodes) {
      if (n.meta.length > META_MAX_SIZE) return `Encoded length of tags exceeds limit of ${META_MAX_SIZE} bytes`;
      if (!n.name) return 'empty node name';
      if (n.state === 'alive' && (n.dMax !== 0 || n.dMin !== 0)) {
        // A peer whose serf protocol range does not overlap ours cannot talk to us.
        if (n.dMax < SERF_PROTOCOL_MIN || n.dMin > SERF_PROTOCOL_MAX) {
          return `node ${n.name} speaks serf protocol ${n.dMin}..${n.dMax}, we understand ${SERF_PROTOCOL_MIN}..${SERF_PROTOCOL_MAX}`;
        }
      }
    }
    return null;
  }

  // -------------------------------------------------------------------------
  // Retention (memory-bounded mode, brief §8)

  private retainPriority(n: MemberNode): number {
    if (n.name === this.opts.nodeName) return 1000;
    let p = 0;
    const hp = n.addr.includes(':') ? `[${n.addr}]:${n.port}` : `${n.addr}:${n.port}`;
    if (this.seedSet.has(hp) || this.seedSet.has(n.addr)) p += 400;
    const tags = this.decodeMeta(n.meta);
    if (tags['mode'] === 'full') p += 200;
    if (tags['services'] !== undefined) p += 100;
    const age = this.deps.clock.now() - n.stateChange;
    if (n.state === 'alive' && age < 10 * 60_000) p += 50;
    else if (n.state === 'alive' || n.state === 'suspect') p += 20;
    return p;
  }

  // -------------------------------------------------------------------------
  // Join / leave / force-leave

  async join(addrs: string[], ignoreOld: boolean): Promise<number> {
    if (this.serfState !== 'alive') throw new AgentError('E_STATE', `cannot join in state ${this.serfState}`);
    const ml = this.memberlist();
    if (ignoreOld) this.eventJoinIgnore++;
    let n: number;
    try { n = await ml.join(addrs); } finally { if (ignoreOld) this.eventJoinIgnore--; }
    if (n > 0) {
      this.broadcastJoin(this.clock.time());
      this.deps.snapshotter?.joined();
    }
    return n;
  }

  async leave(): Promise<void> {
    if (this.serfState === 'left') return;
    if (this.serfState === 'leaving') throw new AgentError('E_STATE', 'Leave already in progress');
    if (this.serfState === 'shutdown') throw new AgentError('E_STATE', 'Leave called after Shutdown');
    this.serfState = 'leaving';
    const ml = this.memberlist();
    await this.deps.snapshotter?.leave();
    const msg = { type: 'leave' as const, ltime: this.clock.time(), node: this.opts.nodeName, prune: false };
    this.clock.increment();
    this.handleNodeLeaveIntent(msg);
    if (this.hasAliveMembers()) await this.broadcastAndWait(this.intentQueue, encodeSerfMessage(msg));
    try { await ml.leave(this.opts.broadcastTimeoutMs); } catch (e) { this.log.warn(`memberlist leave: ${errorMessage(e)}`); }
    if (this.hasAliveMembers()) await this.deps.clock.sleep(this.opts.leavePropagateDelayMs);
    this.serfState = 'left';
  }

  async removeFailedNode(node: string, prune: boolean): Promise<void> {
    const msg = { type: 'leave' as const, ltime: this.clock.time(), node, prune };
    this.clock.increment();
    if (!this.handleNodeLeaveIntent(msg)) return;
    if (!this.hasAliveMembers()) return;
    await this.broadcastAndWait(this.intentQueue, encodeSerfMessage(msg));
  }

  async shutdown(): Promise<void> {
    if (this.serfState === 'shutdown') return;
    if (this.serfState !== 'left') this.log.warn('shutdown without a leave');
    this.serfState = 'shutdown';
    for (const t of this.timers) t.cancel();
    this.timers.length = 0;
    this.collector.closeAll();
    this.coalescing.flush();
    this.coalescing.stop();
    this.snapshotClocks();
    await this.deps.snapshotter?.close();
    if (this.ml) await this.ml.shutdown();
  }

  // -------------------------------------------------------------------------
  // Reaping and reconnect (§3.6)

  private reap(): void {
    const now = this.deps.clock.now();
    for (const st of [...this.table.values()]) {
      const s = st.member.status;
      if (s === 'failed' && now - st.leaveTime > this.opts.reconnectTimeoutMs) {
        this.log.info(`reaping failed member ${st.member.name}`);
        this.eraseNode(st);
      } else if (s === 'left' && now - st.leaveTime > this.opts.tombstoneTimeoutMs) {
        this.log.info(`reaping left member ${st.member.name}`);
        this.eraseNode(st);
      }
    }
    this.intents.reap(now, this.opts.recentIntentTimeoutMs);
    this.checkQueueDepths();
  }

  /** serf's queue check: warn about deep queues (the depth itself is bounded by limits.broadcastQueueDepth). */
  private checkQueueDepths(): void {
    for (const [name, q] of [['intent', this.intentQueue], ['event', this.eventQueue], ['query', this.queryQueue]] as const) {
      const n = q.numQueued();
      if (n > QUEUE_DEPTH_WARNING) this.log.warn(`${name} queue depth: ${n}`);
    }
  }

  private reconnect(): void {
    if (this.serfState !== 'alive' || !this.ml) return;
    const failed = this.table.withStatus('failed');
    if (failed.length === 0) return;
    let alive = this.table.size - failed.length - this.table.count('left');
    if (alive <= 0) alive = 1;
    if (this.random() > failed.length / alive) return;
    const st = failed[Math.floor(this.random() * failed.length)]!;
    const m = st.member;
    const addr = m.addr.includes(':') ? `[${m.addr}]:${m.port}` : `${m.addr}:${m.port}`;
    this.log.info(`attempting reconnect to ${m.name} ${addr}`);
    this.ml.join([addr]).catch((e) => this.log.debug(`reconnect to ${m.name} failed: ${errorMessage(e)}`));
  }

  // -------------------------------------------------------------------------
  // Tags (§3.3)

  private checkTags(tags: Record<string, string>): void {
    const meta = encodeMeta(tags, this.opts.protocolVersion);
    if (meta.length > META_MAX_SIZE) {
      throw new AgentError('E_TOO_LARGE',
        `encoded length of tags exceeds limit of ${META_MAX_SIZE} bytes by ${meta.length - META_MAX_SIZE} bytes`,
        { size: meta.length, limit: META_MAX_SIZE });
    }
  }

  async setTags(tags: Record<string, string>): Promise<void> {
    this.checkTags(tags);
    this.tags = { ...tags };
    const self = this.table.get(this.opts.nodeName);
    if (self) self.member.tags = { ...tags };
    await this.memberlist().updateNode(this.opts.broadcastTimeoutMs);
  }

  currentTags(): Record<string, string> { return { ...this.tags }; }

  // -------------------------------------------------------------------------
  // User events (§3.7)

  async userEvent(name: string, payload: Uint8Array, coalesce: boolean): Promise<void> {
    const before = Buffer.byteLength(name) + payload.length;
    if (before > this.opts.userEventSizeLimit) {
      throw new AgentError('E_TOO_LARGE',
        `user event exceeds configured limit of ${this.opts.userEventSizeLimit} bytes before encoding (by ${before - this.opts.userEventSizeLimit} bytes)`);
    }
    const msg = { type: 'userEvent' as const, ltime: this.eventClock.time(), name, payload, cc: coalesce };
    const raw = encodeSerfMessage(msg);
    if (raw.length > this.opts.userEventSizeLimit) {
      throw new AgentError('E_TOO_LARGE',
        `encoded length of user event exceeds limit of ${this.opts.userEventSizeLimit} bytes (by ${raw.length - this.opts.userEventSizeLimit} bytes)`);
    }
    this.eventClock.increment();
    this.handleUserEvent(msg);
    this.eventQueue.queue({ msg: raw });
  }

  private handleUserEvent(m: { ltime: number; name: string; payload: Uint8Array; cc: boolean }): boolean {
    this.eventClock.witness(m.ltime);
    if (m.ltime < this.eventMinTime) return false;
    if (tooOld(m.ltime, this.eventClock.time(), this.eventBuffer.size)) {
      this.deps.counters.inc('drop.serf_event_too_old');
      return false;
    }
    if (!this.eventBuffer.add(m.ltime, { name: m.name, payload: m.payload })) return false;
    this.coalescing.push({ type: 'user', ltime: m.ltime, name: m.name, payload: m.payload, coalesce: m.cc });
    return true;
  }

  // -------------------------------------------------------------------------
  // Queries (§3.9)

  /** serf DefaultQueryTimeout: GossipInterval x QueryTimeoutMult x ceil(log10(N+1)). */
  defaultQueryTimeoutMs(): number {
    const n = this.ml ? this.ml.numMembers() : 1;
    return this.opts.gossipIntervalMs * this.opts.queryTimeoutMult * Math.ceil(Math.log10(n + 1));
  }

  /**
   * A user query. Like the serf agent, names with the internal prefix `_serf_`
   * are refused (E_INVALID), except `_serf_ping` without payload (reachability).
   */
  async query(name: string, payload: Uint8Array, params: QueryParams, handlers: QueryHandlers): Promise<QueryHandle> {
    if (name.startsWith(INTERNAL_QUERY_PREFIX) && !(name === Q_PING && payload.length === 0)) {
      throw new AgentError('E_INVALID', `Queries cannot contain the '${INTERNAL_QUERY_PREFIX}' prefix`);
    }
    return this.sendQuery(name, payload, params, handlers);
  }

  private async sendQuery(name: string, payload: Uint8Array, params: QueryParams, handlers: QueryHandlers): Promise<QueryHandle> {
    if (this.opts.protocolVersion < QUERY_MIN_PROTOCOL) {
      throw new AgentError('E_STATE', `queries need serf protocol ${QUERY_MIN_PROTOCOL} or higher`);
    }
    if (this.serfState === 'shutdown') throw new AgentError('E_STATE', 'serf is shut down');
    const ml = this.memberlist();
    this.collector.checkRoom();
    const filters: Uint8Array[] = [];
    if (params.filterNodes && params.filterNodes.length > 0) filters.push(encodeNodeFilter(params.filterNodes));
    for (const [tag, expr] of Object.entries(params.filterTags ?? {})) filters.push(encodeTagFilter(tag, expr));
    const relayFactor = params.relayFactor ?? 0;
    if (!Number.isInteger(relayFactor) || relayFactor < 0 || relayFactor > 255) {
      throw new AgentError('E_INVALID', 'relay factor must be 0..255');
    }
    const timeoutMs = params.timeoutMs && params.timeoutMs > 0 ? params.timeoutMs : this.defaultQueryTimeoutMs();
    const self = ml.localNode();
    const ltime = this.queryClock.time();
    const id = this.collector.freeId(ltime, Math.floor(this.random() * 0x80000000));
    const q = {
      type: 'query' as const, ltime, id, addr: ipToBytes(self.addr), port: self.port, sourceNode: self.name,
      filters, flags: params.requestAck ? QUERY_FLAG_ACK : 0, relayFactor, timeoutNs: timeoutMs * 1e6, name, payload,
    };
    const raw = encodeSerfMessage(q);
    if (raw.length > this.opts.querySizeLimit) {
      throw new AgentError('E_TOO_LARGE',
        `query exceeds limit of ${this.opts.querySizeLimit} bytes (by ${raw.length - this.opts.querySizeLimit} bytes)`);
    }
    const handle = this.collector.register(ltime, id, timeoutMs, handlers);
    this.handleQuery(q);
    this.queryQueue.queue({ msg: raw });
    return handle;
  }


  private shouldProcessQuery(blobs: Uint8Array[]): boolean {
    const filters: QueryFilter[] = [];
    for (const b of blobs) {
      try {
        const f = decodeFilter(b);
        filters.push(f.kind === 'node' ? { type: 'node', nodes: f.names } : { type: 'tag', tag: f.tag, expr: f.expr });
      } catch (e) {
        // Unknown filter type or garbage: serf does not process such a query.
        this.deps.counters.inc('serf.decode_errors.filter');
        this.log.warn(`query filter: ${errorMessage(e)}`);
        return false;
      }
    }
    return filtersMatch(filters, this.opts.nodeName, this.tags);
  }

  private handleQuery(q: Extract<SerfMessage, { type: 'query' }>): boolean {
    this.queryClock.witness(q.ltime);
    if (q.ltime < this.queryMinTime) return false;
    if (tooOld(q.ltime, this.queryClock.time(), this.queryBuffer.size)) {
      this.deps.counters.inc('drop.serf_query_too_old');
      return false;
    }
    if (!this.queryBuffer.add(q.ltime, q.id)) return false;
    const rebroadcast = (q.flags & QUERY_FLAG_NO_BROADCAST) === 0;
    if (!this.shouldProcessQuery(q.filters)) return rebroadcast;
    const to = { addr: bytesToIp(q.addr), port: q.port };
    if (q.flags & QUERY_FLAG_ACK) {
      const ack = { type: 'queryResponse' as const, ltime: q.ltime, id: q.id, from: this.opts.nodeName, flags: QUERY_FLAG_ACK, payload: new Uint8Array(0) };
      const raw = encodeSerfMessage(ack);
      this.ml?.sendToAddress(to, raw);
      this.relayResponse(q.relayFactor, to, q.sourceNode, raw);
    }
    const timeoutMs = q.timeoutNs / 1e6;
    const deadline = this.deps.clock.now() + timeoutMs;
    const internal = q.name.startsWith(INTERNAL_QUERY_PREFIX);
    if (!internal && this.inboundPending >= this.deps.limits.pendingInboundQueries) {
      this.deps.counters.inc('drop.serf_inbound_queries');
      return rebroadcast;
    }
    let responded = false;
    let pending = !internal;
    if (pending) this.inboundPending++;
    const release = (): void => { if (pending) { pending = false; this.inboundPending--; } };
    if (pending) this.deps.clock.after(Math.max(0, timeoutMs), release);
    const incoming: IncomingQuery = {
      ltime: q.ltime, id: q.id, name: q.name, payload: q.payload, sourceNode: q.sourceNode, deadline,
      respond: async (payload: Uint8Array) => {
        if (this.deps.clock.now() > deadline) throw new AgentError('E_TIMEOUT', 'response is past the deadline');
        if (responded) throw new AgentError('E_STATE', 'response already sent');
        const resp = { type: 'queryResponse' as const, ltime: q.ltime, id: q.id, from: this.opts.nodeName, flags: 0, payload };
        const raw = encodeSerfMessage(resp);
        if (raw.length > this.opts.queryResponseSizeLimit) {
          throw new AgentError('E_TOO_LARGE',
            `response exceeds limit of ${this.opts.queryResponseSizeLimit} bytes (by ${raw.length - this.opts.queryResponseSizeLimit} bytes)`);
        }
        responded = true;
        release();
        this.memberlist().sendToAddress(to, raw);
        this.relayResponse(q.relayFactor, to, q.sourceNode, raw);
      },
    };
    if (internal) this.handleInternalQuery(incoming);
    else this.coalescing.push({ type: 'query', query: incoming });
    return rebroadcast;
  }

  private relayResponse(relayFactor: number, to: { addr: string; port: number }, destName: string, inner: Uint8Array): void {
    if (relayFactor === 0 || !this.ml) return;
    const candidates = [...this.table.values()].map((s) => s.member)
      .filter((m) => m.status === 'alive' && m.protocolMax >= RELAY_MIN_PMAX && m.name !== this.opts.nodeName);
    if (this.table.size < relayFactor + 1) return;
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
    }
    const raw = encodeSerfMessage({ type: 'relay', destAddr: ipToBytes(to.addr), destPort: to.port, destName, inner });
    for (const m of candidates.slice(0, relayFactor)) this.ml.sendToAddress({ addr: m.addr, port: m.port }, raw);
  }

  private handleRelay(m: Extract<SerfMessage, { type: 'relay' }>): void {
    if (!this.ml) return;
    this.deps.counters.inc('serf.relayed');
    this.ml.sendToAddress({ addr: bytesToIp(m.destAddr), port: m.destPort }, m.inner);
  }

  private handleQueryResponse(r: Extract<SerfMessage, { type: 'queryResponse' }>): void {
    this.collector.deliver(r.ltime, r.id, r.from, (r.flags & QUERY_FLAG_ACK) !== 0, r.payload);
  }


  // -------------------------------------------------------------------------
  // Internal queries (§3.9, §3.13)

  private handleInternalQuery(q: IncomingQuery): void {
    const reply = (payload: Uint8Array): void => {
      q.respond(payload).catch((e) => this.log.warn(`internal query ${q.name}: ${errorMessage(e)}`));
    };
    switch (q.name) {
      case Q_PING:
        return; // the ack (if requested) is all there is
      case Q_CONFLICT: {
        const node = new TextDecoder().decode(q.payload);
        if (node === this.opts.nodeName) return;
        const st = this.table.get(node);
        const m = st?.member;
        reply(encodeConflictMember(m ? {
          name: m.name, addr: ipToBytes(m.addr), port: m.port, tags: m.tags, status: MemberStatusCode[m.status],
          protocolMin: m.protocolMin, protocolMax: m.protocolMax, protocolCur: m.protocolCur,
          delegateMin: m.delegateMin, delegateMax: m.delegateMax, delegateCur: m.delegateCur,
        } : null));
        return;
      }
      case Q_INSTALL_KEY:
      case Q_USE_KEY:
      case Q_REMOVE_KEY:
      case Q_LIST_KEYS:
        reply(this.handleKeyQuery(q.name, q.payload));
        return;
      default:
        this.log.warn(`unhandled internal query ${q.name}`);
    }
  }

  private handleKeyQuery(name: string, payload: Uint8Array): Uint8Array {
    const kr = this.deps.keyring;
    const { response, changed } = answerKeyQuery(name, payload, kr, this.opts.queryResponseSizeLimit);
    if (changed && kr) {
      this.log.info(`keyring: ${name.slice(INTERNAL_QUERY_PREFIX.length)} done`);
      if (this.deps.onKeyringChange) {
        Promise.resolve(this.deps.onKeyringChange(kr)).catch((e) => this.log.warn(`keyring persist: ${errorMessage(e)}`));
      }
    }
    return response;
  }

  keyManager(): KeyManager {
    const run = (name: string, keyB64: string | null): Promise<KeyResponse> => runKeyQuery(
      name, keyB64, this.memberlist().numMembers(), (n, payload, handlers) => this.sendQuery(n, payload, {}, handlers));
    return {
      installKey: (k) => run(Q_INSTALL_KEY, k),
      useKey: (k) => run(Q_USE_KEY, k),
      removeKey: (k) => run(Q_REMOVE_KEY, k),
      listKeys: () => run(Q_LIST_KEYS, null),
    };
  }

  encryptionEnabled(): boolean { return !!this.deps.keyring && this.deps.keyring.isEnabled(); }

  // -------------------------------------------------------------------------
  // Name conflicts (§3.13)

  private notifyConflict(existing: MemberNode, other: MemberNode): void {
    if (existing.name !== this.opts.nodeName) {
      this.log.warn(`name conflict for '${existing.name}' both ${existing.addr}:${existing.port} and ${other.addr}:${other.port} are claiming`);
      this.deps.counters.inc('serf.name_conflicts');
      return;
    }
    this.log.error(`node name conflicts with another node at ${other.addr}:${other.port}`);
    if (!this.opts.enableNameConflictResolution || this.conflictQueryRunning) return;
    this.conflictQueryRunning = true;
    void this.resolveNodeConflict().finally(() => { this.conflictQueryRunning = false; });
  }

  private async resolveNodeConflict(): Promise<void> {
    const local = this.memberlist().localNode();
    let responses = 0;
    let matching = 0;
    await new Promise<void>((resolve) => {
      this.sendQuery(Q_CONFLICT, new TextEncoder().encode(this.opts.nodeName), {}, {
        onResponse: (_from, payload) => {
          let m;
          try { m = decodeConflictMember(payload); } catch { this.deps.counters.inc('serf.decode_errors.conflict'); return; }
          responses++;
          let addr = '';
          try { addr = m ? bytesToIp(m.addr) : ''; } catch { /* bad address: not matching */ }
          if (m && addr === local.addr && m.port === local.port) matching++;
        },
        onDone: resolve,
      }).catch((e) => { this.log.warn(`conflict query: ${errorMessage(e)}`); resolve(); });
    });
    const majority = Math.floor(responses / 2) + 1;
    if (matching >= majority) {
      this.log.info('name conflict resolution: we are the majority view');
      return;
    }
    this.log.warn(`name conflict resolution: minority (${matching}/${responses}), shutting down`);
    await this.shutdown();
  }

  // -------------------------------------------------------------------------
  // Coordinates (§3.12)

  private ackPayload(): Uint8Array {
    if (!this.vivaldi) return new Uint8Array(0);
    return encodeCoordinatePayload(this.vivaldi.getCoordinate());
  }

  private notifyPingComplete(n: MemberNode, rttMs: number, payload: Uint8Array): void {
    if (!this.vivaldi || payload.length === 0) return;
    let c: Coordinate;
    try { c = decodeCoordinatePayload(payload); } catch {
      this.deps.counters.inc('serf.decode_errors.coordinate');
      return;
    }
    const after = this.vivaldi.update(n.name, c, rttMs);
    if (!after) { this.deps.counters.inc('serf.coordinate_rejected'); return; }
    this.coordCache.set(n.name, c);
    this.coordCache.set(this.opts.nodeName, after);
  }

  getCoordinate(node?: string): Coordinate | null {
    if (!this.vivaldi) return null;
    if (node === undefined || node === this.opts.nodeName) return this.vivaldi.getCoordinate();
    return this.coordCache.get(node);
  }

  // -------------------------------------------------------------------------
  // Stats (§4 stats "serf" section)

  stats(): Record<string, string> {
    const out: Record<string, string> = {
      members: String(this.table.size),
      failed: String(this.table.count('failed')),
      left: String(this.table.count('left')),
      health_score: String(this.ml ? this.ml.healthScore() : 0),
      member_time: String(this.clock.time()),
      event_time: String(this.eventClock.time()),
      query_time: String(this.queryClock.time()),
      intent_queue: String(this.intentQueue.numQueued()),
      event_queue: String(this.eventQueue.numQueued()),
      query_queue: String(this.queryQueue.numQueued()),
      encrypted: String(this.encryptionEnabled()),
      coordinate_resets: String(this.vivaldi ? this.vivaldi.resetCount : 0),
    };
    for (const [k, v] of Object.entries(this.deps.counters.snapshot())) {
      if (k.startsWith('drop.') || k.startsWith('evict.') || k.includes('decode_errors')) out[k] = String(v);
    }
    return out;
  }

  private snapshotClocks(): void {
    this.deps.snapshotter?.clocks(this.clock.time(), this.eventClock.time(), this.queryClock.time());
  }
}
