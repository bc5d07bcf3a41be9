// Push/pull event catch-up and ignoreOld on join (in-process, memory transport).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemCluster } from './helpers.ts';
import { waitFor, sleep } from '../../support/wait.ts';

const enc = (s: string) => new TextEncoder().encode(s);
let cl: MemCluster;
test.before.each(() => { cl = new MemCluster(); });
test.after.each(async () => { await cl.stopAll(); });

test('a node joining with replay receives buffered events through push/pull; with ignoreOld it does not', async () => {
  const a = await cl.add('a');
  const b = await cl.add('b');
  await b.serf.join([cl.addrOf(a)], true);
  await a.serf.userEvent('old-1', enc('x'), false);
  await a.serf.userEvent('old-2', enc('y'), false);
  await waitFor('b got both', () => b.events.filter((e) => e.type === 'user').length === 2, 15_000);
  await sleep(500); // broadcasts finished: only push/pull can carry them now
  const replay = await cl.add('replayer');
  await replay.serf.join([cl.addrOf(a)], false);
  await waitFor('replayer got old events', () => replay.events.filter((e) => e.type === 'user').length === 2, 15_000);
  const ignore = await cl.add('ignorer');
  await ignore.serf.join([cl.addrOf(b)], true);
  await sleep(800);
  assert.is(ignore.events.filter((e) => e.type === 'user').length, 0, 'old events not replayed');
  await b.serf.userEvent('new', enc('z'), false);
  await waitFor('ignorer gets new events', () => ignore.events.some((e) => e.type === 'user' && e.name === 'new'), 15_000);
  await sleep(500);
  assert.is(replay.events.filter((e) => e.type === 'user').length, 3, 'no duplicates after catch-up');
});

test('clocks are merged through push/pull; a stale leave intent about a live node is refuted', async () => {
  const a = await cl.add('a');
  const b = await cl.add('b');
  const c = await cl.add('c');
  for (let i = 0; i < 5; i++) await a.serf.userEvent(`e${i}`, enc(''), false);
  await b.serf.join([cl.addrOf(a)], true);
  await c.serf.join([cl.addrOf(a)], true);
  await waitFor('b event clock caught up', () => b.serf.eventClock.time() >= 5, 15_000);
  await waitFor('3 alive', () => a.serf.members().filter((m) => m.status === 'alive').length === 3, 15_000);
  await sleep(1000); // let the join intents propagate (they carry b's statusLTime)
  // A (wrong) leave intent about the live node b: b refutes with a newer join intent,
  // which turns it back to alive everywhere.
  await a.serf.removeFailedNode('b', false);
  assert.is(a.serf.members().find((m) => m.name === 'b')?.status, 'leaving');
  await waitFor('b alive again at a and c', () =>
    a.serf.members().find((m) => m.name === 'b')?.status === 'alive' && c.serf.members().find((m) => m.name === 'b')?.status === 'alive', 15_000);
  assert.is(b.serf.localMember().status, 'alive');
});

test.run();
