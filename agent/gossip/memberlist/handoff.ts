// Bounded handoff queues for inbound gossip (memberlist net.go handleCommand):
// alive messages go to a high-priority queue, suspect/dead/user to a low one;
// each is capped at HandoffQueueDepth and served LIFO (newest first, like Go),
// drops counted. Processing happens on a later turn of the event loop so a
// burst of datagrams cannot starve timers or the probe loop.

import type { Counters } from '../../obs/counters.ts';

export class HandoffQueue<T> {
  private readonly high: T[] = [];
  private readonly low: T[] = [];
  private scheduled = false;
  private handled = 0;
  private stopped = false;

  constructor(
    private readonly depth: number,
    private readonly counters: Counters,
    private readonly handle: (item: T) => void,
    /** Items handled per event-loop turn before yielding. */
    private readonly batch = 64,
    /** Called after every `batch` items handled (burst heap pacing). */
    private readonly afterBatch?: () => void,
  ) {}

  push(item: T, highPriority: boolean): void {
    if (this.stopped) return;
    const q = highPriority ? this.high : this.low;
    if (q.length >= this.depth) {
      this.counters.inc(highPriority ? 'drop.handoff.alive' : 'drop.handoff.other');
      return;
    }
    q.push(item);
    this.schedule();
  }

  size(): number { return this.high.length + this.low.length; }

  stop(): void { this.stopped = true; this.high.length = 0; this.low.length = 0; }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    for (let i = 0; i < this.batch && !this.stopped; i++) {
      const item = this.high.length ? this.high.pop() : this.low.pop();
      if (item === undefined) break;
      this.handle(item);
      if (++this.handled % this.batch === 0) this.afterBatch?.();
    }
    if (this.size() > 0 && !this.stopped) this.schedule();
  }
}
