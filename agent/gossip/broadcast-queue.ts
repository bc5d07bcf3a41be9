// TransmitLimitedQueue: the piggyback queue of gossip broadcasts, with the
// semantics of memberlist 0.2.2 queue.go (used by memberlist itself and by the
// three serf queues: intents, events, queries).
//
// * Every message is sent at most `retransmitMult × ceil(log10(n + 1))` times
//   (n = estimated cluster size), the SWIM "lambda log n" dissemination bound.
// * Selection order: fewest transmissions first, then the largest message that
//   still fits the remaining space, then the newest.
// * A message queued with a `key` replaces a still-queued message with the same
//   key (memberlist keys alive/suspect/dead by node name).
// * Bounded: beyond `maxDepth` the most-transmitted (then longest-waiting)
//   entries are dropped and counted, so memory stays flat whatever the gossip rate.

import type { Counters } from '../obs/counters.ts';

export interface QueuedBroadcast {
  /** Entries with the same key invalidate older ones. */
  key?: string;
  msg: Uint8Array;
  /** Called once when the entry leaves the queue (sent enough, invalidated, dropped or reset). */
  onDone?: () => void;
}

export interface TransmitLimitedQueueOptions {
  numNodes: () => number;
  retransmitMult: number;
  maxDepth: number;
  counters?: Counters;
  /** Used in counter names: `drop.bcast.<name>`. */
  name: string;
  /** Called after every queue(): lets an idle gossip loop wake up (see memberlist.ts). */
  onQueued?: () => void;
}

interface Entry {
  readonly id: number;
  readonly key: string | undefined;
  /**
   * The message's bytes as a one-byte (latin1) string, a copy taken when it is
   * queued. A queue at its cap holds 1,024 of them for up to a minute after a
   * growth burst (every new member's alive is relayed), and a Uint8Array of
   * ~100 bytes costs ~430 bytes there (the view, its ArrayBuffer, and V8's
   * malloc'd backing store and bookkeeping); a string of the same bytes lives
   * on the V8 heap alone, 16 bytes above its length (issue 17 point 2).
   * Each transmission turns it back into bytes (a pooled Buffer, short-lived).
   */
  readonly msg: string;
  readonly onDone: (() => void) | undefined;
  transmits: number;
}

/** The bytes as a latin1 string: one character per byte, 0-255, so every byte survives. */
function toLatin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** memberlist util.go retransmitLimit: mult × ceil(log10(n + 1)). */
export function retransmitLimit(retransmitMult: number, numNodes: number): number {
  const scale = Math.ceil(Math.log10(Math.max(0, numNodes) + 1));
  return retransmitMult * scale;
}

export class TransmitLimitedQueue {
  private readonly opts: TransmitLimitedQueueOptions;
  /**
   * Entries by transmit count: tiers[t] holds the entries sent t times, in the
   * order they reached that tier. Dropping (most transmitted, then first in its
   * tier) is O(1) and selection visits only the tiers it needs — a full queue
   * during a burst must not be rescanned per insert (that alone allocated
   * ~40 KB of iterator garbage per dropped message).
   */
  private readonly tiers: Map<number, Entry>[] = [];
  private size = 0;
  private readonly byKey = new Map<string, Entry>();
  private nextId = 1;

  constructor(opts: TransmitLimitedQueueOptions) {
    if (!(opts.maxDepth >= 1)) throw new RangeError('maxDepth must be >= 1');
    this.opts = opts;
  }

  queue(b: QueuedBroadcast): void {
    if (b.key !== undefined) {
      const old = this.byKey.get(b.key);
      if (old) {
        this.remove(old);
        this.opts.counters?.inc(`bcast.${this.opts.name}.invalidated`);
      }
    }
    const e: Entry = { id: this.nextId++, key: b.key, msg: toLatin1(b.msg), onDone: b.onDone, transmits: 0 };
    this.tier(0).set(e.id, e);
    this.size++;
    if (e.key !== undefined) this.byKey.set(e.key, e);
    if (this.size > this.opts.maxDepth) this.dropOne();
    this.opts.onQueued?.();
  }

  private tier(t: number): Map<number, Entry> {
    let m = this.tiers[t];
    if (!m) {
      for (let i = this.tiers.length; i <= t; i++) this.tiers.push(new Map());
      m = this.tiers[t]!;
    }
    return m;
  }

  /** The most transmitted entry that reached its tier first (undefined when empty). */
  private victim(): Entry | undefined {
    for (let t = this.tiers.length - 1; t >= 0; t--) {
      const m = this.tiers[t]!;
      if (m.size > 0) return m.values().next().value as Entry;
    }
    return undefined;
  }

  /** Over depth by one: drop the most transmitted, longest-waiting entry. */
  private dropOne(): void {
    const v = this.victim();
    if (v) {
      this.remove(v);
      this.opts.counters?.inc(`drop.bcast.${this.opts.name}`);
    }
  }

  /**
   * Messages to piggyback: each costs `len + overhead` bytes, the total stays <= limit.
   * Each returned message counts as one transmission.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    if (this.size === 0) return [];
    const transmitLimit = retransmitLimit(this.opts.retransmitMult, this.opts.numNodes());
    let used = 0;
    const out: Uint8Array[] = [];
    const sent: Entry[] = [];
    // Tier by tier (fewest transmits first); inside a tier the largest that
    // still fits, then the newest — memberlist's order. Only the tiers reached
    // before the packet is full are looked at.
    for (let t = 0; t < this.tiers.length && limit - used - overhead > 0; t++) {
      const m = this.tiers[t]!;
      if (m.size === 0) continue;
      const inTier = Array.from(m.values()).sort((a, b) => b.msg.length - a.msg.length || b.id - a.id);
      for (let i = 0; i < inTier.length; i++) {
        const e = inTier[i]!;
        const free = limit - used - overhead;
        if (free <= 0) break;
        if (e.msg.length > free) continue;
        used += overhead + e.msg.length;
        out.push(Buffer.from(e.msg, 'latin1'));
        sent.push(e);
      }
    }
    if (sent.length > 0) this.opts.counters?.inc(`bcast.${this.opts.name}.transmits`, sent.length);
    // Move the sent entries up one tier (after the scan, so none is seen twice).
    for (let i = 0; i < sent.length; i++) {
      const e = sent[i]!;
      this.tiers[e.transmits]!.delete(e.id);
      e.transmits++;
      if (e.transmits >= transmitLimit) {
        this.size--;
        this.finish(e);
      } else {
        this.tier(e.transmits).set(e.id, e);
      }
    }
    return out;
  }

  numQueued(): number {
    return this.size;
  }

  /** Drops everything (each entry's onDone is called). */
  reset(): void {
    const all: Entry[] = [];
    for (const m of this.tiers) for (const e of m.values()) all.push(e);
    for (const e of all) this.remove(e);
  }

  /** Keeps at most `maxRetain` entries, dropping the most transmitted (then longest-waiting) first. */
  prune(maxRetain: number): void {
    const excess = this.size - maxRetain;
    if (excess <= 0) return;
    for (let i = 0; i < excess; i++) {
      const v = this.victim();
      if (!v) break;
      this.remove(v);
    }
    this.opts.counters?.inc(`drop.bcast.${this.opts.name}`, excess);
  }

  private remove(e: Entry): void {
    const m = this.tiers[e.transmits];
    if (!m || !m.delete(e.id)) return;
    this.size--;
    this.finish(e);
  }

  private finish(e: Entry): void {
    if (e.key !== undefined && this.byKey.get(e.key) === e) this.byKey.delete(e.key);
    if (e.onDone) {
      try { e.onDone(); } catch { /* a callback must not break the queue */ }
    }
  }
}
