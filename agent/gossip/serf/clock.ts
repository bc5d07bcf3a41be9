// Time source and timers for the serf layer, injected so tests can run many
// nodes in one process (and could drive time by hand).

import { monotonicNow } from '../memberlist/clock.ts';

export interface TimerHandle { cancel(): void }

export interface SerfClock {
  now(): number;
  /** One-shot timer; the handle cancels it. Timers never keep the process alive. */
  after(ms: number, fn: () => void): TimerHandle;
  /** Repeating timer. */
  every(ms: number, fn: () => void): TimerHandle;
  sleep(ms: number): Promise<void>;
}

export const realClock: SerfClock = {
  // Monotonic on the epoch scale (see memberlist/clock.ts): an NTP step must not stall the reaper or the intents' expiry.
  now: monotonicNow,
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref?.();
    return { cancel: () => clearInterval(t) };
  },
  // Not unref-ed: a caller awaiting a sleep (graceful leave) must keep the process alive.
  sleep: (ms) => new Promise((resolve) => { setTimeout(resolve, ms); }),
};
