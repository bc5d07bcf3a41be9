// Memory-bounded (edge) mode: member cap with retention priorities, relaying
// gossip about members we do not keep, streamed 50,000-member push/pull, and
// refusal of oversized states.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { encodePushPull, encodeStreamMessage, type PushNodeState } from '../../../agent/gossip/wire/stream.ts';
import { readStreamBytes } from '../../../agent/gossip/wire/stream-reader.ts';
import type { Stream } from '../../../agent/gossip/transport/types.ts';
import type { MemberNode } from '../../../agent/gossip/memberlist/types.ts';
import { systemClock } from '../../../agent/gossip/clock.ts';
import { memoryNode, stateOf, type TestNode } from './helpers.ts';
import { fastProfile } from '../../support/fakes.ts';
import { waitFor } from '../../support/wait.ts';

let nodes: TestNode[] = [];
test.after.each(async () => { for (const n of nodes) await n.ml.shutdown(); nodes = []; });

test('member cap: the table never exceeds maxMembers, evictions are counted, the capped node stays alive for everyone', async () => {
  const net = new MemoryNetwork();
  const limits = { ...defaultLimits('edge'), maxMembers: 4 };
  // Keep self and seeds (names starting with "seed") in priority.
  const retention = { retainPriority: (n: MemberNode) => (n.name.startsWith('seed') ? 10 : 1) };
  for (let i = 0; i < 2; i++) nodes.push(memoryNode(net, `seed${i}`, `10.3.0.${i + 1}`));
  const edge = memoryNode(net, 'edge', '10.3.0.50', { limits, retention });
  nodes.push(edge);
  await edge.ml.join(['10.3.0.1']);
  await nodes[1]!.ml.join(['10.3.0.1']);
  for (let i = 0; i < 7; i++) {
    const n = memoryNode(net, `leaf${i}`, `10.3.0.${10 + i}`);
    nodes.push(n);
    await n.ml.join(['10.3.0.1']);
  }
  const full = nodes.filter((n) => n !== edge);
  await waitFor('full nodes converge', () => full.every((n) => n.ml.numMembers() === 10), 15_000);
  await new Promise((r) => setTimeout(r, 1500)); // several probe / push-pull rounds
  const names = edge.ml.members().map((m) => m.name);
  assert.ok(names.length <= 4, `table has ${names.length}`);
  assert.ok(names.includes('edge') && names.includes('seed0') && names.includes('seed1'), names.join(','));
  const st = edge.ml.stats();
  assert.ok((st['evict.newcomer'] ?? 0) + (st['evict.low-priority'] ?? 0) > 0, JSON.stringify(st));
  // Nobody suspects or kills the capped node: it answers every probe.
  assert.ok(full.every((n) => stateOf(n, 'edge') === 'alive'));
  assert.ok((st['probe.answered'] ?? 0) > 0);
});

test('gossip about a member we cannot keep is still relayed', async () => {
  const net = new MemoryNetwork();
  const limits = { ...defaultLimits('edge'), maxMembers: 2 };
  const edge = memoryNode(net, 'edge', '10.4.0.1', { limits });
  const a = memoryNode(net, 'a', '10.4.0.2');
  const b = memoryNode(net, 'b', '10.4.0.3');
  nodes.push(edge, a, b);
  await a.ml.join(['10.4.0.1']); // edge keeps a (table: edge, a) — now full
  await waitFor('edge knows a', () => stateOf(edge, 'a') === 'alive');
  // b is only reachable through edge for a: partition a <-> b.
  net.partition('10.4.0.2', '10.4.0.3');
  await b.ml.join(['10.4.0.1']); // edge cannot keep b, but relays b's alive
  await waitFor('a learns b through the capped edge node', () => stateOf(a, 'b') !== undefined, 10_000);
  assert.is(stateOf(edge, 'b'), undefined);
  assert.ok(edge.counters.get('relay.unknown.alive') >= 1);
});

function fakeNodes(count: number): PushNodeState[] {
  const out: PushNodeState[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      name: `fake-${i}`, addr: Uint8Array.of(10, 200 + (i >> 16), (i >> 8) & 255, i & 255), port: 7946,
      meta: Uint8Array.of(0xff, 0x80), incarnation: 1, state: 0, vsn: Uint8Array.of(1, 5, 2, 2, 5, 4),
    });
  }
  return out;
}

async function readAll(s: Stream, max = 64 * 1024 * 1024): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const c = await s.read();
    if (!c) break;
    chunks.push(c); total += c.length;
    if (total > max) throw new Error('too much');
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

test('a 50,000-member push/pull is processed node by node into a bounded table', async () => {
  const net = new MemoryNetwork();
  const edge = memoryNode(net, 'edge', '10.5.0.1'); // default edge limits: maxMembers 512
  nodes.push(edge);
  const client = net.transport('10.5.0.2', 7946);
  const state = encodeStreamMessage(encodePushPull({ join: true, userState: new Uint8Array(0) }, fakeNodes(50_000)), { compress: false });
  assert.ok(state.length > 2_000_000 && state.length < defaultLimits('edge').maxPushPullBytes);
  global.gc?.();
  const t0 = Date.now();
  // Event-loop lag while the state is merged (it is merged in batches with yields).
  let maxLag = 0;
  let lastTick = Date.now();
  const lagTimer = setInterval(() => { const now = Date.now(); maxLag = Math.max(maxLag, now - lastTick - 10); lastTick = now; }, 10);
  const s = await client.dial({ addr: '10.5.0.1', port: 7946 }, 1000);
  s.setDeadline(Date.now() + 60_000);
  await s.write(state);
  const reply = await readAll(s);
  s.close();
  const r = await readStreamBytes(reply, { maxBytes: 10_000_000 });
  assert.is(r.type, 'pushPull');
  await waitFor('merged', () => (edge.ml.stats()['evict.newcomer'] ?? 0) >= 50_000 - 511, 60_000);
  clearInterval(lagTimer);
  const took = Date.now() - t0;
  const st = edge.ml.stats();
  assert.is(st['memberlist.members'], 512);
  assert.ok(st['evict.newcomer']! >= 50_000 - 511);
  assert.ok(st['memberlist.broadcast-queue']! <= defaultLimits('edge').broadcastQueueDepth);
  assert.ok(edge.ml.estimateNumNodes() >= 50_000, 'cluster size estimate comes from the push/pull header');
  global.gc?.();
  console.log(`50k push/pull: ${took} ms, max event-loop lag ${maxLag} ms, heap after ${(process.memoryUsage().heapUsed / 1e6).toFixed(1)} MB, state ${(state.length / 1e6).toFixed(1)} MB`);
  await client.shutdown();
});

test('a state over maxPushPullBytes is refused, counted, and the connection closed cleanly', async () => {
  const net = new MemoryNetwork();
  const limits = { ...defaultLimits('edge'), maxPushPullBytes: 64 * 1024 };
  const edge = memoryNode(net, 'edge', '10.6.0.1', { limits });
  nodes.push(edge);
  const client = net.transport('10.6.0.2', 7946);
  const state = encodeStreamMessage(encodePushPull({ join: true, userState: new Uint8Array(0) }, fakeNodes(5000)), { compress: false });
  const s = await client.dial({ addr: '10.6.0.1', port: 7946 }, 1000);
  s.setDeadline(Date.now() + 10_000);
  await s.write(state);
  const reply = await readAll(s);
  s.close();
  const r = await readStreamBytes(reply, { maxBytes: 1_000_000 });
  assert.is(r.type, 'err');
  assert.is(edge.counters.get('drop.pushpull.too-large'), 1);
  assert.is(edge.ml.stats()['memberlist.members'], 1);
  // The node is fine afterwards: a normal join works.
  const ok = memoryNode(net, 'ok', '10.6.0.3');
  nodes.push(ok);
  assert.is(await ok.ml.join(['10.6.0.1']), 1);
  await client.shutdown();
});

test('a full table does not churn on repeated push/pulls; a more valuable newcomer displaces the least valuable member', async () => {
  const net = new MemoryNetwork();
  const limits = { ...defaultLimits('edge'), maxMembers: 4 };
  // Like the serf layer: self first, service announcers high, plus a bonus for recently changed members.
  let skew = 0;
  const clock = { ...systemClock({ unref: false }), now: () => Date.now() + skew };
  const retention = {
    retainPriority: (n: MemberNode) => (n.name === 'edge' ? 1000 : 0) + (n.name.startsWith('svc') ? 100 : 0)
      + (n.state === 'alive' && clock.now() - n.stateChange < 600_000 ? 50 : 20),
  };
  const edge = memoryNode(net, 'edge', '10.12.0.1', { limits, retention, clock, profile: { ...fastProfileSlow() } });
  nodes.push(edge);
  const client = net.transport('10.12.0.2', 7946);
  const push = async (states: PushNodeState[]) => {
    const s = await client.dial({ addr: '10.12.0.1', port: 7946 }, 1000);
    s.setDeadline(Date.now() + 5000);
    await s.write(encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(0) }, states), { compress: true }));
    await readAll(s);
    s.close();
    await new Promise((r) => setTimeout(r, 100));
  };
  const plain = fakeNodes(20);
  await push(plain);
  assert.is(edge.ml.members().length, 4);
  const kept1 = edge.ml.members().map((m) => m.name).sort();
  skew = 20 * 60_000; // the kept members are now "old": newcomers must not win on recency alone
  for (let i = 0; i < 3; i++) await push(plain);
  assert.equal(edge.ml.members().map((m) => m.name).sort(), kept1, 'no churn');
  assert.is(edge.events.events.filter((e) => e.kind === 'evict').length, 0);
  const svc = fakeNodes(1).map((n) => ({ ...n, name: 'svc-1', addr: Uint8Array.of(10, 12, 9, 9) }));
  await push(svc);
  const names = edge.ml.members().map((m) => m.name);
  assert.ok(names.includes('svc-1'), names.join(','));
  assert.is(names.length, 4);
  assert.is(edge.events.events.filter((e) => e.kind === 'evict').length, 1);
  assert.is(edge.counters.get('evict.low-priority'), 1);
  await client.shutdown();
});

function fastProfileSlow() {
  // No probing during the test (the fake members do not exist).
  return { ...fastProfile(), probeIntervalMs: 3_600_000, gossipIntervalMs: 3_600_000, pushPullIntervalMs: 3_600_000 };
}

test.run();
