// Interop with the real Debian `serf` 0.9.4: a mixed cluster of 3 `serf agent`s
// and 2 of our nodes (ours start first, serf joins ours), -protocol 4, lan.
// Membership, tags, user events both ways (exactly once), queries both ways with
// filters/acks/responses, tag changes, graceful leave both ways, kill both ways,
// restart and rejoin both ways.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSerf, type SerfInstance } from '../../../agent/gossip/serf/create.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import type { SerfEvent } from '../../../agent/gossip/serf/types.ts';
import { SerfAgent } from '../../support/real-serf.ts';
import { waitFor, sleep } from '../../support/wait.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

interface Ours extends SerfInstance { name: string; ip: string; events: SerfEvent[] }
const ours: Ours[] = [];
const agents: SerfAgent[] = [];

async function startOurs(name: string, ip: string, tags: Record<string, string>): Promise<Ours> {
  const logger = process.env.TEST_VERBOSE ? Logger.root({ level: 'DEBUG' }).child(name) : Logger.silent();
  const inst = await createSerf({
    nodeName: name, bindAddr: ip, bindPort: 7946, profile: 'lan', protocolVersion: 4, tags, rejoin: false,
    serf: { memberCoalesce: null, userCoalesce: null },
  }, { logger, counters: new Counters() });
  const o: Ours = Object.assign(inst, { name, ip, events: [] as SerfEvent[] });
  inst.serf.onEvent((e) => {
    o.events.push(e);
    if (e.type === 'query' && e.query.name.startsWith('q')) void e.query.respond(enc(`ours:${name}:${dec(e.query.payload)}`)).catch(() => {});
  });
  await inst.start();
  ours.push(o);
  return o;
}

function agent(name: string, ip: string, tags: Record<string, string>, join: string[]): SerfAgent {
  const a = new SerfAgent({ name, ip, tags, join, protocol: 4, profile: 'lan' });
  agents.push(a);
  return a;
}

const ourStatus = (o: Ours, name: string) => o.serf.members().find((m) => m.name === name)?.status ?? 'none';
const live = (o: Ours) => !['shutdown', 'left'].includes(o.serf.state());

test.after(async () => {
  for (const o of ours) await o.stop().catch(() => {});
  for (const a of agents) { await a.stop(); a.cleanup(); }
});

let o1: Ours, o2: Ours, s1: SerfAgent, s2: SerfAgent, s3: SerfAgent;

test('mixed cluster assembles: serf joins ours; all 5 members alive everywhere with tags and addresses', async () => {
  o1 = await startOurs('o1', '127.0.3.11', { role: 'cloudy' });
  o2 = await startOurs('o2', '127.0.3.12', { role: 'db', services: 'none' });
  assert.is(await o2.serf.join(['127.0.3.11:7946'], true), 1);
  s1 = agent('s1', '127.0.3.1', { role: 'web' }, ['127.0.3.11:7946']);
  s2 = agent('s2', '127.0.3.2', { role: 'db' }, ['127.0.3.12:7946']);
  s3 = agent('s3', '127.0.3.3', { role: 'web', dc: 'east' }, ['127.0.3.11:7946']);
  for (const a of [s1, s2, s3]) a.start();
  for (const a of [s1, s2, s3]) await a.waitReady();
  const expected: Record<string, { addr: string; tags: Record<string, string> }> = {
    o1: { addr: '127.0.3.11:7946', tags: { role: 'cloudy' } },
    o2: { addr: '127.0.3.12:7946', tags: { role: 'db', services: 'none' } },
    s1: { addr: '127.0.3.1:7946', tags: { role: 'web' } },
    s2: { addr: '127.0.3.2:7946', tags: { role: 'db' } },
    s3: { addr: '127.0.3.3:7946', tags: { role: 'web', dc: 'east' } },
  };
  for (const a of [s1, s2, s3]) {
    const ms = await waitFor(`${a.o.name} sees 5 alive`, async () => {
      const m = await a.members();
      return m.filter((x) => x.status === 'alive').length === 5 ? m : undefined;
    }, 30_000, 300);
    for (const [name, e] of Object.entries(expected)) {
      const m = ms.find((x) => x.name === name)!;
      assert.ok(m, `${a.o.name} knows ${name}`);
      assert.is(m.addr, e.addr, `${a.o.name}: addr of ${name}`);
      assert.equal(m.tags, e.tags, `${a.o.name}: tags of ${name}`);
    }
    assert.equal((await a.member('o1'))!.protocol, { min: 2, max: 5, version: 4 }, 'serf protocol range and current of ours');
  }
  for (const o of [o1, o2]) {
    await waitFor(`${o.name} sees 5 alive`, () => o.serf.members().filter((m) => m.status === 'alive').length === 5, 30_000);
    for (const [name, e] of Object.entries(expected)) {
      const m = o.serf.members().find((x) => x.name === name)!;
      assert.is(`${m.addr}:${m.port}`, e.addr);
      assert.equal(m.tags, e.tags);
    }
  }
});

test('user events: serf -> ours exactly once; ours -> every serf node exactly once', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await [s1, s2, s3][i]!.cli(['event', '-coalesce=false', `from-s${i + 1}`, `hello-${i}`]);
    assert.is(r.code, 0, r.err);
  }
  const r = await s1.cli(['event', 'coalesced-from-s1', 'cc']); // CC=true
  assert.is(r.code, 0, r.err);
  await o2.serf.userEvent('from-o2', enc('hi-from-o2'), false);
  await o1.serf.userEvent('from-o1', enc('hi-from-o1'), true);
  const userEvents = (o: Ours) => o.events.filter((e) => e.type === 'user').map((e) => (e.type === 'user' ? `${e.name}=${dec(e.payload)}` : ''));
  for (const o of [o1, o2]) {
    await waitFor(`${o.name} got 6 user events`, () => userEvents(o).length >= 6, 20_000);
  }
  for (const a of [s1, s2, s3]) {
    await waitFor(`${a.o.name} handler saw our events`, () => {
      const ev = a.events();
      return ev.includes('user|from-o2||hi-from-o2') && ev.includes('user|from-o1||hi-from-o1') ? true : undefined;
    }, 20_000, 300);
  }
  await sleep(3000); // rebroadcasts settle: any duplicate would have arrived by now
  for (const o of [o1, o2]) {
    assert.equal(userEvents(o).sort(), ['coalesced-from-s1=cc', 'from-o1=hi-from-o1', 'from-o2=hi-from-o2', 'from-s1=hello-0', 'from-s2=hello-1', 'from-s3=hello-2'], `${o.name}: exactly once`);
  }
  for (const a of [s1, s2, s3]) {
    const ev = a.events().filter((l) => l.startsWith('user|'));
    assert.is(ev.filter((l) => l === 'user|from-o2||hi-from-o2').length, 1, `${a.o.name}: from-o2 once`);
    assert.is(ev.filter((l) => l === 'user|from-o1||hi-from-o1').length, 1, `${a.o.name}: from-o1 once`);
  }
});

test('queries serf -> ours: tag filter, node filter, acks and responses', async () => {
  const r = await s2.cli(['query', '-format=json', '-tag', 'role=db', '-timeout=4s', 'q-db', 'ping'], 30_000);
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { Acks: string[]; Responses: Record<string, string> };
  assert.equal([...j.Acks].sort(), ['o2', 's2']);
  assert.equal(j.Responses['o2'], 'ours:o2:ping');
  assert.equal(j.Responses['s2'], 'resp:s2:ping');
  assert.is(Object.keys(j.Responses).length, 2);
  const r2 = await s1.cli(['query', '-format=json', '-node', 'o1', '-relay-factor=2', '-timeout=4s', 'q-node', 'x'], 30_000);
  assert.is(r2.code, 0, r2.err);
  const j2 = JSON.parse(r2.out) as { Acks: string[]; Responses: Record<string, string> };
  assert.equal(j2.Acks, ['o1']);
  assert.equal(j2.Responses, { o1: 'ours:o1:x' }, 'relayed copies de-duplicated by serf');
  // o1 relayed its ack+response through 2 of {o2,s1,s2,s3}: at least one serf agent decoded our relay header and forwarded it.
  await waitFor('a serf agent relayed our response', () => [s1, s2, s3].some((a) => a.log().includes('Relaying response to addr: 127.0.3.1:7946')), 5000, 200);
});

test('queries ours -> serf: tag filter (unanchored), node filter, relay, acks and responses', async () => {
  const run = (params: Parameters<typeof o1.serf.query>[2]) => new Promise<{ acks: string[]; resps: Record<string, string> }>((resolve, reject) => {
    const acks: string[] = []; const resps: Record<string, string> = {};
    o1.serf.query('q-from-ours', enc('p'), { timeoutMs: 4000, ...params }, {
      onAck: (f) => acks.push(f), onResponse: (f, p) => { resps[f] = dec(p); }, onDone: () => resolve({ acks: acks.sort(), resps }),
    }).catch(reject);
  });
  const web = await run({ requestAck: true, filterTags: { role: 'we' } });
  assert.equal(web.acks, ['s1', 's3']);
  assert.equal(web.resps, { s1: 'resp:s1:p', s3: 'resp:s3:p' });
  const node = await run({ requestAck: true, filterNodes: ['s2', 'o2'], relayFactor: 2 });
  assert.equal(node.acks, ['o2', 's2']);
  assert.equal(node.resps, { o2: 'ours:o2:p', s2: 'resp:s2:p' });
});

test('network coordinates: serf computes RTTs to ours from our ack payloads, and we from theirs', async () => {
  await waitFor('o1 has coordinates of serf nodes', () => [s1, s2, s3].every((a) => o1.serf.getCoordinate(a.o.name) !== null), 30_000, 500);
  const c = o1.serf.getCoordinate()!;
  assert.is(c.vec.length, 8);
  const r = await waitFor('serf rtt to o1', async () => {
    const x = await s1.cli(['rtt', 'o1']);
    return x.code === 0 ? x : undefined;
  }, 30_000, 1000);
  assert.match(r.out, /Estimated o1 <-> s1 rtt: [\d.]+ ms/);
});

test('serf never logged a decode error about what our nodes sent', () => {
  for (const a of [s1, s2, s3]) assert.equal(a.decodeErrors(), [], `${a.o.name} log`);
});

test('tag changes both ways', async () => {
  const r = await s3.cli(['tags', '-set', 'extra=from-serf']);
  assert.is(r.code, 0, r.err);
  for (const o of [o1, o2]) {
    await waitFor(`${o.name} sees s3 tags`, () => o.serf.members().find((m) => m.name === 's3')?.tags['extra'] === 'from-serf', 20_000);
  }
  assert.ok(o1.events.some((e) => e.type === 'member-update' && e.members.some((m) => m.name === 's3')));
  await o1.serf.setTags({ role: 'cloudy', extra: 'from-ours' });
  for (const a of [s1, s2, s3]) {
    await waitFor(`${a.o.name} sees o1 tags`, async () => (await a.member('o1'))?.tags['extra'] === 'from-ours', 20_000, 300);
  }
  // serf's agent coalesces member events (3 s) before running its handler.
  await waitFor('s1 handler saw a member-update', () => s1.events().some((l) => l.startsWith('member-update|')), 15_000, 300);
});

test('graceful leave both ways shows left', async () => {
  const r = await s3.cli(['leave']);
  assert.is(r.code, 0, r.err);
  await s3.waitExit(10_000);
  for (const o of [o1, o2]) await waitFor(`${o.name} sees s3 left`, () => ourStatus(o, 's3') === 'left', 20_000);
  await o2.serf.leave();
  await o2.stop();
  for (const a of [s1, s2]) await waitFor(`${a.o.name} sees o2 left`, async () => (await a.member('o2'))?.status === 'left', 20_000, 300);
});

test('kill -9 a serf node and stop one of ours: both show failed', async () => {
  const o3 = await startOurs('o3', '127.0.3.13', { role: 'tmp' });
  await o3.serf.join([s1.addr], true);
  await waitFor('s1 sees o3', async () => (await s1.member('o3'))?.status === 'alive', 20_000, 300);
  const t0 = Date.now();
  s2.kill9();
  await o3.stop(); // no leave: like a crash
  await waitFor('o1 sees s2 failed', () => ourStatus(o1, 's2') === 'failed', 45_000, 200);
  const ours = Date.now() - t0;
  await waitFor('s1 sees o3 failed', async () => (await s1.member('o3'))?.status === 'failed', 45_000, 500);
  console.log(`  lan failure detection: ours saw serf failed after ${ours} ms, serf saw ours failed after ${Date.now() - t0} ms`);
});

test('restarted nodes rejoin alive both ways', async () => {
  s2.start({ join: ['127.0.3.11:7946'] });
  await s2.waitReady();
  await waitFor('o1 sees s2 alive again', () => ourStatus(o1, 's2') === 'alive', 30_000);
  const o3 = await startOurs('o3', '127.0.3.13', { role: 'tmp2' });
  assert.ok(await o3.serf.join([s1.addr], true) >= 1);
  await waitFor('s1 sees o3 alive again', async () => {
    const m = await s1.member('o3');
    return m?.status === 'alive' && m.tags['role'] === 'tmp2';
  }, 30_000, 300);
  await waitFor('s2 sees o3 alive', async () => (await s2.member('o3'))?.status === 'alive', 30_000, 300);
  assert.ok(live(o1));
});

test.run();
