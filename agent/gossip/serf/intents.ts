// Join/leave intents that arrived for members we do not know yet (serf's
// recentIntents, SERF-PROTOCOL.md §3.5). When memberlist later reports the node,
// the newest buffered intent decides its status LTime (and "leaving").
// Bounded by limits.recentIntents: the oldest entry is evicted and counted.

export type IntentType = 'join' | 'leave';
export interface Intent { type: IntentType; ltime: number; wallTime: number }

export class RecentIntents {
  // Insertion-ordered: the first key is the oldest entry.
  private readonly byNode = new Map<string, Intent>();

  constructor(private readonly max: number, private readonly onEvict: () => void) {}

  /** Stores the intent if newer than the one held for the node; returns whether it was stored. */
  upsert(node: string, type: IntentType, ltime: number, now: number): boolean {
    const prev = this.byNode.get(node);
    if (prev && ltime <= prev.ltime) return false;
    this.byNode.delete(node);
    this.byNode.set(node, { type, ltime, wallTime: now });
    while (this.byNode.size > this.max) {
      const oldest = this.byNode.keys().next().value as string;
      this.byNode.delete(oldest);
      this.onEvict();
    }
    return true;
  }

  /** The buffered intent of that type for the node, if any. */
  get(node: string, type: IntentType): number | undefined {
    const i = this.byNode.get(node);
    return i && i.type === type ? i.ltime : undefined;
  }

  delete(node: string): void { this.byNode.delete(node); }

  /** Drops intents older than `maxAgeMs` (serf: RecentIntentTimeout, 5 min). */
  reap(now: number, maxAgeMs: number): number {
    let n = 0;
    for (const [node, i] of this.byNode) {
      if (now - i.wallTime > maxAgeMs) { this.byNode.delete(node); n++; }
    }
    return n;
  }

  get size(): number { return this.byNode.size; }
}
