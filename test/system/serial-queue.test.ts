// SerialQueue: operations run one at a time in call order; a failure rejects
// only its own caller; idle() waits for everything queued so far.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SerialQueue } from '../../agent/system/serial-queue.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

test('one at a time, in call order, even when a later one is quicker', async () => {
  const q = new SerialQueue();
  const log: string[] = [];
  let running = 0;
  const op = (name: string, steps: number) => q.run(async () => {
    running++;
    assert.is(running, 1, 'never two at once');
    log.push(`${name}+`);
    for (let i = 0; i < steps; i++) await tick();
    log.push(`${name}-`);
    running--;
    return name;
  });
  const results = await Promise.all([op('a', 5), op('b', 0), op('c', 2)]);
  assert.equal(results, ['a', 'b', 'c']);
  assert.equal(log, ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
});

test('a failure rejects its caller only; the next operation still runs', async () => {
  const q = new SerialQueue();
  const failed = q.run(async () => { await tick(); throw new Error('boom'); });
  const next = q.run(async () => 'after');
  const err = await failed.then(() => null, (e: Error) => e);
  assert.match(err?.message ?? 'resolved', 'boom');
  assert.is(await next, 'after');
});

test('idle() resolves after everything queued so far, and never rejects', async () => {
  const q = new SerialQueue();
  let done = 0;
  void q.run(async () => { await tick(); done++; });
  void q.run(async () => { await tick(); done++; throw new Error('ignored by idle'); }).catch(() => {});
  await q.idle();
  assert.is(done, 2);
});

test.run();
