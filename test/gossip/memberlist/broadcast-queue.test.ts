import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TransmitLimitedQueue, retransmitLimit } from '../../../agent/gossip/broadcast-queue.ts';
import { Counters } from '../../../agent/obs/counters.ts';

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

test('retransmit limit is mult x ceil(log10(n+1))', () => {
  assert.is(retransmitLimit(4, 1), 4);
  assert.is(retransmitLimit(4, 9), 4);
  assert.is(retransmitLimit(4, 10), 8);
  assert.is(retransmitLimit(4, 99), 8);
  assert.is(retransmitLimit(4, 100), 12);
  assert.is(retransmitLimit(3, 0), 0);
});

test('each message is sent exactly the retransmit limit, then onDone fires', () => {
  let done = 0;
  const q = new TransmitLimitedQueue({ numNodes: () => 5, retransmitMult: 3, maxDepth: 10, name: 't' });
  q.queue({ msg: bytes(10), onDone: () => done++ });
  let sent = 0;
  for (let i = 0; i < 10; i++) sent += q.getBroadcasts(2, 1400).length;
  assert.is(sent, 3);
  assert.is(done, 1);
  assert.is(q.numQueued(), 0);
});

test('fewest transmits first, then largest that fits, then newest', () => {
  const q = new TransmitLimitedQueue({ numNodes: () => 100, retransmitMult: 4, maxDepth: 10, name: 't' });
  q.queue({ msg: bytes(10, 1) });
  let got = q.getBroadcasts(0, 100); // a transmitted once
  assert.is(got.length, 1);
  q.queue({ msg: bytes(5, 2) });
  q.queue({ msg: bytes(20, 3) });
  q.queue({ msg: bytes(20, 4) });
  // limit 45 with overhead 2: tier 0 has [20(4 newest), 20(3), 5(2)]: 22+22 = 44, 5 no longer fits, tier1 10 does not fit
  got = q.getBroadcasts(2, 45);
  assert.equal(got.map((m) => m[0]), [4, 3]);
  got = q.getBroadcasts(2, 100);
  // tier0: 5(2); then tier1: 20(4),20(3),10(1)
  assert.equal(got.map((m) => m[0]), [2, 4, 3, 1]);
});

test('same key invalidates the older entry', () => {
  let done = 0;
  const q = new TransmitLimitedQueue({ numNodes: () => 5, retransmitMult: 4, maxDepth: 10, name: 't' });
  q.queue({ key: 'n1', msg: bytes(3, 1), onDone: () => done++ });
  q.queue({ key: 'n1', msg: bytes(3, 2) });
  q.queue({ key: 'n2', msg: bytes(3, 3) });
  assert.is(q.numQueued(), 2);
  assert.is(done, 1);
  const got = q.getBroadcasts(0, 100).map((m) => m[0]);
  assert.equal(got.sort(), [2, 3]);
});

test('over maxDepth the most transmitted is dropped and counted', () => {
  const c = new Counters();
  const q = new TransmitLimitedQueue({ numNodes: () => 1000, retransmitMult: 4, maxDepth: 3, counters: c, name: 'ml' });
  q.queue({ msg: bytes(4, 1) });
  q.getBroadcasts(0, 4); // 1 has 1 transmit
  q.queue({ msg: bytes(4, 2) });
  q.queue({ msg: bytes(4, 3) });
  q.queue({ msg: bytes(4, 4) });
  assert.is(q.numQueued(), 3);
  assert.is(c.get('drop.bcast.ml'), 1);
  const got = q.getBroadcasts(0, 100).map((m) => m[0]).sort();
  assert.equal(got, [2, 3, 4]);
  for (let i = 5; i < 1000; i++) q.queue({ msg: bytes(4, i & 255) });
  assert.is(q.numQueued(), 3);
  assert.is(c.get('drop.bcast.ml'), 1 + 995);
});

test('drops go to the most transmitted tier first, the longest waiting in it; prune keeps the freshest', () => {
  const c = new Counters();
  const q = new TransmitLimitedQueue({ numNodes: () => 1000, retransmitMult: 4, maxDepth: 4, counters: c, name: 'ml' });
  q.queue({ msg: bytes(4, 1) });
  q.queue({ msg: bytes(4, 2) });
  q.getBroadcasts(0, 8); // 2 and 1 sent once (newest first: 2 reached tier 1 first)
  q.getBroadcasts(0, 4); // 2 sent twice
  q.queue({ msg: bytes(4, 3) });
  q.queue({ msg: bytes(4, 4) });
  q.queue({ msg: bytes(4, 5) }); // over depth: 2 (two transmits) goes
  assert.equal(q.getBroadcasts(0, 100).map((m) => m[0]), [5, 4, 3, 1]);
  // Now tier 1 holds 5, 4, 3 (in the order they were sent) and 1 went up to tier 2.
  q.queue({ msg: bytes(4, 6) }); // over depth: 1 (two transmits) goes
  assert.is(c.get('drop.bcast.ml'), 2);
  assert.equal(q.getBroadcasts(0, 100).map((m) => m[0]), [6, 5, 4, 3]);
  // Tier 2 now holds 5, 4, 3: prune drops the longest waiting there first.
  q.prune(2);
  assert.is(q.numQueued(), 2);
  assert.is(c.get('drop.bcast.ml'), 4);
  assert.equal(q.getBroadcasts(0, 100).map((m) => m[0]), [6, 3]);
});

test('a full queue under a flood keeps the freshest messages and counts every drop', () => {
  const c = new Counters();
  const q = new TransmitLimitedQueue({ numNodes: () => 512, retransmitMult: 4, maxDepth: 1024, counters: c, name: 'flood' });
  for (let i = 0; i < 1024; i++) q.queue({ msg: bytes(60, 1) });
  for (let i = 0; i < 40; i++) q.getBroadcasts(2, 1400); // spread transmits over tiers
  const before = q.numQueued();
  for (let i = 0; i < 100_000; i++) q.queue({ key: `n${i}`, msg: bytes(60, 2) });
  assert.is(q.numQueued(), 1024);
  assert.is(c.get('drop.bcast.flood'), before + 100_000 - 1024);
  // Everything left is from the flood, never sent: the old, transmitted ones went first.
  const got = q.getBroadcasts(2, 1400);
  assert.ok(got.length > 0 && got.every((m) => m[0] === 2));
});

test('the queue keeps its own copy of each message: every byte value comes back, whatever the caller does with its buffer later', () => {
  // Stored compactly (issue 17 point 2): the bytes must survive as they were queued, 0x00-0xff alike.
  const q = new TransmitLimitedQueue({ numNodes: () => 1, retransmitMult: 2, maxDepth: 10, name: 't' });
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const backing = new Uint8Array(300);
  backing.set(all, 20);
  const view = backing.subarray(20, 276); // a view into a larger buffer, as decoded gossip is
  q.queue({ msg: view });
  backing.fill(0xee);
  const first = q.getBroadcasts(0, 1400);
  assert.is(first.length, 1);
  assert.ok(first[0] instanceof Uint8Array);
  assert.equal([...first[0]!], [...all]);
  first[0]!.fill(0); // what a transmission does with its copy does not reach the queue either
  const second = q.getBroadcasts(0, 1400);
  assert.equal([...second[0]!], [...all]);
  assert.is(q.numQueued(), 0);
});

test('reset empties and calls onDone', () => {
  let done = 0;
  const q = new TransmitLimitedQueue({ numNodes: () => 5, retransmitMult: 4, maxDepth: 10, name: 't' });
  q.queue({ msg: bytes(1), onDone: () => done++ });
  q.queue({ msg: bytes(1), onDone: () => done++ });
  q.reset();
  assert.is(done, 2);
  assert.is(q.numQueued(), 0);
  assert.equal(q.getBroadcasts(0, 100), []);
});

test.run();
