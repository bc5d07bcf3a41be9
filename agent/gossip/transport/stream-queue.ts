// Shared read side of a Stream: a one-chunk-ahead queue with a deadline, used
// by both transports. The producer pauses while a chunk is pending (backpressure),
// so a stream never buffers more than one chunk beyond what the parser holds.

import { AgentError } from '../../errors.ts';

export class ChunkQueue {
  private chunks: Uint8Array[] = [];
  private ended = false;
  private failure: AgentError | null = null;
  private waiter: { resolve: (c: Uint8Array | null) => void; reject: (e: Error) => void } | null = null;
  private deadlineTimer: ReturnType<typeof setTimeout> | null = null;
  private deadlineAt = 0;
  /** When set, time between handing out a chunk and the next read() is the reader's and moves the deadline. */
  private readerTimeExcluded = false;
  private handedOutAt = 0;

  constructor(private readonly onDrained: () => void, private readonly onDeadline: () => void) {}

  push(c: Uint8Array): void {
    if (this.ended || this.failure) return;
    if (this.waiter) { const w = this.waiter; this.waiter = null; w.resolve(c); return; }
    this.chunks.push(c);
  }

  get pending(): number { return this.chunks.length; }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.waiter && this.chunks.length === 0) { const w = this.waiter; this.waiter = null; w.resolve(null); }
    this.clearDeadline();
  }

  fail(e: AgentError): void {
    if (this.failure || this.ended) return;
    this.failure = e;
    if (this.waiter) { const w = this.waiter; this.waiter = null; w.reject(e); }
    this.clearDeadline();
  }

  read(): Promise<Uint8Array | null> {
    if (this.readerTimeExcluded && this.handedOutAt > 0) {
      this.extendDeadline(Date.now() - this.handedOutAt);
      this.handedOutAt = 0;
    }
    const c = this.chunks.shift();
    if (c) {
      if (this.chunks.length === 0) this.onDrained();
      this.markHandedOut();
      return Promise.resolve(c);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(null);
    if (this.waiter) return Promise.reject(new AgentError('E_STATE', 'concurrent read on stream'));
    this.onDrained();
    return new Promise((resolve, reject) => {
      this.waiter = { resolve: (v) => { this.markHandedOut(); resolve(v); }, reject };
    });
  }

  private markHandedOut(): void {
    if (this.readerTimeExcluded) this.handedOutAt = Date.now();
  }

  /**
   * From now on the deadline only counts time spent waiting for the peer: the
   * time the reader spends between chunks (merging a streamed push/pull, which
   * memberlist does after the exchange) is added back to it.
   */
  excludeReaderTime(): void {
    this.readerTimeExcluded = true;
    this.handedOutAt = Date.now();
  }

  setDeadline(atMs: number): void {
    this.clearDeadline();
    this.deadlineAt = atMs;
    const ms = Math.max(0, atMs - Date.now());
    this.deadlineTimer = setTimeout(() => {
      if (this.readerTimeExcluded && !this.waiter && this.handedOutAt > 0) {
        // The reader is still busy with what it was given: that time is its own.
        const now = Date.now();
        this.setDeadline(this.deadlineAt + Math.max(1, now - this.handedOutAt));
        this.handedOutAt = now;
        return;
      }
      this.deadlineTimer = null;
      this.fail(new AgentError('E_TIMEOUT', 'stream deadline exceeded'));
      this.onDeadline();
    }, ms);
  }

  private extendDeadline(byMs: number): void {
    if (this.deadlineTimer && byMs > 0) this.setDeadline(this.deadlineAt + byMs);
  }

  clearDeadline(): void {
    if (this.deadlineTimer) { clearTimeout(this.deadlineTimer); this.deadlineTimer = null; }
  }
}
