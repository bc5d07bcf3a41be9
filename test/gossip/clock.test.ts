// The real clock runs on monotonic time on the epoch scale: close to the wall
// clock at start, never going back, and untouched by a wall-clock step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { monotonicNow, realClock } from '../../agent/gossip/clock.ts';

test('monotonicNow is on the epoch scale and never goes back', () => {
  assert.ok(Math.abs(monotonicNow() - Date.now()) < 1000, 'near the wall clock while it was not stepped');
  let last = monotonicNow();
  for (let i = 0; i < 100_000; i++) {
    const t = monotonicNow();
    assert.ok(t >= last);
    last = t;
  }
  assert.is(realClock.now, monotonicNow);
});

test('a wall-clock step does not move it (Date.now replaced by a clock one hour behind)', () => {
  const real = Date.now;
  const before = monotonicNow();
  Date.now = () => real() - 3_600_000;
  try {
    const after = monotonicNow();
    assert.ok(after >= before && after - before < 1000, `moved by ${after - before} ms`);
  } finally {
    Date.now = real;
  }
});

test.run();
