import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { encodeMessage } from '../../../agent/gossip/wire/memberlist-messages.ts';
import { memoryNode, stateOf, type TestNode } from './helpers.ts';
import { waitFor } from '../../support/wait.ts';

let nodes: TestNode[] = [];
test.after.each(async () => { for (const n of nodes) await n.ml.shutdown(); nodes = []; });

async function cluster(net: MemoryNetwork, count: number): Promise<TestNode[]> {
  const out: TestNode[] = [];
  for (let i = 0; i < count; i++) out.push(memoryNode(net, `n${i}`, `10.0.0.${i + 1}`));
  nodes.push(...out);
  for (let i = 1; i < count; i++) assert.is(await out[i]!.ml.join([`10.0.0.1:7946`]), 1);
  await waitFor('convergence', () => out.every((n) => n.ml.numMembers() === count), 15_000);
  return out;
}

test('8 nodes join through one seed and converge', async () => {
  const net = new MemoryNetwork();
  const c = await cluster(net, 8);
  for (const n of c) {
    const names = n.ml.members().map((m) => m.name).sort();
    assert.equal(names, c.map((x) => x.name).sort());
    assert.ok(n.events.events.filter((e) => e.kind === 'join').length >= 8);
  }
  assert.is(c[3]!.ml.members().find((m) => m.name === 'n5')!.addr, '10.0.0.6');
});

test('join addresses: "name/addr" and a bare IP take the default port; a bad one is reported, not thrown', async () => {
  const net = new MemoryNetwork();
  const a = memoryNode(net, 'a', '10.0.3.1');
  const b = memoryNode(net, 'b', '10.0.3.2');
  const c = memoryNode(net, 'c', '10.0.3.3');
  nodes.push(a, b, c);
  assert.is(await b.ml.join(['a/10.0.3.1:7946']), 1);
  assert.is(await c.ml.join(['10.0.3.1']), 1);
  try {
    await c.ml.join(['10.0.3.1:99999']);
    assert.unreachable('a bad port joined');
  } catch (e) {
    assert.match((e as Error).message, /join address: bad port/);
  }
});

test('a stopped node is suspected then declared dead; others agree', async () => {
  const net = new MemoryNetwork();
  const c = await cluster(net, 6);
  const victim = c[5]!;
  await victim.ml.shutdown();
  const started = Date.now();
  await waitFor('suspect', () => c.slice(0, 5).some((n) => stateOf(n, 'n5') === 'suspect'), 5000);
  await waitFor('dead everywhere', () => c.slice(0, 5).every((n) => stateOf(n, 'n5') === 'dead'), 15_000);
  const took = Date.now() - started;
  // local profile scaled: probe 100 ms, suspicion min = 3 * max(1, log10(6)) * 100 ms = 300 ms, max 1.8 s.
  assert.ok(took < 12_000, `dead after ${took} ms`);
  assert.ok(c[0]!.events.events.some((e) => e.kind === 'leave' && e.name === 'n5' && e.state === 'dead'));
  assert.is(c[0]!.ml.numMembers(), 5);
});

test('a suspected node that is alive refutes with a higher incarnation', async () => {
  const net = new MemoryNetwork();
  const c = await cluster(net, 5);
  const target = c[4]!;
  const inc0 = target.ml.localNode().incarnation;
  // An accusation injected at n1 (as gossip from n0): n1 marks n4 suspect and
  // gossips it; n4 hears it and refutes with a higher incarnation.
  const accusation = encodeMessage({ type: 'suspect', incarnation: inc0, node: 'n4', from: 'n0' });
  net.deliverPacket({ addr: '10.0.0.1', port: 7946 }, { addr: '10.0.0.2', port: 7946 }, accusation);
  // (the suspect state may last less than one poll: the refutation comes back fast)
  await waitFor('n1 suspected n4', () => c[1]!.counters.get('gossip.suspect') > 0, 5000);
  await waitFor('n4 refuted', () => target.counters.get('gossip.refute') > 0, 15_000);
  assert.ok(target.ml.localNode().incarnation > inc0);
  await waitFor('n4 alive everywhere', () => c.every((n) => stateOf(n, 'n4') === 'alive'), 15_000);
});

test('graceful leave gives left on every node', async () => {
  const net = new MemoryNetwork();
  const c = await cluster(net, 5);
  await c[2]!.ml.leave(5000);
  await waitFor('left everywhere', () => [0, 1, 3, 4].every((i) => stateOf(c[i]!, 'n2') === 'left'), 10_000);
  assert.ok(c[0]!.events.events.some((e) => e.kind === 'leave' && e.name === 'n2' && e.state === 'left'));
});

test('meta update propagates with an incarnation bump', async () => {
  const net = new MemoryNetwork();
  let meta = Uint8Array.of(0xff, 0x80);
  const delegate = {
    nodeMeta: () => meta, notifyMsg: () => {}, getBroadcasts: () => [], localState: () => new Uint8Array(0), mergeRemoteState: () => {},
  };
  const out: TestNode[] = [];
  for (let i = 0; i < 4; i++) out.push(memoryNode(net, `n${i}`, `10.0.0.${i + 1}`, i === 3 ? { delegate } : {}));
  nodes.push(...out);
  for (let i = 1; i < 4; i++) await out[i]!.ml.join(['10.0.0.1']);
  await waitFor('converge', () => out.every((n) => n.ml.numMembers() === 4));
  meta = Uint8Array.of(0x81, 0xa1, 0x61, 0xa1, 0x62);
  const inc = out[3]!.ml.localNode().incarnation;
  await out[3]!.ml.updateNode(5000);
  await waitFor('meta everywhere', () => out.every((n) => {
    const m = n.ml.members().find((x) => x.name === 'n3');
    return !!m && m.meta.length === 5 && m.incarnation === inc + 1;
  }));
  assert.ok(out[0]!.events.events.some((e) => e.kind === 'update' && e.name === 'n3'));
});

test('10% packet loss and 5 ms latency: no node is declared dead (indirect probes + TCP fallback)', async () => {
  const net = new MemoryNetwork({ lossRate: 0.1, latencyMs: 5 });
  const c = await cluster(net, 8);
  const end = Date.now() + 3000;
  while (Date.now() < end) {
    for (const n of c) for (const m of n.ml.members()) assert.ok(m.state !== 'dead', `${n.name} declared ${m.name} dead`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(net.dropped > 0, 'the loss knob dropped packets');
  await waitFor('all alive', () => c.every((n) => n.ml.numMembers() === 8), 10_000);
});

test('user messages: sendToAddress, sendBestEffort (UDP) and sendReliable (TCP) reach the delegate', async () => {
  const net = new MemoryNetwork();
  const got: string[] = [];
  const delegate = {
    nodeMeta: () => new Uint8Array(0), notifyMsg: (m: Uint8Array) => { got.push(Buffer.from(m).toString()); },
    getBroadcasts: () => [], localState: () => new Uint8Array(0), mergeRemoteState: () => {},
  };
  const a = memoryNode(net, 'a', '10.0.1.1');
  const b = memoryNode(net, 'b', '10.0.1.2', { delegate });
  nodes.push(a, b);
  await a.ml.join(['10.0.1.2']);
  const bNode = a.ml.members().find((m) => m.name === 'b')!;
  a.ml.sendToAddress({ addr: '10.0.1.2', port: 7946 }, Buffer.from('udp-to-address'));
  a.ml.sendBestEffort(bNode, Buffer.from('udp-best-effort'));
  await a.ml.sendReliable(bNode, Buffer.from('tcp-reliable'));
  await waitFor('all three', () => got.length === 3, 5000);
  assert.equal(got.sort(), ['tcp-reliable', 'udp-best-effort', 'udp-to-address']);
});

test('delegate broadcasts are piggybacked as user messages', async () => {
  const net = new MemoryNetwork();
  const got: string[] = [];
  let pending = [Buffer.from('bcast-1'), Buffer.from('bcast-2')];
  const sender = {
    nodeMeta: () => new Uint8Array(0), notifyMsg: () => {},
    getBroadcasts: (overhead: number, limit: number) => {
      const out = pending.filter((p) => p.length + overhead <= limit);
      pending = [];
      return out;
    },
    localState: () => new Uint8Array(0), mergeRemoteState: () => {},
  };
  const receiver = { ...sender, getBroadcasts: () => [], notifyMsg: (m: Uint8Array) => { got.push(Buffer.from(m).toString()); } };
  const a = memoryNode(net, 'a', '10.0.2.1', { delegate: sender });
  const b = memoryNode(net, 'b', '10.0.2.2', { delegate: receiver });
  nodes.push(a, b);
  await b.ml.join(['10.0.2.1']);
  await waitFor('piggybacked', () => got.length === 2, 5000);
  assert.equal(got.sort(), ['bcast-1', 'bcast-2']);
});

test.run();
