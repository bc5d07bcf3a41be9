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
// * Bounded: beyond `maxDepth` the most-transmitted (then oldest) entries are
//   dropped and counted, so memory stays flat whatever the gossip rate.

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
  readonly msg: Uint8Array;
  readonly onDone: (() => void) | undefined;
  transmits: number;
}

/** memberlist util.go retransmitLimit: mult × ceil(log10(n + 1)). */
export function retransmitLimit(retransmitMult: number, numNodes: number): number {
  const scale = Math.ceil(Math.log10(Math.max(0, numNodes) + 1));
  return retransmitMult * scale;
}

export class TransmitLimitedQueue {
  private readonly opts: TransmitLimitedQueueOptions;
  /** Insertion-ordered: iteration order = oldest first. */
  private readonly entries = new Map<number, Entry>();
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
    const e: Entry = { id: this.nextId++, key: b.key, msg: b.msg, onDone: b.onDone, transmits: 0 };
    this.entries.set(e.id, e);
    if (e.key !== undefined) this.byKey.set(e.key, e);
    if (this.entries.size > this.opts.maxDepth) this.dropOne();
    this.opts.onQueued?.();
  }

  /** Over depth by one: a linear scan for the most transmitted, oldest entry (no sort per insert). */
  private dropOne(): void {
    let victim: Entry | undefined;
    for (const e of this.entries.values()) {
      if (!victim || e.transmits > victim.transmits) victim = e; // ties: first seen = oldest
    }
    if (victim) {
      this.remove(victim);
      this.opts.counters?.inc(`drop.bcast.${this.opts.name}`);
    }
  }

  /**
   * Messages to piggyback: each costs `len + overhead` bytes, the total stays <= limit.
   * Each returned message counts as one transmission.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    if (this.entries.size === 0) return [];
    const transmitLimit = retransmitLimit(this.opts.retransmitMult, this.opts.numNodes());
    // Order: transmits asc, length desc, id desc (newest). Greedy fill in that
    // order equals memberlist's "per tier, largest that fits, then newest".
    const sorted = [...this.entries.values()].sort(
      (a, b) => a.transmits - b.transmits || b.msg.length - a.msg.length || b.id - a.id,
    );
    let used = 0;
    const out: Uint8Array[] = [];
    for (const e of sorted) {
      const free = limit - used - overhead;
      if (free <= 0) break;
      if (e.msg.length > free) continue;
      used += overhead + e.msg.length;
      out.push(e.msg);
      e.transmits++;
      if (e.transmits >= transmitLimit) this.remove(e);
    }
    return out;
  }

  numQueued(): number {
    return this.entries.size;
  }

  /** Drops everything (each entry's onDone is called). */
  reset(): void {
    for (const e of [...this.entries.values()]) this.remove(e);
  }

  /** Keeps at most `maxRetain` entries, dropping the most transmitted (then oldest) first. */
  prune(maxRetain: number): void {
    const excess = this.entries.size - maxRetain;
    if (excess <= 0) return;
    const victims = [...this.entries.values()]
      .sort((a, b) => b.transmits - a.transmits || a.id - b.id)
      .slice(0, excess);
    for (const v of victims) this.remove(v);
    this.opts.counters?.inc(`drop.bcast.${this.opts.name}`, victims.length);
  }

  private remove(e: Entry): void {
    if (!this.entries.delete(e.id)) return;
    if (e.key !== undefined && this.byKey.get(e.key) === e) this.byKey.delete(e.key);
    if (e.onDone) {
      try { e.onDone(); } catch { /* a callback must not break the queue */ }
    }
  }
}
