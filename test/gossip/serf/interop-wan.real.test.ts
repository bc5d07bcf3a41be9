// Cloudy's settings against the real serf 0.9.4: -protocol 4 -profile=wan.
// One serf agent and one of ours (kept small: wan timings are slow): join both
// ways, tags, a user event each way, a query each way, and the failure of a
// killed serf node detected with wan timings.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSerf, type SerfInstance } from '../../../agent/gossip/serf/create.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import type { SerfEvent } from '../../../agent/gossip/serf/types.ts';
import { SerfAgent } from '../../support/real-serf.ts';
import { waitFor } from '../../support/wait.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
let o: SerfInstance | null = null;
const events: SerfEvent[] = [];
const agents: SerfAgent[] = [];

test.after(async () => {
  await o?.stop().catch(() => {});
  for (const a of agents) { await a.stop(); a.cleanup(); }
});

test('wan + protocol 4: join, tags, events and queries both ways, failure detection', async () => {
  o = await createSerf({
    nodeName: 'wo1', bindAddr: '127.0.3.61', bindPort: 7946, profile: 'wan', protocolVersion: 4,
    tags: { role: 'cloudy' }, rejoin: false, serf: { memberCoalesce: null, userCoalesce: null },
  }, { logger: Logger.silent(), counters: new Counters() });
  o.serf.onEvent((e) => {
    events.push(e);
    if (e.type === 'query') void e.query.respond(enc(`wo1:${dec(e.query.payload)}`)).catch(() => {});
  });
  await o.start();
  const s = new SerfAgent({ name: 'ws1', ip: '127.0.3.71', profile: 'wan', protocol: 4, tags: { role: 'web' }, join: ['127.0.3.61:7946'] });
  const s2 = new SerfAgent({ name: 'ws2', ip: '127.0.3.72', profile: 'wan', protocol: 4, tags: { role: 'db' } });
  agents.push(s, s2);
  s.start(); await s.waitReady();
  const m = await waitFor('serf sees wo1 alive', async () => {
    const x = await s.member('wo1');
    return x?.status === 'alive' ? x : undefined;
  }, 30_000, 300);
  assert.equal(m.tags, { role: 'cloudy' });
  assert.equal(m.protocol, { min: 2, max: 5, version: 4 });
  // ours joins the second serf node
  s2.start(); await s2.waitReady();
  assert.is(await o.serf.join(['127.0.3.72:7946'], true), 1);
  await waitFor('3 alive at ours', () => o!.serf.members().filter((x) => x.status === 'alive').length === 3, 30_000);
  await waitFor('3 alive at ws1', async () => (await s.members()).filter((x) => x.status === 'alive').length === 3, 30_000, 500);
  assert.is(o.serf.members().find((x) => x.name === 'ws2')!.delegateCur, 4);

  const ev = await s.cli(['event', '-coalesce=false', 'wan-ev', 'from-serf']);
  assert.is(ev.code, 0, ev.err);
  await o.serf.userEvent('wan-ours', enc('from-ours'), false);
  await waitFor('ours got the serf event', () => events.some((e) => e.type === 'user' && e.name === 'wan-ev'), 20_000);
  for (const a of [s, s2]) await waitFor(`${a.o.name} got our event`, () => a.events().includes('user|wan-ours||from-ours'), 20_000, 300);

  const q = await s.cli(['query', '-format=json', '-timeout=8s', 'wq', 'x'], 30_000);
  assert.is(q.code, 0, q.err);
  const j = JSON.parse(q.out) as { Acks: string[]; Responses: Record<string, string> };
  assert.equal([...j.Acks].sort(), ['wo1', 'ws1', 'ws2']);
  assert.is(j.Responses['wo1'], 'wo1:x');
  const resps: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    o!.serf.query('wq2', enc('y'), { filterTags: { role: '^db$' } }, { onResponse: (f, p) => { resps[f] = dec(p); }, onDone: resolve }).catch(reject);
  });
  assert.equal(resps, { ws2: 'resp:ws2:y' });

  assert.equal(s.decodeErrors(), [], 'serf never complained about our packets');
  const t0 = Date.now();
  s2.kill9();
  // wan: probe 5 s, suspicion >= 6 x 5 s: allow a generous deadline
  await waitFor('ours sees ws2 failed', () => o!.serf.members().find((x) => x.name === 'ws2')?.status === 'failed', 120_000, 500);
  console.log(`  wan failure detection: ${Date.now() - t0} ms`);
});

test.run();
