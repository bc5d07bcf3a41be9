// Keeps the V8 heap from ballooning during a burst (edge mode).
//
// A 10,000-member push/pull or a flood of alive messages allocates ~10 KB of
// short-lived objects per member while only ~12 MB stay live. V8 lets its old
// generation fill with that garbage up to an allocation limit derived from the
// last heap size (measured: committed heap 19-22 MB for 11 MB live) before it
// collects, and the pages it committed stay resident long after — that was the
// burst peak of RSS. The hot paths of a burst (each push/pull merge window,
// every batch of inbound gossip) call `pace()`; when the heap grew by more than
// `stepBytes` since the last collection (old generation: promoted garbage)
// it runs a major GC there and then
// (~5-10 ms on a 12 MB heap), so the committed heap stays near live + step.
// Counted as memory.paced_gc. A steady agent never grows that much between
// two of V8's own GCs, so it never paces.
import { getHeapSpaceStatistics } from 'node:v8';
import type { Counters } from '../obs/counters.ts';
import { exposedGc } from './memory-governor.ts';

/**
 * Bytes in use in V8's old generation (old space + large objects): what a
 * burst's promoted garbage fills. The young generation is left out: it is
 * collected by scavenges on its own and would make the measure jitter by a
 * semi-space.
 */
export function oldGenerationUsed(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name === 'old_space' || s.space_name === 'large_object_space') used += s.space_used_size;
  }
  return used;
}

export interface HeapPacerOptions {
  /** Old-generation growth (bytes) since the last collection that triggers one; 0 = never. */
  stepBytes: number;
  counters: Counters;
  /** Injected for tests; default oldGenerationUsed. */
  heapUsed?: () => number;
  /** Injected for tests; default a synchronous major GC. */
  collect?: () => void;
}

export class HeapPacer {
  private base = -1;
  private readonly heapUsed: () => number;
  private readonly collect: () => void;

  constructor(private readonly o: HeapPacerOptions) {
    this.heapUsed = o.heapUsed ?? oldGenerationUsed;
    this.collect = o.collect ?? (() => exposedGc()()); // a full, synchronous major GC
  }

  /** Called from burst hot paths; collects when the heap grew by more than the step. */
  pace = (): void => {
    if (this.o.stepBytes <= 0) return;
    const used = this.heapUsed();
    if (this.base < 0 || used < this.base) { this.base = used; return; }
    if (used - this.base <= this.o.stepBytes) return;
    this.collect();
    this.base = this.heapUsed();
    this.o.counters.inc('memory.paced_gc');
  };
}
