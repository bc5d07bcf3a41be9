// What serf gives memberlist (serf delegate.go, event_delegate.go,
// ping_delegate.go, merge_delegate.go, conflict_delegate.go): node meta, the
// messages it gossips and receives, the push/pull user state both ways, member
// events, ping-ack coordinates, conflicts, the merge check and, in
// memory-bounded mode, which members to keep. Each delegate reads and changes
// the serf node through SerfDelegateHost, as serf's delegate reads *Serf.

import type {
  ConflictDelegate, EventDelegate, MemberNode, MemberlistDelegate, MergeDelegate, PingDelegate,
  RemoteStateReader, RetentionDelegate,
} from '../memberlist/types.ts';
import type { Logger } from '../../obs/log.ts';
import type { TransmitLimitedQueue } from '../broadcast-queue.ts';
import type { EventBuffer } from './event-buffer.ts';
import type { LamportClock } from './lamport.ts';
import type { MemberTable } from './member-table.ts';
import type { SerfDeps, SerfOptions } from './config.ts';
import type { SerfQueries } from './query.ts';
import { AgentError, errorMessage } from '../../errors.ts';
import { formatHostPort } from '../../config/address.ts';
import { ByteCursor } from '../wire/byte-cursor.ts';
import { META_MAX_SIZE } from '../wire/memberlist-messages.ts';
import {
  decodeSerfMessage, encodeMeta, encodeSerfMessage, readSerfPushPull, type SerfMessage, type SerfUserEvents,
} from '../wire/serf-messages.ts';
import { UserStateReader } from '../memberlist/push-pull.ts';
import { SERF_PROTOCOL_MAX, SERF_PROTOCOL_MIN } from './config.ts';

/** Status times of a streamed push/pull handled between two yields to the event loop. */
const STREAM_MERGE_YIELD_EVERY = 2048;

export interface IntentMessage { ltime: number; node: string }
export interface LeaveIntentMessage extends IntentMessage { prune: boolean }
export interface UserEventMessage { ltime: number; name: string; payload: Uint8Array; cc: boolean }

/** The parts of a serf node its delegates use (SerfNode is one). */
export interface SerfDelegateHost {
  readonly opts: SerfOptions;
  readonly deps: SerfDeps;
  readonly log: Logger;
  readonly table: MemberTable;
  readonly clock: LamportClock;
  readonly eventClock: LamportClock;
  readonly queryClock: LamportClock;
  readonly eventBuffer: EventBuffer;
  readonly intentQueue: TransmitLimitedQueue;
  readonly eventQueue: TransmitLimitedQueue;
  readonly queryQueue: TransmitLimitedQueue;
  readonly queries: SerfQueries;
  readonly seedSet: ReadonlySet<string>;
  /** >0 while a join with ignoreOld is in progress (push/pull merges raise eventMinTime). */
  readonly eventJoinIgnore: number;
  eventMinTime: number;
  currentTags(): Record<string, string>;
  decodeMeta(meta: Uint8Array): Record<string, string>;
  handleNodeJoin(n: MemberNode): void;
  handleNodeLeave(n: MemberNode): void;
  handleNodeUpdate(n: MemberNode): void;
  handleNodeEvict(n: MemberNode): void;
  /** True when the intent was new (to gossip on). */
  handleNodeLeaveIntent(msg: LeaveIntentMessage): boolean;
  handleNodeJoinIntent(msg: IntentMessage): boolean;
  handleUserEvent(m: UserEventMessage): boolean;
  ackPayload(): Uint8Array;
  notifyPingComplete(n: MemberNode, rttMs: number, payload: Uint8Array): void;
  notifyConflict(existing: MemberNode, other: MemberNode): void;
}

export interface SerfDelegates {
  delegate: MemberlistDelegate;
  events: EventDelegate;
  ping: PingDelegate;
  conflict: ConflictDelegate;
  merge: MergeDelegate;
  retention: RetentionDelegate;
}

/** The memberlist delegates of a serf node, to pass when constructing the memberlist. */
export function serfDelegates(s: SerfDelegateHost): SerfDelegates {
  const safe = (what: string, fn: () => void): void => {
    try { fn(); } catch (e) {
      s.deps.counters.inc('error.delegate'); // one name with memberlist's delegate failures
      s.log.warn(`${what}: ${errorMessage(e)}`);
    }
  };
  return {
    delegate: {
      nodeMeta: (limit) => nodeMeta(s, limit),
      notifyMsg: (msg) => safe('notifyMsg', () => notifyMsg(s, msg)),
      getBroadcasts: (overhead, limit) => getBroadcasts(s, overhead, limit),
      pendingBroadcasts: () => s.intentQueue.numQueued() + s.queryQueue.numQueued() + s.eventQueue.numQueued(),
      localState: () => localState(s),
      // A whole remote state (memberlist's path for delegates that cannot
      // stream): the same merge, read from memory, so there is one implementation of it.
      mergeRemoteState: (buf, join) => {
        mergeRemoteStateStream(s, new UserStateReader(ByteCursor.over(buf, 'remote state'), buf.length, buf.length), join).catch((e: unknown) => {
          s.deps.counters.inc('error.delegate'); // one name with memberlist's delegate failures
          s.log.warn(`mergeRemoteState: ${errorMessage(e)}`);
        });
      },
      mergeRemoteStateStream: (r, join) => mergeRemoteStateStream(s, r, join),
    },
    events: {
      notifyJoin: (n) => safe('notifyJoin', () => s.handleNodeJoin(n)),
      notifyLeave: (n) => safe('notifyLeave', () => s.handleNodeLeave(n)),
      notifyUpdate: (n) => safe('notifyUpdate', () => s.handleNodeUpdate(n)),
      notifyEvict: (n) => safe('notifyEvict', () => s.handleNodeEvict(n)),
    },
    ping: {
      ackPayload: () => s.ackPayload(),
      notifyPingComplete: (n, rtt, payload) => safe('ping', () => s.notifyPingComplete(n, rtt, payload)),
    },
    conflict: { notifyConflict: (a, b) => safe('conflict', () => s.notifyConflict(a, b)) },
    merge: { notifyMerge: (nodes) => notifyMerge(nodes) },
    retention: { retainPriority: (n) => retainPriority(s, n) },
  };
}

function nodeMeta(s: SerfDelegateHost, limit: number): Uint8Array {
  const meta = encodeMeta(s.currentTags(), s.opts.protocolVersion);
  if (meta.length > limit) {
    // setTags and the constructor refuse this; never hand memberlist an oversized meta.
    s.log.error(`node meta ${meta.length} bytes exceeds ${limit}`);
    return encodeMeta({}, s.opts.protocolVersion);
  }
  return meta;
}

function notifyMsg(s: SerfDelegateHost, buf: Uint8Array): void {
  const { counters } = s.deps;
  if (buf.length === 0) { counters.inc('serf.decode_errors.empty'); return; }
  let m: SerfMessage;
  try { m = decodeSerfMessage(buf); } catch (e) {
    counters.inc('serf.decode_errors.message');
    s.log.debug(`undecodable serf message (type ${buf[0]}): ${errorMessage(e)}`);
    return;
  }
  let rebroadcast: TransmitLimitedQueue | null = null;
  switch (m.type) {
    case 'leave':
      s.log.debug(`leave intent ${m.node} ltime ${m.ltime}`);
      if (s.handleNodeLeaveIntent(m)) rebroadcast = s.intentQueue;
      break;
    case 'join':
      if (s.handleNodeJoinIntent(m)) rebroadcast = s.intentQueue;
      break;
    case 'userEvent':
      if (s.handleUserEvent(m)) rebroadcast = s.eventQueue;
      break;
    case 'query':
      if (s.queries.receive(m)) rebroadcast = s.queryQueue;
      break;
    case 'queryResponse':
      s.queries.receiveResponse(m);
      break;
    case 'relay':
      s.queries.relay(m);
      break;
    default:
      counters.inc('serf.unexpected_messages');
      return;
  }
  // Rebroadcast the exact received bytes (§3.5: never re-encoded).
  if (rebroadcast) {
    counters.inc(`serf.rebroadcast.${m.type}`);
    rebroadcast.queue({ msg: buf.slice() });
  }
}

function getBroadcasts(s: SerfDelegateHost, overhead: number, limit: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let used = 0;
  for (const q of [s.intentQueue, s.queryQueue, s.eventQueue]) {
    const room = limit - used;
    if (room <= overhead) break;
    for (const m of q.getBroadcasts(overhead, room)) {
      out.push(m);
      used += m.length + overhead;
    }
  }
  return out;
}

/** Our push/pull user state: every member's status time, the left members, the event buffer, the clocks. */
function localState(s: SerfDelegateHost): Uint8Array {
  const statusLTimes = new Map<string, number>();
  const leftMembers: string[] = [];
  for (const st of s.table.values()) {
    statusLTimes.set(st.member.name, st.statusLTime);
    if (st.member.status === 'left') leftMembers.push(st.member.name);
  }
  const events = s.eventBuffer.snapshot().map((slot) => slot
    ? { ltime: slot.ltime, events: slot.events.map((e) => ({ name: e.name, payload: e.payload })) }
    : null);
  return encodeSerfMessage({
    type: 'pushPull', ltime: s.clock.time(), statusLTimes, leftMembers,
    eventLTime: s.eventClock.time(), events, queryLTime: s.queryClock.time(),
  });
}

/**
 * The remote push/pull user state merged as it streams in (serf delegate.go
 * MergeRemoteState; the keys are read by wire/serf-messages.ts
 * readSerfPushPull). The clocks are witnessed and the left members known
 * before the status times arrive: each StatusLTimes entry becomes a leave
 * intent (a left member) or a join intent as it is read. Events are held (at
 * most our event buffer's slots) and handled last, as serf does. Intents for
 * distinct members are independent, so the result is serf's. Left names are
 * remembered for members we know plus at most maxMembers others (beyond:
 * counted, handled as joins, which for a member we do not keep only records a
 * recent intent). A malformed state stops where it breaks (counted): unlike
 * serf, what came before stays merged.
 */
export async function mergeRemoteStateStream(s: SerfDelegateHost, r: RemoteStateReader, join: boolean): Promise<void> {
  const { counters, limits } = s.deps;
  const left = new Set<string>();
  let leftOthers = 0;
  const events: SerfUserEvents[] = [];
  let eventLTime = 0;
  try {
    const isPushPull = await readSerfPushPull(r, {
      ltime: (v) => { if (v > 0) s.clock.witness(v - 1); },
      eventLTime: (v) => { eventLTime = v; if (v > 0) s.eventClock.witness(v - 1); },
      queryLTime: (v) => { if (v > 0) s.queryClock.witness(v - 1); },
      leftMember: (name) => {
        if (s.table.has(name)) left.add(name);
        else if (leftOthers < limits.maxMembers) { left.add(name); leftOthers++; }
        else counters.inc('drop.pushpull.left-members');
      },
      statusLTime: (name, ltime, i) => {
        // serf goes one past the status time: the leave was accepted after it (delegate.go).
        if (left.delete(name)) s.handleNodeLeaveIntent({ ltime: ltime + 1, node: name, prune: false });
        else s.handleNodeJoinIntent({ ltime, node: name });
        if ((i + 1) % STREAM_MERGE_YIELD_EVERY === 0) return new Promise((res) => setImmediate(res));
        return undefined;
      },
      eventsSlot: (slot) => {
        if (events.length < limits.eventBuffer) events.push(slot);
        else counters.inc('drop.pushpull.event-slots');
      },
    });
    if (!isPushPull) {
      counters.inc('serf.decode_errors.pushpull');
      s.log.warn('remote state is not a push/pull message');
      return;
    }
    // Left members without a status time: serf reads a missing map entry as 0 (then + 1).
    for (const name of left) s.handleNodeLeaveIntent({ ltime: 1, node: name, prune: false });
    if (join && s.eventJoinIgnore > 0 && eventLTime > s.eventMinTime) s.eventMinTime = eventLTime;
    for (const slot of events) {
      for (const e of slot.events) s.handleUserEvent({ ltime: slot.ltime, name: e.name, payload: e.payload, cc: false });
    }
  } catch (e) {
    if (e instanceof AgentError && (e.code === 'E_TIMEOUT' || e.code === 'E_IO')) throw e;
    counters.inc('serf.decode_errors.pushpull');
    s.log.warn(`undecodable remote state: ${errorMessage(e)}`);
  }
}

/** Refuse peers serf would refuse (§2.10 + serf merge_delegate.go). */
export function notifyMerge(nodes: MemberNode[]): string | null {
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

/** Memory-bounded mode (brief §8): how much a member is worth keeping (seeds, full nodes, service providers, fresh). */
function retainPriority(s: SerfDelegateHost, n: MemberNode): number {
  if (n.name === s.opts.nodeName) return 1000;
  let p = 0;
  const hp = formatHostPort(n.addr, n.port);
  if (s.seedSet.has(hp) || s.seedSet.has(n.addr)) p += 400;
  const tags = s.decodeMeta(n.meta);
  if (tags['mode'] === 'full') p += 200;
  if (tags['services'] !== undefined) p += 100;
  const age = s.deps.clock.now() - n.stateChange;
  if (n.state === 'alive' && age < 10 * 60_000) p += 50;
  else if (n.state === 'alive' || n.state === 'suspect') p += 20;
  return p;
}
