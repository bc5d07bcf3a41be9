import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VivaldiClient, distance, newCoordinate } from '../../../agent/gossip/coordinate/vivaldi.ts';
import { CoordinateCache } from '../../../agent/gossip/coordinate/cache.ts';

// Deterministic PRNG so the simulation is reproducible.
function prng(seed: number) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

test('initial coordinate matches serf: 8 zeros, error 1.5, height 1e-5, adjustment 0', () => {
  const c = newCoordinate();
  assert.equal(c.vec, [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.is(c.error, 1.5);
  assert.is(c.height, 10e-6);
  assert.is(c.adjustment, 0);
});

test('converges: estimated distances approach the true RTTs of a simulated 4-node network', () => {
  // Nodes on a line: true RTT = |xi - xj| + 2 ms access latency.
  const pos = [0, 0.010, 0.030, 0.070];
  const rtt = (i: number, j: number) => Math.abs(pos[i]! - pos[j]!) + 0.002;
  const rnd = prng(7);
  const clients = pos.map(() => new VivaldiClient(undefined, 64, rnd));
  for (let round = 0; round < 400; round++) {
    for (let i = 0; i < pos.length; i++) {
      const j = Math.floor(rnd() * pos.length);
      if (j === i) continue;
      clients[i]!.update(`n${j}`, clients[j]!.getCoordinate(), rtt(i, j) * 1000);
    }
  }
  for (let i = 0; i < pos.length; i++) {
    for (let j = i + 1; j < pos.length; j++) {
      const est = distance(clients[i]!.getCoordinate(), clients[j]!.getCoordinate());
      const err = Math.abs(est - rtt(i, j)) / rtt(i, j);
      assert.ok(err < 0.25, `n${i}-n${j}: est ${(est * 1000).toFixed(2)} ms vs ${(rtt(i, j) * 1000).toFixed(2)} ms`);
    }
  }
  assert.ok(clients[0]!.getCoordinate().error < 1.5, 'confidence improved');
});

test('refuses bogus input: rtt <= 0 or > 10 s, wrong dimensionality, NaN', () => {
  const c = new VivaldiClient();
  const other = newCoordinate();
  assert.is(c.update('x', other, 0), null);
  assert.is(c.update('x', other, 10_001), null);
  assert.is(c.update('x', { ...other, vec: [0, 0] }, 5), null);
  assert.is(c.update('x', { ...other, error: NaN }, 5), null);
  assert.ok(c.update('x', other, 5));
});

test('latency filter map and cache are bounded', () => {
  let ev = 0;
  const c = new VivaldiClient(undefined, 2, Math.random, () => ev++);
  for (let i = 0; i < 5; i++) c.update(`n${i}`, newCoordinate(), 5);
  assert.is(ev, 3);
  let cev = 0;
  const cache = new CoordinateCache(2, () => cev++);
  cache.set('a', newCoordinate()); cache.set('b', newCoordinate()); cache.set('c', newCoordinate());
  assert.is(cache.size, 2);
  assert.is(cache.get('a'), null);
  assert.is(cev, 1);
});

test.run();
