// Node state machine rules (SERF-PROTOCOL.md §2.11), driven by gossip
// datagrams injected into one node over the memory network.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { encodeMessage, type MemberlistMessage } from '../../../agent/gossip/wire/memberlist-messages.ts';
import { remainingSuspicionTime, Suspicion, suspicionTimeout } from '../../../agent/gossip/memberlist/suspicion.ts';
import { pushPullScale } from '../../../agent/gossip/memberlist/push-pull.ts';
import { Awareness } from '../../../agent/gossip/memberlist/awareness.ts';
import type { MemberNode } from '../../../agent/gossip/memberlist/types.ts';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { memoryNode, stateOf, type TestNode } from './helpers.ts';
import { waitFor } from '../../support/wait.ts';

let nodes: TestNode[] = [];
test.after.each(async () => { for (const n of nodes) await n.ml.shutdown(); nodes = []; });

const VSN = Uint8Array.of(1, 5, 2, 2, 5, 4);
const tick = () => new Promise((r) => setTimeout(r, 30));

function setup(over = {}): { net: MemoryNetwork; n: TestNode; inject: (m: MemberlistMessage) => Promise<void> } {
  const net = new MemoryNetwork();
  // Probing disabled (huge interval) so only injected gossip changes state.
  const n = memoryNode(net, 'me', '10.7.0.1', { profile: { ...memoryNodeProfile() }, ...over });
  nodes.push(n);
  const inject = async (m: MemberlistMessage) => {
    net.deliverPacket({ addr: '10.7.0.9', port: 7946 }, { addr: '10.7.0.1', port: 7946 }, encodeMessage(m));
    await tick();
  };
  return { net, n, inject };
}

function memoryNodeProfile() {
  return {
    name: 'local' as const, probeIntervalMs: 3_600_000, probeTimeoutMs: 200, indirectChecks: 1, suspicionMult: 3,
    suspicionMaxTimeoutMult: 6, retransmitMult: 2, gossipIntervalMs: 3_600_000, gossipNodes: 3, gossipToTheDeadMs: 15_000,
    pushPullIntervalMs: 3_600_000, tcpTimeoutMs: 1000, awarenessMaxMultiplier: 8, deadNodeReclaimTimeMs: 0, disableTcpPings: false,
  };
}

const alive = (node: string, inc: number, last = 2, meta = Uint8Array.of(0xff, 0x80)): MemberlistMessage =>
  ({ type: 'alive', incarnation: inc, node, addr: Uint8Array.of(10, 7, 0, last), port: 7946, meta, vsn: VSN });

test('Lifeguard formulas match memberlist', () => {
  assert.is(suspicionTimeout(4, 3, 1000), 4000); // LAN, 3 nodes
  assert.is(suspicionTimeout(4, 10, 1000), 4000);
  assert.is(suspicionTimeout(4, 100, 1000), 8000);
  assert.is(suspicionTimeout(6, 1000, 5000), 90_000); // WAN
  assert.is(suspicionTimeout(4, 20, 1000), 5204); // log10(20)=1.30103 truncated to 1.301
  // 10 nodes LAN: min 4 s, max 24 s, k = 2; one confirmation → 24 - ln2/ln3 * 20 = 11.38 s
  assert.is(remainingSuspicionTime(0, 2, 0, 4000, 24_000), 24_000);
  assert.is(remainingSuspicionTime(1, 2, 0, 4000, 24_000), 11381);
  assert.is(remainingSuspicionTime(2, 2, 1000, 4000, 24_000), 3000);
  assert.is(pushPullScale(30_000, 32), 30_000);
  assert.is(pushPullScale(30_000, 33), 60_000);
  assert.is(pushPullScale(30_000, 64), 60_000);
  assert.is(pushPullScale(30_000, 65), 90_000);
  const a = new Awareness(8);
  a.applyDelta(-1); assert.is(a.getHealthScore(), 0);
  a.applyDelta(20); assert.is(a.getHealthScore(), 7);
  assert.is(a.scaleTimeout(1000), 8000);
});

test('alive: new node joins, stale incarnations ignored, meta change updates, suspect/dead/alive cycle', async () => {
  const { n, inject } = setup();
  await inject(alive('x', 5));
  assert.is(stateOf(n, 'x'), 'alive');
  assert.ok(n.events.events.some((e) => e.kind === 'join' && e.name === 'x' && e.inc === 5));
  await inject(alive('x', 4, 2, Uint8Array.of(1)));
  assert.equal([...n.ml.members().find((m) => m.name === 'x')!.meta], [0xff, 0x80], 'older alive ignored');
  await inject(alive('x', 6, 2, Uint8Array.of(0xff, 0x81, 0xa1, 0x61, 0xa1, 0x62)));
  assert.ok(n.events.events.some((e) => e.kind === 'update' && e.name === 'x'));
  await inject({ type: 'suspect', incarnation: 5, node: 'x', from: 'y' });
  assert.is(stateOf(n, 'x'), 'alive', 'suspect with an older incarnation ignored');
  await inject({ type: 'suspect', incarnation: 6, node: 'x', from: 'y' });
  assert.is(stateOf(n, 'x'), 'suspect');
  await inject(alive('x', 7));
  assert.is(stateOf(n, 'x'), 'alive', 'a newer alive clears the suspicion');
  await inject({ type: 'dead', incarnation: 7, node: 'x', from: 'y' });
  assert.is(stateOf(n, 'x'), 'dead');
  await inject({ type: 'dead', incarnation: 8, node: 'x', from: 'x' });
  assert.is(stateOf(n, 'x'), 'dead', 'already dead: a later dead is ignored');
  await inject(alive('x', 8));
  assert.is(stateOf(n, 'x'), 'alive');
  assert.is(n.events.events.filter((e) => e.kind === 'join' && e.name === 'x').length, 2, 'dead → alive is a join');
  await inject({ type: 'dead', incarnation: 8, node: 'x', from: 'x' });
  assert.is(stateOf(n, 'x'), 'left', 'dead from itself = left');
});

class ManualClock {
  t = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now = () => this.t;
  after = (ms: number, fn: () => void) => {
    const h = { at: this.t + ms, fn, live: true };
    this.timers.push(h);
    return { cancel: () => { h.live = false; } };
  };
  every = (ms: number, fn: () => void) => {
    let current = { cancel: () => {} };
    const tick = (): void => { current = this.after(ms, tick); fn(); };
    current = this.after(ms, tick);
    return { cancel: () => current.cancel() };
  };
  sleep = (ms: number) => new Promise<void>((resolve) => { this.after(ms, resolve); });
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at; due.live = false; due.fn();
    }
    this.t = end;
  }
}

test('Lifeguard suspicion timer: starts at max, each distinct confirmation shortens it', () => {
  const clock = new ManualClock();
  let fired = -1;
  let at = -1;
  const s = new Suspicion('a', 2, 4000, 24_000, clock, (c) => { fired = c; at = clock.now(); });
  clock.advance(5000);
  assert.is(fired, -1);
  assert.not.ok(s.confirm('a'), 'the accuser is not a confirmation');
  assert.ok(s.confirm('b'));
  assert.not.ok(s.confirm('b'), 'the same confirmer counts once');
  clock.advance(6000); // 11 s since start: not yet (11.381 s)
  assert.is(fired, -1);
  clock.advance(1000);
  assert.is(fired, 1);
  assert.is(at, 11_381);
  const clock2 = new ManualClock();
  let fired2 = -1;
  const s2 = new Suspicion('a', 2, 4000, 24_000, clock2, (c) => { fired2 = c; });
  clock2.advance(5000);
  s2.confirm('b');
  s2.confirm('c'); // k reached: timeout = min (4 s) already passed → fires now
  assert.is(fired2, 2);
  const clock3 = new ManualClock();
  let fired3 = false;
  const s3 = new Suspicion('a', 0, 4000, 24_000, clock3, () => { fired3 = true; });
  clock3.advance(3999);
  assert.not.ok(fired3);
  s3.cancel();
  clock3.advance(10_000);
  assert.not.ok(fired3, 'cancelled');
  const clock4 = new ManualClock();
  let fired4 = false;
  new Suspicion('a', 0, 4000, 24_000, clock4, () => { fired4 = true; });
  clock4.advance(4000);
  assert.ok(fired4, 'k = 0: min timeout');
});

test('refutation: accusations about ourselves raise our incarnation above them', async () => {
  const { n, inject } = setup();
  assert.is(n.ml.localNode().incarnation, 1);
  await inject({ type: 'suspect', incarnation: 1, node: 'me', from: 'y' });
  assert.is(n.ml.localNode().incarnation, 2);
  await inject({ type: 'dead', incarnation: 10, node: 'me', from: 'y' });
  assert.is(n.ml.localNode().incarnation, 11);
  assert.is(n.ml.localNode().state, 'alive');
  await inject(alive('me', 20, 1));
  assert.is(n.ml.localNode().incarnation, 21, 'a forged newer alive about us is refuted too');
  await inject(alive('me', 30, 5));
  assert.is(n.ml.localNode().incarnation, 21, 'an alive about us from another address is a name conflict, not refuted');
  assert.is(n.counters.get('gossip.refute'), 3);
  assert.ok(n.ml.healthScore() >= 1, 'refuting raises the awareness score');
});

test('name conflict goes to the ConflictDelegate; a left node may come back from another address', async () => {
  const conflicts: [MemberNode, MemberNode][] = [];
  const { n, inject } = setup({ conflict: { notifyConflict: (a: MemberNode, b: MemberNode) => conflicts.push([a, b]) } });
  await inject(alive('x', 1, 2));
  await inject(alive('x', 2, 3));
  assert.is(conflicts.length, 1);
  assert.is(conflicts[0]![0].addr, '10.7.0.2');
  assert.is(conflicts[0]![1].addr, '10.7.0.3');
  assert.is(n.ml.members().find((m) => m.name === 'x')!.addr, '10.7.0.2');
  await inject({ type: 'dead', incarnation: 2, node: 'x', from: 'x' });
  await inject(alive('x', 1, 3));
  assert.is(n.ml.members().find((m) => m.name === 'x')!.addr, '10.7.0.3', 'left node re-addressed even at a lower incarnation');
  assert.is(stateOf(n, 'x'), 'alive');
});

test('invalid protocol versions in alive are ignored', async () => {
  const { n, inject } = setup();
  await inject({ ...alive('x', 1), vsn: Uint8Array.of(0, 5, 2, 2, 5, 4) } as MemberlistMessage);
  await inject({ ...alive('y', 1), vsn: Uint8Array.of(5, 1, 2, 2, 5, 4) } as MemberlistMessage);
  assert.is(stateOf(n, 'x'), undefined);
  assert.is(stateOf(n, 'y'), undefined);
  assert.is(n.counters.get('drop.alive.bad-vsn'), 2);
});

test('ping for another node name is not answered; ours is, with the ping delegate payload', async () => {
  const net = new MemoryNetwork();
  const n = memoryNode(net, 'me', '10.8.0.1', { ping: { ackPayload: () => Uint8Array.of(1, 0x80), notifyPingComplete: () => {} } });
  nodes.push(n);
  const peer = net.transport('10.8.0.2', 7946);
  const acks: Uint8Array[] = [];
  const { decodePacket } = await import('../../../agent/gossip/wire/packet.ts');
  peer.setHandlers((buf) => { for (const m of decodePacket(buf).messages) if (m.type === 'ack') acks.push(m.payload ?? new Uint8Array(0)); }, (s) => s.destroy());
  peer.sendPacket({ addr: '10.8.0.1', port: 7946 }, encodeMessage({ type: 'ping', seqNo: 1, node: 'someone-else' }));
  peer.sendPacket({ addr: '10.8.0.1', port: 7946 }, encodeMessage({ type: 'ping', seqNo: 2, node: 'me' }));
  await waitFor('ack', () => acks.length === 1, 2000);
  await tick();
  assert.is(acks.length, 1);
  assert.equal([...acks[0]!], [1, 0x80]);
  assert.is(n.counters.get('drop.ping.wrong-node'), 1);
  await peer.shutdown();
});

test('MergeDelegate vetoes alive messages and push/pull merges', async () => {
  const merge = { notifyMerge: (ns: MemberNode[]) => (ns.some((x) => x.name.startsWith('bad')) ? 'bad node' : null) };
  const { n, inject } = setup({ merge });
  await inject(alive('bad1', 1));
  await inject(alive('good', 1, 3));
  assert.is(stateOf(n, 'bad1'), undefined);
  assert.is(stateOf(n, 'good'), 'alive');
  assert.is(n.counters.get('drop.alive.vetoed'), 1);
});

test('push/pull: protocol version verification refuses an incompatible peer; merge delegate refusal fails our join', async () => {
  const net = new MemoryNetwork();
  const a = memoryNode(net, 'a', '10.11.0.1');
  const b = memoryNode(net, 'b', '10.11.0.2', { delegateVersions: { min: 2, max: 6, cur: 6 } });
  nodes.push(a, b);
  let err: unknown = null;
  try { await a.ml.join(['10.11.0.2']); } catch (e) { err = e; }
  assert.ok(err, 'join must fail');
  assert.match(String((err as Error).message), /delegate protocol version/);
  assert.is(a.counters.get('pushpull.refused.version'), 1);
  assert.is(stateOf(a, 'b'), undefined);

  const c = memoryNode(net, 'c', '10.11.0.3', { merge: { notifyMerge: (ns: MemberNode[]) => (ns.some((x) => x.name === 'bad') ? 'no' : null) } });
  const bad = memoryNode(net, 'bad', '10.11.0.4');
  nodes.push(c, bad);
  let err2: unknown = null;
  try { await c.ml.join(['10.11.0.4']); } catch (e) { err2 = e; }
  assert.ok(err2);
  assert.match(String((err2 as Error).message), /merge canceled/);
  assert.is(stateOf(c, 'bad'), undefined);
});

test('indirect-ping floods are bounded by limits.pendingAcks', async () => {
  const { n, net } = setup({ limits: { ...defaultLimits('edge'), pendingAcks: 5 } });
  // All at once: each relayed ping waits ProbeTimeout (200 ms) for its ack.
  for (let i = 0; i < 20; i++) {
    const m = encodeMessage({ type: 'indirectPing', seqNo: i, target: Uint8Array.of(10, 7, 0, 50), port: 7946, node: 'ghost', nack: true });
    net.deliverPacket({ addr: '10.7.0.9', port: 7946 }, { addr: '10.7.0.1', port: 7946 }, m);
  }
  await tick();
  assert.is(n.counters.get('probe.indirect-relayed'), 5);
  assert.is(n.counters.get('drop.indirect-ping.too-many-pending'), 15);
});

test.run();
