import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LamportClock } from '../../../agent/gossip/serf/lamport.ts';

test('starts at 0, increment returns the new value', () => {
  const c = new LamportClock();
  assert.is(c.time(), 0);
  assert.is(c.increment(), 1);
  assert.is(c.time(), 1);
});

test('witness moves past a newer time and ignores older ones', () => {
  const c = new LamportClock();
  c.witness(41);
  assert.is(c.time(), 42);
  c.witness(10);
  assert.is(c.time(), 42);
  c.witness(42); // equal: must still move past it
  assert.is(c.time(), 43);
});

test('serf join semantics: LTime = time(), then witness(LTime) advances by one', () => {
  const c = new LamportClock();
  c.increment(); // serf increments each clock once at creation
  const lt = c.time();
  c.witness(lt);
  assert.is(lt, 1);
  assert.is(c.time(), 2);
});

test.run();
