// Time source and timers for the gossip stack (memberlist and serf alike),
// injected so tests can run many nodes in one process and pure logic never
// touches the global timers directly.

export interface TimerHandle { cancel(): void }

export interface Clock {
  /** Milliseconds on the epoch scale (realClock: monotonicNow). */
  now(): number;
  /** One-shot timer; the handle cancels it. */
  after(ms: number, fn: () => void): TimerHandle;
  /** Repeating timer. */
  every(ms: number, fn: () => void): TimerHandle;
  sleep(ms: number): Promise<void>;
}

/**
 * Milliseconds on the epoch scale that never jump: the wall clock at process
 * start plus monotonic elapsed time. A gateway without a battery-backed clock
 * boots in the past and has its clock stepped by NTP later; timers and
 * intervals computed from Date.now() would then stall (step back) or fire
 * early (step forward), like Go's monotonic time.Time does not.
 */
export function monotonicNow(): number {
  const [sec, ns] = process.hrtime();
  const t = sec * 1e3 + ns / 1e6;
  if (Number.isNaN(monotonicOrigin)) monotonicOrigin = Date.now() - t;
  return monotonicOrigin + t;
}

// Wall-clock time at the monotonic clock's zero, taken at the first call (then
// never again: the wall clock may be stepped later). process.hrtime(), not
// performance.now(): the `performance` global loads Node's perf_hooks (eight
// modules) on first touch, ~0.2 MB for the agent's life (issue 17 point 2), and
// is no faster.
let monotonicOrigin = NaN;

/** For a run from a V8 startup snapshot: the origin taken at build time is not this run's. */
export function resetMonotonicOrigin(): void {
  monotonicOrigin = NaN;
}

/**
 * A clock on the system timers. `unref`: its timers never keep the process
 * alive (an agent lives on its sockets, and shutdown() cancels what is left);
 * without, a memberlist used alone over the memory transport (tests, tools)
 * keeps running until its shutdown. sleep() always keeps the process alive: a
 * caller awaiting it (graceful leave) must get its answer.
 */
export function systemClock(opts: { unref: boolean }): Clock {
  const hold = <T extends { unref?: () => unknown }>(t: T): T => { if (opts.unref) t.unref?.(); return t; };
  return {
    now: monotonicNow,
    after(ms, fn) {
      const t = hold(setTimeout(fn, Math.max(0, ms)));
      return { cancel: () => clearTimeout(t) };
    },
    every(ms, fn) {
      const t = hold(setInterval(fn, ms));
      return { cancel: () => clearInterval(t) };
    },
    sleep: (ms) => new Promise((resolve) => { setTimeout(resolve, ms); }),
  };
}

/** The agent's clock (serf and memberlist): timers that do not keep the process alive. */
export const realClock: Clock = systemClock({ unref: true });
