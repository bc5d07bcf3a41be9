// Lifeguard suspicion timer (memberlist suspicion.go). A suspect node is
// declared dead after a timeout that starts at `max` and shrinks toward `min`
// logarithmically with each independent confirmation (a suspect message from
// a distinct node), so well-confirmed failures are detected fast and lone
// accusations give the accused time to refute.

import type { Clock, TimerHandle } from '../clock.ts';

/** min = SuspicionMult × max(1, log10(max(1, n))) × interval (log factor truncated to 1/1000). */
export function suspicionTimeout(suspicionMult: number, n: number, intervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.floor((suspicionMult * Math.floor(nodeScale * 1000) * intervalMs) / 1000);
}

/** Timeout after `c` confirmations out of `k` expected. */
export function remainingSuspicionTime(c: number, k: number, elapsedMs: number, minMs: number, maxMs: number): number {
  const frac = k > 0 ? Math.log(c + 1) / Math.log(k + 1) : 1;
  const raw = maxMs - frac * (maxMs - minMs);
  const timeout = Math.max(Math.floor(raw), minMs);
  return timeout - elapsedMs;
}

export class Suspicion {
  private n = 0;
  private readonly confirmers = new Set<string>();
  private readonly start: number;
  private timer: TimerHandle | null = null;
  private fired = false;

  constructor(
    from: string,
    private readonly k: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly clock: Clock,
    private readonly onTimeout: (confirmations: number) => void,
  ) {
    // The originator of the suspicion is not a confirmation.
    this.confirmers.add(from);
    this.start = clock.now();
    const timeout = k < 1 ? minMs : maxMs;
    this.timer = clock.after(timeout, () => this.fire());
  }

  /** Counts a new distinct confirmer; returns true if it was new (then re-broadcast). */
  confirm(from: string): boolean {
    if (this.fired || this.n >= this.k) return false;
    if (this.confirmers.has(from)) return false;
    this.confirmers.add(from);
    this.n++;
    const remaining = remainingSuspicionTime(this.n, this.k, this.clock.now() - this.start, this.minMs, this.maxMs);
    this.timer?.cancel();
    if (remaining > 0) this.timer = this.clock.after(remaining, () => this.fire());
    else this.fire();
    return true;
  }

  cancel(): void {
    this.fired = true;
    this.timer?.cancel();
    this.timer = null;
  }

  private fire(): void {
    if (this.fired) return;
    this.fired = true;
    this.timer = null;
    this.onTimeout(this.n);
  }
}
