// A remote push/pull is merged while it streams in, never held whole:
// - a 50,000-member state written in TCP-sized pieces (plain, LZW-compressed)
//   passes through holding about one piece (memberlist.pushpull-peak-held-bytes);
// - a state that fits in one window is refused whole by the protocol-version
//   check, as memberlist refuses it; a larger one from its first bad window;
// - our answer still goes back after a refused state, like memberlist's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import type { Stream } from '../../../agent/gossip/transport/types.ts';
import { encodePushPull, encodeStreamMessage, type PushNodeState } from '../../../agent/gossip/wire/stream.ts';
import { readStreamBytes } from '../../../agent/gossip/wire/stream-reader.ts';
import { memoryNode, type TestNode } from './helpers.ts';
import { fastProfile } from '../../support/fakes.ts';
import { waitFor } from '../../support/wait.ts';

let nodes: TestNode[] = [];
test.after.each(async () => { for (const n of nodes) await n.ml.shutdown(); nodes = []; });

const quiet = () => fastProfile({ probeIntervalMs: 3_600_000, gossipIntervalMs: 3_600_000, pushPullIntervalMs: 3_600_000 });
const GOOD_VSN = Uint8Array.of(1, 5, 2, 2, 5, 4);
/** Requires protocol 3 of everyone: every node at 2 is then out of range (verifyProtocol). */
const BAD_VSN = Uint8Array.of(3, 5, 3, 2, 5, 4);

function fakeNodes(count: number, prefix = 'fake', bad = -1): PushNodeState[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}-${'x'.repeat(40)}`, addr: Uint8Array.of(10, 200 + (i >> 16), (i >> 8) & 255, i & 255), port: 7946,
    meta: Uint8Array.of(0xff, 0x80), incarnation: 1, state: 0 as const, vsn: i === bad ? BAD_VSN : GOOD_VSN,
  }));
}

async function exchange(net: MemoryNetwork, from: string, to: string, state: Uint8Array, piece = 64 * 1024): Promise<Uint8Array> {
  const client = net.transport(from, 7946);
  const s: Stream = await client.dial({ addr: to, port: 7946 }, 1000);
  s.setDeadline(Date.now() + 60_000);
  for (let o = 0; o < state.length; o += piece) await s.write(state.subarray(o, o + piece));
  const parts: Uint8Array[] = [];
  for (;;) { const c = await s.read(); if (!c) break; parts.push(c); }
  s.close();
  await client.shutdown();
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

for (const compress of [false, true]) {
  test(`a 50,000-member state (${compress ? 'LZW' : 'plain'}) in 64 KiB pieces is merged holding about one piece`, async () => {
    const net = new MemoryNetwork();
    const edge = memoryNode(net, 'edge', '10.7.0.1', { profile: quiet() });
    nodes.push(edge);
    const state = encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(0) }, fakeNodes(50_000)), { compress });
    const reply = await exchange(net, '10.7.0.2', '10.7.0.1', state);
    const r = await readStreamBytes(reply, { maxBytes: 10_000_000 });

    assert.is(r.type, 'pushPull', 'our state comes back');
    const st = edge.ml.stats();
    assert.is(st['memberlist.members'], 512);
    assert.ok(st['evict.newcomer']! >= 50_000 - 511, JSON.stringify(st));
    const held = st['memberlist.pushpull-peak-held-bytes']!;
    const bound = 64 * 1024 + 2 * 1024; // one piece plus the node state straddling its end
    assert.ok(held > 0 && held <= bound, `held ${held} bytes at once of a ${state.length}-byte state (bound ${bound})`);
    console.log(`${compress ? 'LZW' : 'plain'}: ${state.length} bytes streamed, at most ${held} held`);
  });
}

test('a state that fits in one window is refused whole by the version check; our state is still sent back', async () => {
  const net = new MemoryNetwork();
  const limits = { ...defaultLimits('edge'), maxMembers: 10_000 };
  const edge = memoryNode(net, 'edge', '10.7.1.1', { profile: quiet(), limits });
  nodes.push(edge);
  const state = encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(0) }, fakeNodes(300, 'w', 299)), { compress: true });
  const reply = await exchange(net, '10.7.1.2', '10.7.1.1', state);
  const r = await readStreamBytes(reply, { maxBytes: 10_000_000 });
  assert.is(r.type, 'pushPull');
  assert.is(edge.counters.get('pushpull.refused.version'), 1);
  assert.is(edge.ml.stats()['memberlist.members'], 1, 'not one node of the refused state was merged');
});

test('a state larger than a window: windows before the bad one are merged, the rest refused (read to its end) and counted', async () => {
  const net = new MemoryNetwork();
  const limits = { ...defaultLimits('edge'), maxMembers: 10_000 };
  const edge = memoryNode(net, 'edge', '10.7.2.1', { profile: quiet(), limits });
  nodes.push(edge);
  const perWindow = limits.pushPullWindowNodes;
  const bad = 2 * perWindow + 10; // in the third window
  const state = encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(0) }, fakeNodes(4 * perWindow, 'l', bad)), { compress: false });
  // The refused rest is still read to its end (as memberlist does) and our state comes back.
  const reply = await exchange(net, '10.7.2.2', '10.7.2.1', state);
  const r = await readStreamBytes(reply, { maxBytes: 10_000_000 });
  assert.is(r.type, 'pushPull');
  await waitFor('refusal counted', () => edge.counters.get('pushpull.refused.version') === 1, 5000);
  assert.is(edge.ml.stats()['memberlist.members'], 1 + 2 * perWindow);
});

test('a peer that trickles its state keeps to the deadline; our merging time is not charged to it', async () => {
  const net = new MemoryNetwork();
  const edge = memoryNode(net, 'edge', '10.7.3.1', { profile: quiet() }); // tcpTimeout 500 ms
  nodes.push(edge);
  const state = encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(0) }, fakeNodes(2000)), { compress: false });
  const client = net.transport('10.7.3.2', 7946);
  const s = await client.dial({ addr: '10.7.3.1', port: 7946 }, 1000);
  s.setDeadline(Date.now() + 10_000);
  await s.write(state.subarray(0, 1000)); // then nothing: the 500 ms deadline must end it
  const t0 = Date.now();
  const c = await s.read().catch(() => null);
  assert.is(c, null, 'no answer: the stream is closed at our deadline');
  assert.ok(Date.now() - t0 < 3000, 'closed by the deadline');
  await waitFor('timeout counted', () => edge.counters.get('tcp.timeout') === 1, 3000);
  s.close();
  await client.shutdown();
});

test.run();
