// Time source and timers for memberlist, injected so tests can run many nodes
// in one process (and so pure logic never touches the global timers directly).

export interface TimerHandle { cancel(): void }

export interface Clock {
  now(): number;
  /** One-shot timer; the handle cancels it. (Real timers keep the process alive: shutdown() cancels them.) */
  after(ms: number, fn: () => void): TimerHandle;
}

/**
 * Milliseconds on the epoch scale that never jump: the wall clock at process
 * start plus monotonic elapsed time. A gateway without a battery-backed clock
 * boots in the past and has its clock stepped by NTP later; timers and
 * intervals computed from Date.now() would then stall (step back) or fire
 * early (step forward), like Go's monotonic time.Time does not.
 */
export function monotonicNow(): number {
  return performance.timeOrigin + performance.now();
}

export const realClock: Clock = {
  now: monotonicNow,
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
};

/** Random integer in [0, n). */
export function randInt(n: number): number {
  return n <= 0 ? 0 : Math.floor(Math.random() * n);
}
