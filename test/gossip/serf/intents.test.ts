import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RecentIntents } from '../../../agent/gossip/serf/intents.ts';

test('keeps only the newest intent per node', () => {
  const r = new RecentIntents(10, () => {});
  assert.ok(r.upsert('a', 'join', 5, 0));
  assert.not.ok(r.upsert('a', 'leave', 5, 0), 'same ltime is not newer');
  assert.not.ok(r.upsert('a', 'leave', 3, 0));
  assert.is(r.get('a', 'join'), 5);
  assert.ok(r.upsert('a', 'leave', 7, 0));
  assert.is(r.get('a', 'join'), undefined);
  assert.is(r.get('a', 'leave'), 7);
});

test('bounded: the oldest entry is evicted and counted', () => {
  let evicted = 0;
  const r = new RecentIntents(3, () => evicted++);
  for (let i = 0; i < 5; i++) r.upsert(`n${i}`, 'join', 1, i);
  assert.is(r.size, 3);
  assert.is(evicted, 2);
  assert.is(r.get('n0', 'join'), undefined);
  assert.is(r.get('n4', 'join'), 1);
});

test('reap drops intents older than the timeout', () => {
  const r = new RecentIntents(10, () => {});
  r.upsert('old', 'join', 1, 0);
  r.upsert('new', 'join', 1, 250_000);
  assert.is(r.reap(300_001, 300_000), 1);
  assert.is(r.get('old', 'join'), undefined);
  assert.is(r.get('new', 'join'), 1);
});

test.run();
