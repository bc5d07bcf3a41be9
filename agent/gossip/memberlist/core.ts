// Shared state of one memberlist node and its UDP send primitives. The
// concerns live in their own modules and operate on this core:
//   state.ts (alive/suspect/dead/refute), probe.ts (failure detection),
//   gossip.ts (piggyback + gossip loop), push-pull.ts (state exchange),
//   packet-handler.ts / stream-handler.ts (inbound), memberlist.ts (public API).

import type { Limits } from '../../config/limits.ts';
import type { Counters } from '../../obs/counters.ts';
import type { Logger } from '../../obs/log.ts';
import { TransmitLimitedQueue } from '../broadcast-queue.ts';
import type { GossipProfile } from '../profiles.ts';
import type { Addr, Transport } from '../transport/types.ts';
import { encryptionOverhead, type Keyring } from '../wire/keyring.ts';
import { encodeMessage, ipToBytes, META_MAX_SIZE, type MemberlistMessage } from '../wire/memberlist-messages.ts';
import { COMPOUND_HEADER_OVERHEAD, COMPOUND_OVERHEAD_PER_PART, encodePacket } from '../wire/packet.ts';
import { Awareness } from './awareness.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { systemClock } from '../clock.ts';
import {
  PROTOCOL_CUR, PROTOCOL_MAX, PROTOCOL_MIN, UDP_BUFFER_SIZE, type MemberlistConfig,
} from './config.ts';
import { HandoffQueue } from './handoff.ts';
import { NodeTable, publicView, type NodeEntry } from './node-table.ts';
import type { Suspicion } from './suspicion.ts';

/** A memberlist used alone (no clock given) keeps the process alive with its timers until shutdown. */
const MEMBERLIST_ALONE_CLOCK = systemClock({ unref: false });

/** Packets smaller than this are sent uncompressed without trying LZW (see rawSend). */
export const COMPRESS_MIN_BYTES = 512;

/** A serf user message carried in a compound costs one more byte: its type byte. */
const USER_MSG_OVERHEAD = 1;

export interface AckHandler {
  onAck: (payload: Uint8Array | null, at: number) => void;
  onNack: () => void;
  timer: TimerHandle;
}

export interface InboundGossip { msg: MemberlistMessage; from: Addr }

export class Core {
  readonly cfg: MemberlistConfig;
  readonly name: string;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly counters: Counters;
  readonly limits: Limits;
  readonly profile: GossipProfile;
  readonly table: NodeTable;
  readonly broadcasts: TransmitLimitedQueue;
  readonly awareness: Awareness;
  readonly handoff: HandoffQueue<InboundGossip>;
  readonly ackHandlers = new Map<number, AckHandler>();
  readonly suspicions = new Map<string, Suspicion>();
  /**
   * Edge mode: name → incarnation of unknown (not stored) nodes whose gossip we
   * relayed, so one alive/dead is not re-relayed on every copy we hear. Bounded
   * by limits.maxMembers (oldest forgotten first).
   */
  readonly relayedUnknown = new Map<string, number>();
  /** Largest node count a peer announced in a push/pull (edge mode keeps fewer). */
  clusterSizeHint = 0;
  private seqNo = 0;
  private incarnation = 0;
  leaving = false;
  stopped = false;
  inboundPushPulls = 0;
  /** The most bytes any push/pull stream held at once (stats: memberlist.pushpull-peak-held-bytes). */
  pushPullPeakHeld = 0;
  /** Resolved once our leave dead message has been sent the retransmit limit. */
  leaveBroadcastDone: (() => void) | null = null;

  constructor(cfg: MemberlistConfig, handleGossip: (g: InboundGossip) => void) {
    this.cfg = cfg;
    this.name = cfg.name;
    this.transport = cfg.transport;
    this.clock = cfg.clock ?? MEMBERLIST_ALONE_CLOCK;
    this.log = cfg.logger;
    this.counters = cfg.counters;
    this.limits = cfg.limits;
    this.profile = cfg.profile;
    this.awareness = new Awareness(cfg.profile.awarenessMaxMultiplier);
    this.table = new NodeTable(
      cfg.name,
      () => this.limits.maxMembers,
      cfg.counters,
      () => cfg.retention,
      (n) => this.onEvicted(n),
    );
    this.broadcasts = new TransmitLimitedQueue({
      numNodes: () => this.estimateNumNodes(),
      retransmitMult: cfg.profile.retransmitMult,
      maxDepth: cfg.limits.broadcastQueueDepth,
      counters: cfg.counters,
      name: 'memberlist',
      onQueued: () => this.onBroadcastQueued(),
    });
    this.handoff = new HandoffQueue<InboundGossip>(cfg.limits.handoffQueueDepth, cfg.counters, handleGossip, 64, cfg.pace);
  }

  nextSeqNo(): number {
    this.seqNo = (this.seqNo + 1) >>> 0;
    return this.seqNo;
  }

  nextIncarnation(): number {
    this.incarnation = (this.incarnation + 1) >>> 0;
    return this.incarnation;
  }

  /** Jumps our incarnation forward by `offset` (refuting an accusation at a higher incarnation). */
  skipIncarnation(offset: number): number {
    this.incarnation = (this.incarnation + offset) >>> 0;
    return this.incarnation;
  }

  currentIncarnation(): number { return this.incarnation; }

  advertise(): { addr: string; port: number; addrBytes: Uint8Array } {
    const local = this.transport.advertiseAddr ? this.transport.advertiseAddr() : this.transport.localAddr();
    const addr = this.cfg.advertiseAddr ?? local.addr;
    const port = this.cfg.advertisePort ?? local.port;
    return { addr, port, addrBytes: ipToBytes(addr) };
  }

  /** Our Vsn bytes: [pmin, pmax, pcur, dmin, dmax, dcur]. */
  vsn(): Uint8Array {
    const d = this.cfg.delegateVersions;
    return Uint8Array.of(PROTOCOL_MIN, PROTOCOL_MAX, PROTOCOL_CUR, d.min, d.max, d.cur);
  }

  keyring(): Keyring | undefined {
    const k = this.cfg.keyring;
    return k && k.isEnabled() ? k : undefined;
  }

  /** Node meta from the delegate, checked against the 512-byte protocol limit. */
  localMeta(): Uint8Array {
    const d = this.cfg.delegate;
    if (!d) return new Uint8Array(0);
    const meta = d.nodeMeta(META_MAX_SIZE);
    if (meta.length > META_MAX_SIZE) {
      this.counters.inc('error.meta-too-large');
      this.log.error(`node meta of ${meta.length} bytes exceeds ${META_MAX_SIZE}; sending empty meta`);
      return new Uint8Array(0);
    }
    return meta;
  }

  /** memberlist estNumNodes: size of our table, or what peers told us if our table is capped. */
  estimateNumNodes(): number {
    return Math.max(this.table.size(), this.clusterSizeHint, 1);
  }

  /** Nodes other than self that are neither dead nor left (memberlist anyAlive). */
  anyAlive(): boolean {
    for (const n of this.table.values()) {
      if (n.name !== this.name && (n.state === 'alive' || n.state === 'suspect')) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- broadcast

  /** Queues a gossip message about `nodeName` (a newer one replaces an older one). */
  broadcast(nodeName: string, msg: MemberlistMessage, onDone?: () => void): void {
    this.broadcasts.queue({ key: nodeName, msg: encodeMessage(msg), ...(onDone ? { onDone } : {}) });
  }

  /** Set by the node: wakes the gossip loop when a broadcast is queued. */
  onBroadcastQueued: () => void = () => {};

  /**
   * Whether a gossip tick could have anything to send. True when the delegate
   * cannot tell (it has no pendingBroadcasts), so the loop then never sleeps.
   */
  hasPendingBroadcasts(): boolean {
    if (this.broadcasts.numQueued() > 0) return true;
    const d = this.cfg.delegate;
    if (!d) return false;
    if (!d.pendingBroadcasts) return true;
    try { return d.pendingBroadcasts() > 0; } catch { return true; }
  }

  /** Pending broadcasts for a packet with `limit` free bytes: memberlist's own first, then the delegate's. */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const out = this.broadcasts.getBroadcasts(overhead, limit);
    let used = 0;
    for (const m of out) used += overhead + m.length;
    const d = this.cfg.delegate;
    if (d && limit - used > overhead + USER_MSG_OVERHEAD) {
      let user: Uint8Array[] = [];
      try { user = d.getBroadcasts(overhead + USER_MSG_OVERHEAD, limit - used); } catch (e) {
        this.counters.inc('error.delegate');
        this.log.error(`delegate getBroadcasts failed: ${(e as Error).message}`);
      }
      for (const u of user) {
        const m = new Uint8Array(1 + u.length);
        m[0] = 8; // user message type byte
        m.set(u, 1);
        out.push(m);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- UDP send

  /** Bytes available for piggybacking next to a message of `msgLen` bytes. */
  private piggybackRoom(msgLen: number): number {
    let avail = UDP_BUFFER_SIZE - msgLen - COMPOUND_HEADER_OVERHEAD;
    if (this.keyring()) avail -= encryptionOverhead(1);
    return avail;
  }

  /**
   * memberlist sendMsg: a unicast message (ping, ack, indirect ping, nack) with
   * pending broadcasts piggybacked when any fit. No CRC: the destination is
   * given by address, which memberlist 0.2.2 cannot map to a node.
   */
  sendMsg(to: Addr, msg: MemberlistMessage): void {
    const buf = encodeMessage(msg);
    const extra = this.getBroadcasts(COMPOUND_OVERHEAD_PER_PART, this.piggybackRoom(buf.length));
    this.rawSend(to, extra.length ? [buf, ...extra] : [buf], undefined);
  }

  /** Room for a gossip packet (no leading message). */
  gossipRoom(): number {
    let avail = UDP_BUFFER_SIZE - COMPOUND_HEADER_OVERHEAD;
    if (this.keyring()) avail -= encryptionOverhead(1);
    return avail;
  }

  /**
   * memberlist rawSendMsgPacket: compound (if several parts) → compress (if
   * smaller) → CRC (only when the destination node is known and its PMax ≥ 5)
   * → encrypt.
   *
   * One difference: packets under COMPRESS_MIN_BYTES are not run through LZW
   * at all. memberlist tries every packet and keeps the compressed form only
   * when it is shorter, which for a single ping, ack, alive or suspect (even
   * with 60-character Cloudy node names: 150-270 bytes) it never is (LZW's
   * 9-bit codes + the 13-byte compress wrapper); trying cost ~6% of an idle
   * agent's CPU. Both forms are valid memberlist packets for every receiver.
   */
  rawSend(to: Addr, parts: Uint8Array[], node: NodeEntry | undefined): void {
    if (this.stopped) return;
    let pkt: Uint8Array;
    try {
      const keyring = this.keyring();
      let size = 0;
      for (const p of parts) size += p.length;
      pkt = encodePacket(parts, {
        compress: this.cfg.compression && size >= COMPRESS_MIN_BYTES,
        crc: node !== undefined && node.pMax >= 5,
        ...(keyring ? { keyring } : {}),
      });
    } catch (e) {
      this.counters.inc('error.encode-packet');
      this.log.error(`cannot encode packet to ${to.addr}:${to.port}: ${(e as Error).message}`);
      return;
    }
    this.counters.inc('gossip.udp.sent');
    this.transport.sendPacket(to, pkt);
  }

  // ---------------------------------------------------------------- ack handlers

  /**
   * Registers callbacks for acks/nacks with `seqNo`. The handler lives until the
   * first ack or `timeoutMs`; on timeout `onTimeout` runs (if given).
   */
  setAckHandler(seqNo: number, onAck: AckHandler['onAck'], onNack: () => void, timeoutMs: number, onTimeout?: () => void): void {
    const timer = this.clock.after(timeoutMs, () => {
      if (this.ackHandlers.get(seqNo)?.timer === timer) this.ackHandlers.delete(seqNo);
      onTimeout?.();
    });
    this.ackHandlers.get(seqNo)?.timer.cancel();
    this.ackHandlers.set(seqNo, { onAck, onNack, timer });
  }

  // ---------------------------------------------------------------- events

  notify(kind: 'join' | 'leave' | 'update', n: NodeEntry): void {
    const ev = this.cfg.events;
    if (!ev) return;
    try {
      const v = publicView(n);
      if (kind === 'join') ev.notifyJoin(v);
      else if (kind === 'leave') ev.notifyLeave(v);
      else ev.notifyUpdate(v);
    } catch (e) {
      this.counters.inc('error.delegate');
      this.log.error(`event delegate ${kind} failed: ${(e as Error).message}`);
    }
  }

  private onEvicted(n: NodeEntry): void {
    this.suspicions.get(n.name)?.cancel();
    this.suspicions.delete(n.name);
    this.log.debug(`evicted ${n.name} (${n.state}) from a full member table`);
    // Its later alive/dead gossip is relayed like that of any unknown node.
    if (!(n.state === 'dead' || n.state === 'left')) this.rememberRelay(n.name, n.incarnation);
    const ev = this.cfg.events;
    try { ev?.notifyEvict?.(publicView(n)); } catch { this.counters.inc('error.delegate'); }
  }

  /** Remembers that we relayed gossip about an unknown node at `incarnation` (bounded). */
  rememberRelay(name: string, incarnation: number): boolean {
    const prev = this.relayedUnknown.get(name);
    if (prev !== undefined && prev >= incarnation) return false;
    this.relayedUnknown.delete(name);
    this.relayedUnknown.set(name, incarnation);
    while (this.relayedUnknown.size > Math.max(16, this.limits.maxMembers)) {
      const oldest = this.relayedUnknown.keys().next().value as string;
      this.relayedUnknown.delete(oldest);
    }
    return true;
  }
}
