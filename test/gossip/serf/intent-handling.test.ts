// Serf's intent state machine driven directly through its memberlist delegates
// (no network): join/leave intents, recent intents for unknown nodes,
// left-vs-failed, force-leave, exact-bytes rebroadcast, push/pull state.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SerfNode } from '../../../agent/gossip/serf/serf.ts';
import { defaultSerfOptions } from '../../../agent/gossip/serf/config.ts';
import { encodeMeta } from '../../../agent/gossip/wire/serf-messages.ts';
import { realClock } from '../../../agent/gossip/clock.ts';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import { encodeSerfMessage, decodeSerfMessage, encodeTags } from '../../../agent/gossip/wire/serf-messages.ts';
import type { MemberNode, Memberlist } from '../../../agent/gossip/memberlist/types.ts';
import type { SerfEvent } from '../../../agent/gossip/serf/types.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VECTOR_DIR } from '../../support/vectors.ts';
import { ByteCursor } from '../../../agent/gossip/wire/byte-cursor.ts';
import { UserStateReader } from '../../../agent/gossip/memberlist/push-pull.ts';

function mk(name = 'me', over = {}) {
  const counters = new Counters();
  const s = new SerfNode(defaultSerfOptions(name, { memberCoalesce: null, userCoalesce: null, ...over }), {
    clock: realClock, logger: Logger.silent(), counters, limits: defaultLimits('edge'), keyring: null,
  });
  const events: SerfEvent[] = [];
  s.onEvent((e) => events.push(e));
  return { s, d: s.delegates(), events, counters };
}
const node = (name: string, tags: Record<string, string> = {}, state: MemberNode['state'] = 'alive'): MemberNode => ({
  name, addr: '10.1.0.1', port: 7946, meta: encodeTags(tags), state, incarnation: 1,
  pMin: 1, pMax: 5, pCur: 2, dMin: 2, dMax: 5, dCur: 4, stateChange: Date.now(),
});
const status = (s: SerfNode, n: string) => s.members().find((m) => m.name === n)?.status ?? 'none';
/** A whole remote user state through the delegate's merge (the streamed one, read from memory), awaited. */
const mergeWhole = (d: ReturnType<SerfNode['delegates']>, buf: Uint8Array, join: boolean) =>
  d.delegate.mergeRemoteStateStream!(new UserStateReader(ByteCursor.over(buf, 'test'), buf.length, buf.length), join);

test('leave intent then memberlist leave = left; memberlist leave without intent = failed', () => {
  const { s, d, events } = mk();
  d.events.notifyJoin(node('me'));
  d.events.notifyJoin(node('a', { role: 'x' }));
  d.events.notifyJoin(node('b'));
  assert.equal(s.members().find((m) => m.name === 'a')!.tags, { role: 'x' });
  const leave = encodeSerfMessage({ type: 'leave', ltime: 5, node: 'a', prune: false });
  d.delegate.notifyMsg(leave);
  assert.is(status(s, 'a'), 'leaving');
  assert.is(s.clock.time(), 6, 'witnessed');
  d.events.notifyLeave(node('a', {}, 'left'));
  d.events.notifyLeave(node('b', {}, 'left')); // memberlist says left, but no serf intent: failed
  assert.is(status(s, 'a'), 'left');
  assert.is(status(s, 'b'), 'failed');
  assert.equal(events.filter((e) => e.type !== 'user' && e.type !== 'query').map((e) => e.type), ['member-join', 'member-join', 'member-join', 'member-leave', 'member-failed']);
  const st = s.stats();
  assert.is(st.left, '1'); assert.is(st.failed, '1'); assert.is(st.members, '3');
});

test('received intents are rebroadcast as the exact received bytes; stale ones are not', () => {
  const { s, d } = mk();
  d.events.notifyJoin(node('a'));
  // A join intent with extra map ordering quirks: hand-made bytes must come back untouched.
  const join = encodeSerfMessage({ type: 'join', ltime: 9, node: 'a' });
  d.delegate.notifyMsg(join);
  const out = d.delegate.getBroadcasts(3, 1400);
  assert.equal(out.length, 1);
  assert.equal([...out[0]!], [...join]);
  d.delegate.notifyMsg(encodeSerfMessage({ type: 'join', ltime: 9, node: 'a' }));
  d.delegate.notifyMsg(encodeSerfMessage({ type: 'join', ltime: 3, node: 'a' }));
  assert.is(s.stats().intent_queue, '1', 'duplicate/older intents not queued again');
  assert.is(s.clock.time(), 10);
});

test('intents for unknown nodes are remembered and applied when memberlist reports the node', () => {
  const { s, d } = mk();
  d.delegate.notifyMsg(encodeSerfMessage({ type: 'leave', ltime: 4, node: 'ghost', prune: false }));
  d.events.notifyJoin(node('ghost'));
  assert.is(status(s, 'ghost'), 'leaving');
  d.delegate.notifyMsg(encodeSerfMessage({ type: 'join', ltime: 7, node: 'ghost2' }));
  d.events.notifyJoin(node('ghost2'));
  // the join intent set its statusLTime: an older leave is ignored
  d.delegate.notifyMsg(encodeSerfMessage({ type: 'leave', ltime: 6, node: 'ghost2', prune: false }));
  assert.is(status(s, 'ghost2'), 'alive');
});

test('a leave intent about ourselves while alive is refuted with a newer join intent', () => {
  const { s, d } = mk('me');
  d.events.notifyJoin(node('me'));
  d.delegate.notifyMsg(encodeSerfMessage({ type: 'leave', ltime: 20, node: 'me', prune: false }));
  assert.is(status(s, 'me'), 'alive');
  const out = d.delegate.getBroadcasts(3, 1400).map((b) => decodeSerfMessage(b));
  assert.equal(out.map((m) => m.type), ['join']);
  assert.ok((out[0] as { ltime: number }).ltime > 20);
});

test('force-leave with prune erases a failed member (member-reap)', async () => {
  const { s, d, events } = mk();
  d.events.notifyJoin(node('me'));
  d.events.notifyJoin(node('x'));
  d.events.notifyLeave(node('x', {}, 'dead'));
  assert.is(status(s, 'x'), 'failed');
  await s.removeFailedNode('x', true);
  assert.is(status(s, 'x'), 'none');
  assert.ok(events.some((e) => e.type === 'member-reap'));
});

test('push/pull local state: LTime, StatusLTimes (incl. left/failed), LeftMembers, 512 event slots; merge applies it', async () => {
  const a = mk('a');
  a.d.events.notifyJoin(node('a'));
  a.d.events.notifyJoin(node('l'));
  a.d.delegate.notifyMsg(encodeSerfMessage({ type: 'leave', ltime: 3, node: 'l', prune: false }));
  a.d.events.notifyLeave(node('l', {}, 'left'));
  a.d.delegate.notifyMsg(encodeSerfMessage({ type: 'userEvent', ltime: 2, name: 'ev', payload: new Uint8Array([1]), cc: false }));
  const st = decodeSerfMessage(a.d.delegate.localState(false));
  assert.is(st.type, 'pushPull');
  if (st.type !== 'pushPull') return;
  assert.equal([...st.statusLTimes.entries()].sort(), [['a', 0], ['l', 3]]);
  assert.equal(st.leftMembers, ['l']);
  assert.is(st.events.length, 512);
  assert.is(st.events.filter(Boolean).length, 1);
  const b = mk('b');
  b.d.events.notifyJoin(node('b'));
  b.d.events.notifyJoin(node('l'));
  await mergeWhole(b.d, a.d.delegate.localState(false), false);
  assert.is(status(b.s, 'l'), 'leaving', 'left member from the remote state applied as a leave intent');
  assert.ok(b.events.some((e) => e.type === 'user' && e.name === 'ev'), 'buffered event replayed');
  assert.ok(b.s.clock.time() >= a.s.clock.time() - 1);
});

test('streamed push/pull user state (any chunking) does what the whole-buffer merge does; a left member goes one past its status time', async () => {
  // Remote state: 'l' left at status time 3; 'j' joined at 7; 2,000 members we do not know; one event.
  const remote = encodeSerfMessage({
    type: 'pushPull', ltime: 40, eventLTime: 9, queryLTime: 5, leftMembers: ['l', 'gone'],
    statusLTimes: new Map([['l', 3], ['j', 7], ['gone', 2], ...Array.from({ length: 2000 }, (_, i) => [`far-${i}`, 1] as [string, number])]),
    events: [null, { ltime: 8, events: [{ name: 'deploy', payload: Uint8Array.of(1, 2) }] }],
  });
  const fresh = () => {
    const x = mk('x');
    x.d.events.notifyJoin(node('x'));
    x.d.events.notifyJoin(node('j'));
    x.d.events.notifyJoin(node('l'));
    // We already saw l's join at LTime 3: only "one past" it (serf delegate.go) makes the leave newer.
    x.d.delegate.notifyMsg(encodeSerfMessage({ type: 'join', ltime: 3, node: 'l' }));
    return x;
  };
  const buffered = fresh();
  await mergeWhole(buffered.d, remote, false);
  for (const step of [1, 7, remote.length]) {
    const streamed = fresh();
    let off = 0;
    const cur = new ByteCursor({ read: async () => { if (off >= remote.length) return null; const c = remote.subarray(off, off + step); off += step; return c; } }, remote.length, 'test');
    await streamed.d.delegate.mergeRemoteStateStream!(new UserStateReader(cur, remote.length, 64 * 1024), false);
    assert.is(status(streamed.s, 'l'), 'leaving', `step ${step}: left member applied (status time 3 + 1 > 3)`);
    assert.is(status(buffered.s, 'l'), 'leaving');
    assert.equal(streamed.s.members().map((m) => `${m.name}:${m.status}`).sort(), buffered.s.members().map((m) => `${m.name}:${m.status}`).sort());
    assert.equal(streamed.events.filter((e) => e.type === 'user').map((e) => e.type === 'user' && e.name), ['deploy']);
    assert.is(streamed.s.clock.time(), buffered.s.clock.time());
    assert.ok(streamed.s.clock.time() >= 40);
    assert.is(streamed.counters.get('serf.decode_errors.pushpull'), 0);
    assert.is(streamed.counters.get('evict.recent_intents'), buffered.counters.get('evict.recent_intents'));
  }
});

test('a malformed streamed user state is counted, not thrown', async () => {
  const x = mk('x');
  const bad = Uint8Array.of(...encodeSerfMessage({ type: 'leave', ltime: 1, node: 'n', prune: false }));
  let given = false;
  const cur = new ByteCursor({ read: async () => { if (given) return null; given = true; return bad; } }, bad.length, 'test');
  await x.d.delegate.mergeRemoteStateStream!(new UserStateReader(cur, bad.length, 1024), false);
  assert.is(x.counters.get('serf.decode_errors.pushpull'), 1);
  const truncated = encodeSerfMessage({ type: 'pushPull', ltime: 1, eventLTime: 1, queryLTime: 1, leftMembers: [], statusLTimes: new Map([['a', 1]]), events: [] });
  const cut = truncated.subarray(0, truncated.length - 3);
  let g2 = false;
  const cur2 = new ByteCursor({ read: async () => { if (g2) return null; g2 = true; return cut; } }, cut.length, 'test');
  await x.d.delegate.mergeRemoteStateStream!(new UserStateReader(cur2, truncated.length, 1024), false);
  assert.is(x.counters.get('serf.decode_errors.pushpull'), 2);
});

test('tags: protocol 2 meta is the raw role; protocol >= 3 is 0xFF + msgpack; over 512 bytes refused', () => {
  assert.equal([...encodeMeta({ role: 'web', x: 'y' }, 2)], [...new TextEncoder().encode('web')]);
  assert.is(encodeMeta({}, 4)[0], 0xff);
  try {
    mk('me', { tags: { k: 'v'.repeat(520) } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isAgentError(e, 'E_TOO_LARGE'));
    // 0xff + fixmap(1) + "k"(2) + str16 header(3) + 520 = 527 bytes: 15 over
    assert.match((e as Error).message, /by 15 bytes/);
  }
});

test('a fresh node\'s push/pull user state is byte-identical to real serf\'s (captured vector)', () => {
  const v = JSON.parse(readFileSync(join(VECTOR_DIR, 'tcp-pushpull-uncompressed-request.json'), 'utf8')) as { decoded: { userState: { hex: string } } };
  const { d } = mk('c2');
  d.events.notifyJoin(node('c2'));
  assert.is(Buffer.from(d.delegate.localState(true)).toString('hex'), v.decoded.userState.hex);
});

test('a fresh node\'s ack payload (initial coordinate) is byte-identical to real serf\'s first ack', () => {
  const v = JSON.parse(readFileSync(join(VECTOR_DIR, 'udp-ack-compressed.json'), 'utf8')) as { decoded: { message: { inner: { body: { Payload: { hex: string } } } } } };
  const { d } = mk('x');
  assert.is(Buffer.from(d.ping.ackPayload()).toString('hex'), v.decoded.message.inner.body.Payload.hex);
});

test('a peer\'s coordinate from its ack payload updates ours and is cached; empty payloads ignored', () => {
  const v = JSON.parse(readFileSync(join(VECTOR_DIR, 'udp-ack.json'), 'utf8')) as { decoded: { message: { body: { Payload: { hex: string } } } } };
  const { s, d } = mk('x');
  d.ping.notifyPingComplete(node('peer'), 2, new Uint8Array(0));
  assert.is(s.getCoordinate('peer'), null);
  d.ping.notifyPingComplete(node('peer'), 2, new Uint8Array(Buffer.from(v.decoded.message.body.Payload.hex, 'hex')));
  assert.is(s.getCoordinate('peer')!.error, 1.435536674912632);
  assert.not.equal(s.getCoordinate()!.vec, [0, 0, 0, 0, 0, 0, 0, 0]);
});

test('default query timeout = GossipInterval x 16 x ceil(log10(N+1)) (3.2 s for N <= 9 on lan)', async () => {
  const { s } = mk('me', { gossipIntervalMs: 200 });
  let n = 9;
  const stub = { numMembers: () => n, localNode: () => node('me'), shutdown: async () => {}, healthScore: () => 0 } as unknown as Memberlist;
  s.start(stub);
  assert.is(s.defaultQueryTimeoutMs(), 3200);
  n = 10;
  assert.is(s.defaultQueryTimeoutMs(), 6400);
  n = 100;
  assert.is(s.defaultQueryTimeoutMs(), 9600);
  await s.shutdown();
});

test('garbage messages are counted, never thrown', async () => {
  const { d, counters } = mk();
  d.delegate.notifyMsg(new Uint8Array([1, 0xc1, 0xc1]));
  d.delegate.notifyMsg(new Uint8Array([]));
  await mergeWhole(d, new Uint8Array([2, 0x81]), false);
  assert.ok(counters.get('serf.decode_errors.message') >= 1);
  assert.ok(counters.get('serf.decode_errors.pushpull') >= 1);
});

test.run();
