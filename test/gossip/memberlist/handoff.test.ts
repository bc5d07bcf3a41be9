import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HandoffQueue } from '../../../agent/gossip/memberlist/handoff.ts';
import { Counters } from '../../../agent/obs/counters.ts';

test('handoff queues are bounded, LIFO, alive first, drops counted', async () => {
  const c = new Counters();
  const seen: string[] = [];
  const q = new HandoffQueue<string>(3, c, (x) => seen.push(x));
  for (const x of ['o1', 'o2', 'o3', 'o4']) q.push(x, false);
  for (const x of ['a1', 'a2', 'a3', 'a4', 'a5']) q.push(x, true);
  assert.is(q.size(), 6);
  assert.is(c.get('drop.handoff.other'), 1);
  assert.is(c.get('drop.handoff.alive'), 2);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(seen, ['a3', 'a2', 'a1', 'o3', 'o2', 'o1']);
  q.stop();
  q.push('late', true);
  await new Promise((r) => setImmediate(r));
  assert.is(seen.length, 6);
});

test('a burst larger than one batch is drained over several turns', async () => {
  const c = new Counters();
  let n = 0;
  const q = new HandoffQueue<number>(1024, c, () => { n++; }, 64);
  for (let i = 0; i < 1000; i++) q.push(i, false);
  await new Promise((r) => setImmediate(r));
  assert.ok(n <= 64, `first turn handled ${n}`);
  for (let i = 0; i < 40 && n < 1000; i++) await new Promise((r) => setImmediate(r));
  assert.is(n, 1000);
});

test.run();
