import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventBuffer, QueryBuffer, tooOld } from '../../../agent/gossip/serf/event-buffer.ts';

const b = (s: string) => new TextEncoder().encode(s);

test('duplicate (name, payload) at the same LTime is refused', () => {
  const eb = new EventBuffer(512);
  assert.ok(eb.add(7, { name: 'deploy', payload: b('v1') }));
  assert.not.ok(eb.add(7, { name: 'deploy', payload: b('v1') }));
  assert.ok(eb.add(7, { name: 'deploy', payload: b('v2') }), 'other payload at same LTime is a different event');
  assert.ok(eb.add(7, { name: 'other', payload: b('v1') }));
});

test('a slot holding another LTime is replaced (ring of size slots)', () => {
  const eb = new EventBuffer(4);
  assert.ok(eb.add(1, { name: 'x', payload: b('') }));
  assert.ok(eb.add(5, { name: 'x', payload: b('') })); // same slot, newer LTime
  assert.ok(eb.add(1, { name: 'x', payload: b('') }), 'the LTime 1 entry was overwritten');
  const snap = eb.snapshot();
  assert.is(snap.length, 4);
  assert.is(snap[1]!.ltime, 1);
  assert.is(snap[0], null);
});

test('tooOld follows serf: only when clock > size and ltime < clock - size', () => {
  assert.not.ok(tooOld(0, 512, 512));
  assert.ok(tooOld(10, 600, 512));
  assert.not.ok(tooOld(88, 600, 512));
});

test('query buffer dedupes (LTime, ID)', () => {
  const qb = new QueryBuffer(512);
  assert.ok(qb.add(3, 100));
  assert.not.ok(qb.add(3, 100));
  assert.ok(qb.add(3, 101));
  assert.ok(qb.add(515, 100), 'slot reused by a newer LTime');
  assert.ok(qb.add(3, 100), 'old entry forgotten once overwritten');
});

test('a slot keeps at most perSlot distinct entries at one LTime; the rest are refused and reported', () => {
  let full = 0;
  const eb = new EventBuffer(512, 3, () => { full++; });
  for (let i = 0; i < 3; i++) assert.ok(eb.add(9, { name: 'e', payload: b(`p${i}`) }));
  assert.not.ok(eb.add(9, { name: 'e', payload: b('p3') }));
  assert.not.ok(eb.add(9, { name: 'e', payload: b('p0') }), 'a duplicate is still a duplicate');
  assert.is(full, 1);
  assert.is(eb.snapshot()[9]!.events.length, 3);
  assert.ok(eb.add(9 + 512, { name: 'e', payload: b('new') }), 'a newer LTime takes the slot over');
  const qb = new QueryBuffer(512, 2, () => { full++; });
  assert.ok(qb.add(4, 1));
  assert.ok(qb.add(4, 2));
  assert.not.ok(qb.add(4, 3));
  assert.is(full, 2);
});

test.run();
