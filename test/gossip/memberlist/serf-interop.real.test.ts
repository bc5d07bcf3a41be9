// Interop with the real Debian serf 0.9.4 binary (memberlist 0.2.2) on loopback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { profile, type ProfileName } from '../../../agent/gossip/profiles.ts';
import { createNetMemberlist } from '../../../agent/gossip/memberlist/create.ts';
import type { MemberlistNode } from '../../../agent/gossip/memberlist/memberlist.ts';
import { Keyring } from '../../../agent/gossip/wire/keyring.ts';
import { SerfAgent } from '../../support/real-serf.ts';
import { EventLog } from './helpers.ts';
import { waitFor } from '../../support/wait.ts';

let nextPort = 17010;
const ports = () => { const p = nextPort; nextPort += 3; return p; };
let serf: SerfAgent | undefined;
let serf2: SerfAgent | undefined;
let ours: MemberlistNode | undefined;

test.after.each(async () => {
  await ours?.shutdown(); ours = undefined;
  await serf?.stop(); serf = undefined;
  await serf2?.stop(); serf2 = undefined;
});

/** Empty serf tags: the tag magic byte 0xff + msgpack empty map. */
const EMPTY_TAGS = Uint8Array.of(0xff, 0x80);

const userMsgs: Uint8Array[] = [];
let serfPushState: Uint8Array | null = null;

async function ourNode(port: number, opts: { profile?: ProfileName; keyring?: Keyring; events?: EventLog; dcur?: number; maxMembers?: number } = {}): Promise<{ ml: MemberlistNode; counters: Counters }> {
  const counters = new Counters();
  const ml = await createNetMemberlist({
    name: 'ours', bindAddr: '127.0.0.1', bindPort: port, profile: profile(opts.profile ?? 'lan'), compression: true,
    delegateVersions: { min: 2, max: 5, cur: opts.dcur ?? 4 }, limits: { ...defaultLimits('edge'), ...(opts.maxMembers ? { maxMembers: opts.maxMembers } : {}) }, counters,
    logger: process.env.TEST_LOG ? Logger.root({ level: 'DEBUG' }).child('ours') : Logger.silent(),
    keyring: opts.keyring ?? null,
    ...(opts.events ? { events: opts.events } : {}),
    delegate: {
      nodeMeta: () => EMPTY_TAGS, notifyMsg: (m) => { if (userMsgs.length < 1000) userMsgs.push(m); }, getBroadcasts: () => [],
      localState: () => new Uint8Array(0), mergeRemoteState: (b) => { serfPushState = b; },
    },
  });
  ours = ml;
  return { ml, counters };
}

async function serfStatus(p: SerfAgent, name: string): Promise<string | undefined> {
  return (await p.members()).find((m) => m.name === name)?.status;
}

async function waitSerf(what: string, p: SerfAgent, name: string, status: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < end) {
    last = await serfStatus(p, name);
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: serf shows ${name} as ${last}, wanted ${status}`);
}

const ourState = (ml: MemberlistNode, name: string) => ml.members().find((m) => m.name === name)?.state;

test('we join serf (lan): both sides see each other alive with the right address', async () => {
  const p = ports();
  serf = await SerfAgent.launch({ name: 's1', ip: '127.0.0.1', port: p, rpcPort: p + 1, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan'] });
  const { ml } = await ourNode(p + 2);
  assert.is(await ml.join([`127.0.0.1:${p}`]), 1);
  await waitSerf('join', serf, 'ours', 'alive', 10_000);
  const me = (await serf.members()).find((m) => m.name === 'ours')!;
  assert.is(me.addr, `127.0.0.1:${p + 2}`);
  assert.equal(me.tags, {});
  assert.is(me.protocol.version, 4);
  assert.is(ourState(ml, 's1'), 'alive');
  const s1 = ml.members().find((m) => m.name === 's1')!;
  assert.is(s1.addr, '127.0.0.1');
  assert.is(s1.port, p);
  assert.equal([s1.pMin, s1.pMax, s1.pCur, s1.dMin, s1.dMax, s1.dCur], [1, 5, 2, 2, 5, 5]);
  // Probes both ways keep working for a few rounds: nobody gets suspected.
  await new Promise((r) => setTimeout(r, 3000));
  assert.is(await serfStatus(serf, 'ours'), 'alive');
  assert.ok(ml.stats()['probe.ok']! >= 1, 'we probed serf successfully');
  assert.ok(ml.stats()['probe.answered']! >= 1, 'serf probed us');
  // serf's push/pull user state (type 2) reached our delegate.
  assert.ok(serfPushState !== null && (serfPushState as Uint8Array)[0] === 2, 'serf push/pull user state delivered');
  // A serf user event is gossiped to us as a memberlist user message: [3 = userEvent][msgpack].
  userMsgs.length = 0;
  await serf.run(['event', 'hello-cloudy', 'payload-123']);
  await waitFor('user event', () => userMsgs.some((m) => m[0] === 3 && Buffer.from(m).includes(Buffer.from('hello-cloudy'))), 10_000);
});

test('serf joins us; kill -9 of serf → we declare it dead', async () => {
  const p = ports();
  const events = new EventLog();
  const { ml } = await ourNode(p + 2, { events });
  serf = await SerfAgent.launch({ name: 's1', ip: '127.0.0.1', port: p, rpcPort: p + 1, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan'] });
  await serf.run(['join', `127.0.0.1:${p + 2}`]);
  await waitFor('we see s1', () => ourState(ml, 's1') === 'alive', 10_000);
  await waitSerf('serf sees us', serf, 'ours', 'alive', 10_000);
  await serf?.stop('SIGKILL');
  // lan: probe 1 s, suspicion 4 s for 2 nodes → dead within ~6 s.
  await waitFor('s1 dead', () => ourState(ml, 's1') === 'dead', 20_000);
  assert.ok(events.events.some((e) => e.kind === 'leave' && e.name === 's1' && e.state === 'dead'));
});

test('our node stops without leave → serf shows it failed', async () => {
  const p = ports();
  serf = await SerfAgent.launch({ name: 's1', ip: '127.0.0.1', port: p, rpcPort: p + 1, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan'] });
  const { ml } = await ourNode(p + 2);
  await ml.join([`127.0.0.1:${p}`]);
  await waitSerf('join', serf, 'ours', 'alive', 10_000);
  await ml.shutdown();
  await waitSerf('failure detection', serf, 'ours', 'failed', 25_000);
});

test('our memberlist leave → serf shows failed (no serf leave intent, §3.5); serf leave → we see left', async () => {
  const p = ports();
  serf = await SerfAgent.launch({ name: 's1', ip: '127.0.0.1', port: p, rpcPort: p + 1, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan'] });
  const { ml } = await ourNode(p + 2);
  await ml.join([`127.0.0.1:${p}`]);
  await waitSerf('join', serf, 'ours', 'alive', 10_000);
  await ml.leave(5000);
  // Serf decides left-vs-failed from its own leave intent, which a bare memberlist node does not send.
  await waitSerf('leave', serf, 'ours', 'failed', 10_000);
  const log = serf.log();
  assert.ok(/EventMemberFailed: ours|member-failed|ours/.test(log));
  await ml.shutdown();
  ours = undefined;

  // The other way round: serf leaves gracefully; memberlist-level that is dead(From=self) = left.
  const q = ports();
  const { ml: ml2 } = await ourNode(q + 2);
  serf2 = await SerfAgent.launch({ name: 's2', ip: '127.0.0.1', port: q, rpcPort: q + 1, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan'] });
  await ml2.join([`127.0.0.1:${q}`]);
  await waitFor('we see s2', () => ourState(ml2, 's2') === 'alive', 10_000);
  await serf2.run(['leave']);
  await waitFor('s2 left', () => ourState(ml2, 's2') === 'left', 15_000);
});

test('serf -protocol 4 -profile wan with our wan profile: join both ways', async () => {
  const p = ports();
  serf = await SerfAgent.launch({ name: 's1', ip: '127.0.0.1', port: p, rpcPort: p + 1, eventHandler: false, profile: null, protocol: null, extra: ['-profile=wan', '-protocol=4'] });
  const { ml } = await ourNode(p + 2, { profile: 'wan' });
  assert.is(await ml.join([`127.0.0.1:${p}`]), 1);
  await waitSerf('join', serf, 'ours', 'alive', 10_000);
  const s1 = ml.members().find((m) => m.name === 's1')!;
  assert.is(s1.dCur, 4);
  // A second serf joins us (not the first serf) and learns everyone through our push/pull.
  serf2 = await SerfAgent.launch({ name: 's2', ip: '127.0.0.1', port: p + 100, rpcPort: p + 101, eventHandler: false, profile: null, protocol: null, extra: ['-profile=wan', '-protocol=4'] });
  await serf2.run(['join', `127.0.0.1:${p + 2}`]);
  await waitSerf('s2 learns s1 via us', serf2, 's1', 'alive', 15_000);
  await waitSerf('s1 learns s2 via gossip', serf, 's2', 'alive', 15_000);
  await waitFor('we see s2', () => ourState(ml, 's2') === 'alive', 10_000);
});

test('encryption both ways with -encrypt; a wrong key is not admitted', async () => {
  const key = execFileSync('/usr/bin/serf', ['keygen']).toString().trim();
  const other = execFileSync('/usr/bin/serf', ['keygen']).toString().trim();
  const p = ports();
  serf = await SerfAgent.launch({ name: 's1', ip: '127.0.0.1', port: p, rpcPort: p + 1, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan', `-encrypt=${key}`] });
  const { ml, counters } = await ourNode(p + 2, { keyring: Keyring.fromBase64([key]) });
  assert.is(await ml.join([`127.0.0.1:${p}`]), 1);
  await waitSerf('encrypted join', serf, 'ours', 'alive', 10_000);
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(counters.get('probe.ok') >= 1, 'encrypted probes succeed');
  assert.is(counters.get('decode.udp.decrypt'), 0);
  // serf joins us over the encrypted TCP path too
  serf2 = await SerfAgent.launch({ name: 's2', ip: '127.0.0.1', port: p + 100, rpcPort: p + 101, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan', `-encrypt=${key}`] });
  await serf2.run(['join', `127.0.0.1:${p + 2}`]);
  await waitSerf('s2 joined through us', serf2, 'ours', 'alive', 10_000);
  await ml.shutdown();
  ours = undefined;

  // Wrong key: the join fails and serf never lists us.
  const q = ports();
  const { ml: bad, counters: badCounters } = await ourNode(q + 2, { keyring: Keyring.fromBase64([other]) });
  let err: unknown = null;
  try { await bad.join([`127.0.0.1:${p}`]); } catch (e) { err = e; }
  assert.ok(err, 'join with a wrong key must fail');
  assert.ok(badCounters.get('decode.tcp.decrypt') >= 1);
  await new Promise((r) => setTimeout(r, 1500));
  // The wrong-key node (its own address) was never admitted.
  assert.ok(!(await serf.members()).some((m) => m.name === 'ours' && m.addr === `127.0.0.1:${q + 2}`));
  // Plaintext node against encrypted serf: refused too.
  await bad.shutdown();
  ours = undefined;
  const r = ports();
  const { ml: plain } = await ourNode(r + 2);
  let err2: unknown = null;
  try { await plain.join([`127.0.0.1:${p}`]); } catch (e) { err2 = e; }
  assert.ok(err2, 'plaintext join into an encrypted serf must fail');
});

test('edge mode: our node keeps 2 members among 3 serf agents and is never marked failed', async () => {
  const p = ports();
  const { ml, counters } = await ourNode(p + 2, { maxMembers: 2 });
  serf = await SerfAgent.launch({ name: 's1', ip: '127.0.0.1', port: p, rpcPort: p + 1, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan'] });
  serf2 = await SerfAgent.launch({ name: 's2', ip: '127.0.0.1', port: p + 100, rpcPort: p + 101, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan'] });
  const s3 = await SerfAgent.launch({ name: 's3', ip: '127.0.0.1', port: p + 200, rpcPort: p + 201, eventHandler: false, profile: null, protocol: null, extra: ['-profile=lan'] });
  try {
    // Every serf agent joins only through us.
    for (const s of [serf, serf2, s3]) await s.run(['join', `127.0.0.1:${p + 2}`]);
    for (const s of [serf, serf2, s3]) await waitSerf('sees us', s, 'ours', 'alive', 10_000);
    // They find each other through what we relay / push, although we keep only one of them.
    for (const s of [serf, serf2, s3]) for (const name of ['s1', 's2', 's3']) await waitSerf(`mesh ${name}`, s, name, 'alive', 20_000);
    const end = Date.now() + 8000;
    while (Date.now() < end) {
      for (const s of [serf, serf2, s3]) assert.is(await serfStatus(s, 'ours'), 'alive');
      assert.ok(ml.members().length <= 2);
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(counters.get('probe.answered') >= 5, 'serf probes answered');
    assert.ok(counters.get('evict.newcomer') + counters.get('evict.low-priority') >= 1);
  } finally {
    await s3?.stop();
  }
});

test.run();
