// The serf node (serf serf.go): membership with intents and Lamport clocks on
// top of memberlist, tags, user events, reaping/reconnect, name conflicts and
// network coordinates (SERF-PROTOCOL.md §3). Byte-compatible with
// hashicorp/serf 0.9.4. Cut as serf is: options in config.ts, what memberlist
// calls in delegate.ts, queries in query.ts.
//
// Construction is two-phase because memberlist needs serf's delegates:
//   const serf = new SerfNode(opts, deps);
//   const ml = MemberlistNode.create({ ..., ...serf.delegates() });
//   serf.start(ml);
// (create.ts createSerf does this in one call.)
import type {
  Coordinate, IncomingQuery, KeyManager, KeyResponse, Member, MemberEvent, MemberEventType, MemberStatus,
  QueryHandle, QueryHandlers, QueryParams, Serf, SerfEvent, SerfState,
} from './types.ts';
import type { MemberNode, Memberlist } from '../memberlist/types.ts';
import type { Logger } from '../../obs/log.ts';
import type { TimerHandle } from '../clock.ts';
import { AgentError, errorMessage } from '../../errors.ts';
import { TransmitLimitedQueue } from '../broadcast-queue.ts';
import { ipToBytes, bytesToIp, META_MAX_SIZE } from '../wire/memberlist-messages.ts';
import {
  encodeSerfMessage, encodeConflictMember, decodeConflictMember, encodeCoordinatePayload, decodeCoordinatePayload,
  decodeTags, encodeMeta, MemberStatusCode, INTERNAL_QUERY_PREFIX, QUERY_PING, QUERY_CONFLICT, QUERY_INSTALL_KEY,
  QUERY_USE_KEY, QUERY_REMOVE_KEY, QUERY_LIST_KEYS,
} from '../wire/serf-messages.ts';
import { formatHostPort } from '../../config/address.ts';
import { LamportClock } from './lamport.ts';
import { EventBuffer, tooOld } from './event-buffer.ts';
import { RecentIntents } from './intents.ts';
import { MemberTable, type MemberState, copyMember } from './member-table.ts';
import { EventCoalescing } from './coalesce.ts';
import { VivaldiClient } from '../coordinate/vivaldi.ts';
import { CoordinateCache } from '../coordinate/cache.ts';
import { answerKeyQuery, runKeyQuery } from './key-queries.ts';
import { SERF_PROTOCOL_MAX, SERF_PROTOCOL_MIN, USER_EVENT_SIZE_LIMIT_MAX, type SerfDeps, type SerfOptions } from './config.ts';
import { serfDelegates, type IntentMessage, type LeaveIntentMessage, type SerfDelegates, type UserEventMessage } from './delegate.ts';
import { SerfQueries } from './query.ts';
import { startupMark } from '../../obs/startup-trace.ts';

/** serf QueueDepthWarning: queues deeper than this are logged at each check. */
const QUEUE_DEPTH_WARNING = 128;

export class SerfNode implements Serf {
  private ml: Memberlist | null = null;
  private serfState: SerfState = 'alive';
  private readonly random: () => number;
  // Fields without `private` are serf's package state: delegate.ts reads them
  // through SerfDelegateHost, as serf's delegate.go reads *Serf.
  readonly opts: SerfOptions;
  readonly log: Logger;

  readonly clock = new LamportClock();
  readonly eventClock = new LamportClock();
  readonly queryClock = new LamportClock();
  eventMinTime = 0;
  /** >0 while a join with ignoreOld is in progress (push/pull merges raise eventMinTime). */
  eventJoinIgnore = 0;

  readonly table: MemberTable;
  private readonly intents: RecentIntents;
  readonly eventBuffer: EventBuffer;
  readonly intentQueue: TransmitLimitedQueue;
  readonly eventQueue: TransmitLimitedQueue;
  readonly queryQueue: TransmitLimitedQueue;
  /** Sending queries, and handlers for named ones (query.ts). */
  readonly queries: SerfQueries;

  private tags: Record<string, string>;
  private readonly listeners = new Set<(e: SerfEvent) => void>();
  private readonly coalescing: EventCoalescing;
  private readonly timers: TimerHandle[] = [];

  private readonly vivaldi: VivaldiClient | null;
  private readonly coordCache: CoordinateCache;
  readonly seedSet: Set<string>;
  private conflictQueryRunning = false;

  constructor(opts: SerfOptions, readonly deps: SerfDeps) {
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
    this.intents = new RecentIntents(limits.recentIntents, () => counters.inc('evict.recent_intents'));
    this.eventBuffer = new EventBuffer(limits.eventBuffer, limits.entriesPerLTime, () => deps.counters.inc('drop.serf_event_slot_full'));
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
    this.queries = new SerfQueries({
      nodeName: opts.nodeName, protocolVersion: opts.protocolVersion, gossipIntervalMs: opts.gossipIntervalMs,
      queryTimeoutMult: opts.queryTimeoutMult, querySizeLimit: opts.querySizeLimit, queryResponseSizeLimit: opts.queryResponseSizeLimit,
      clock: deps.clock, counters, logger: this.log, limits, random: this.random, queryClock: this.queryClock, queue: this.queryQueue,
      memberlist: () => this.ml,
      tags: () => this.tags,
      members: () => [...this.table.values()].map((st) => st.member),
      stopped: () => this.serfState === 'shutdown',
      unhandled: (q) => this.coalescing.push({ type: 'query', query: q }),
    });
    this.registerInternalQueries();
    // Each clock starts at 1 (serf increments once at creation: a fresh node's first join has LTime 1).
    this.clock.increment();
    this.eventClock.increment();
    this.queryClock.increment();
  }

  // -------------------------------------------------------------------------
  // Wiring

  /** The memberlist delegates, to pass when constructing the memberlist (delegate.ts). */
  delegates(): SerfDelegates {
    return serfDelegates(this);
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
    if (queryClock > 0) { this.queryClock.witness(queryClock); this.queries.minTime = queryClock + 1; }
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

  decodeMeta(meta: Uint8Array): Record<string, string> {
    try { return decodeTags(meta); } catch {
      this.deps.counters.inc('serf.decode_errors.tags');
      return {};
    }
  }

  handleNodeJoin(n: MemberNode): void {
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

  handleNodeLeave(n: MemberNode): void {
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
  handleNodeEvict(n: MemberNode): void {
    const st = this.table.get(n.name);
    if (!st || n.name === this.opts.nodeName) return;
    this.table.delete(n.name);
    this.coordCache.delete(n.name);
    this.vivaldi?.forgetNode(n.name);
    this.deps.counters.inc('evict.serf_members_memberlist');
  }

  handleNodeUpdate(n: MemberNode): void {
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

  handleNodeLeaveIntent(msg: LeaveIntentMessage): boolean {
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

  handleNodeJoinIntent(msg: IntentMessage): boolean {
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
  // Join / leave / force-leave

  async join(addrs: string[], ignoreOld: boolean): Promise<number> {
    if (this.serfState !== 'alive') throw new AgentError('E_STATE', `cannot join in state ${this.serfState}`);
    const ml = this.memberlist();
    if (ignoreOld) this.eventJoinIgnore++;
    let n: number;
    startupMark('join sent');
    try { n = await ml.join(addrs); } finally { if (ignoreOld) this.eventJoinIgnore--; }
    if (n > 0) {
      startupMark('joined');
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
    this.queries.closeAll();
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
    const addr = formatHostPort(m.addr, m.port);
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
        { size: meta.length, limit: META_MAX_SIZE, serfText: `Encoded length of tags exceeds limit of ${META_MAX_SIZE} bytes` });
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
        `user event exceeds configured limit of ${this.opts.userEventSizeLimit} bytes before encoding (by ${before - this.opts.userEventSizeLimit} bytes)`,
        { serfText: `user event exceeds configured limit of ${this.opts.userEventSizeLimit} bytes before encoding` });
    }
    const msg = { type: 'userEvent' as const, ltime: this.eventClock.time(), name, payload, cc: coalesce };
    const raw = encodeSerfMessage(msg);
    if (raw.length > this.opts.userEventSizeLimit) {
      throw new AgentError('E_TOO_LARGE',
        `encoded user event exceeds configured limit of ${this.opts.userEventSizeLimit} bytes after encoding (by ${raw.length - this.opts.userEventSizeLimit} bytes)`,
        { serfText: `encoded user event exceeds configured limit of ${this.opts.userEventSizeLimit} bytes after encoding` });
    }
    this.eventClock.increment();
    this.handleUserEvent(msg);
    this.eventQueue.queue({ msg: raw });
  }

  handleUserEvent(m: UserEventMessage): boolean {
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
  // Queries (§3.9; query.ts)

  /** serf DefaultQueryTimeout: GossipInterval x QueryTimeoutMult x ceil(log10(N+1)). */
  defaultQueryTimeoutMs(): number {
    return this.queries.defaultTimeoutMs();
  }

  /** A user query (names with serf's internal prefix refused, except a bare _serf_ping). */
  query(name: string, payload: Uint8Array, params: QueryParams, handlers: QueryHandlers): Promise<QueryHandle> {
    return this.queries.query(name, payload, params, handlers);
  }

  /** Answers queries named `name` with `handler` instead of the event stream (query.ts). */
  handleQuery(name: string, handler: (q: IncomingQuery) => void): () => void {
    return this.queries.handle(name, handler);
  }

  // -------------------------------------------------------------------------
  // Internal queries (§3.9, §3.13)

  private registerInternalQueries(): void {
    const reply = (q: IncomingQuery, payload: Uint8Array): void => {
      q.respond(payload).catch((e) => this.log.warn(`internal query ${q.name}: ${errorMessage(e)}`));
    };
    this.queries.handle(QUERY_PING, () => { /* the ack (if requested) is all there is */ });
    this.queries.handle(QUERY_CONFLICT, (q) => {
      const node = new TextDecoder().decode(q.payload);
      if (node === this.opts.nodeName) return;
      const m = this.table.get(node)?.member;
      reply(q, encodeConflictMember(m ? {
        name: m.name, addr: ipToBytes(m.addr), port: m.port, tags: m.tags, status: MemberStatusCode[m.status],
        protocolMin: m.protocolMin, protocolMax: m.protocolMax, protocolCur: m.protocolCur,
        delegateMin: m.delegateMin, delegateMax: m.delegateMax, delegateCur: m.delegateCur,
      } : null));
    });
    for (const name of [QUERY_INSTALL_KEY, QUERY_USE_KEY, QUERY_REMOVE_KEY, QUERY_LIST_KEYS]) {
      this.queries.handle(name, (q) => { void this.handleKeyQuery(q.name, q.payload).then((r) => reply(q, r)); });
    }
  }

  /**
   * Answers once the keyring file holds the change (as serf writes it before
   * answering): an acknowledged `keys -use` is never lost to a crash right after.
   */
  private async handleKeyQuery(name: string, payload: Uint8Array): Promise<Uint8Array> {
    const kr = this.deps.keyring;
    const { response, changed } = answerKeyQuery(name, payload, kr, this.opts.queryResponseSizeLimit);
    if (changed && kr) {
      this.log.info(`keyring: ${name.slice(INTERNAL_QUERY_PREFIX.length)} done`);
      if (this.deps.onKeyringChange) {
        try { await this.deps.onKeyringChange(kr); } catch (e) { this.log.warn(`keyring persist: ${errorMessage(e)}`); }
      }
    }
    return response;
  }

  keyManager(): KeyManager {
    const run = (name: string, keyB64: string | null): Promise<KeyResponse> => runKeyQuery(
      name, keyB64, this.memberlist().numMembers(), (n, payload, handlers) => this.queries.send(n, payload, {}, handlers));
    return {
      installKey: (k) => run(QUERY_INSTALL_KEY, k),
      useKey: (k) => run(QUERY_USE_KEY, k),
      removeKey: (k) => run(QUERY_REMOVE_KEY, k),
      listKeys: () => run(QUERY_LIST_KEYS, null),
    };
  }

  encryptionEnabled(): boolean { return !!this.deps.keyring && this.deps.keyring.isEnabled(); }

  // -------------------------------------------------------------------------
  // Name conflicts (§3.13)

  notifyConflict(existing: MemberNode, other: MemberNode): void {
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
      this.queries.send(QUERY_CONFLICT, new TextEncoder().encode(this.opts.nodeName), {}, {
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

  ackPayload(): Uint8Array {
    if (!this.vivaldi) return new Uint8Array(0);
    return encodeCoordinatePayload(this.vivaldi.getCoordinate());
  }

  notifyPingComplete(n: MemberNode, rttMs: number, payload: Uint8Array): void {
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
