// Serf protocol versions 2..5 in one cluster with the real serf 0.9.4: serf
// agents at -protocol 2 (tags carried as the raw `role`), 3 and 5, ours at 4
// and at 2. Everyone sees everyone alive with the versions and tags each
// protocol can carry; a user event crosses every pair.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SerfInstance } from '../../../agent/gossip/serf/create.ts';
import type { SerfEvent } from '../../../agent/gossip/serf/types.ts';
import { SerfAgent } from '../../support/real-serf.ts';
import { startCapturing } from './helpers.ts';
import { waitFor } from '../../support/wait.ts';

const ours: (SerfInstance & { events: SerfEvent[] })[] = [];
const agents: SerfAgent[] = [];

async function startOurs(name: string, ip: string, protocolVersion: number, tags: Record<string, string>) {
  const o = await startCapturing({ nodeName: name, bindAddr: ip, bindPort: 7946, profile: 'lan', protocolVersion, tags });
  ours.push(o);
  return o;
}

test.after(async () => {
  for (const o of ours) await o.stop().catch(() => {});
  for (const a of agents) { await a.stop(); a.cleanup(); }
});

test('protocols 2..5 mixed: membership, versions, tags per protocol, events', async () => {
  const o4 = await startOurs('p-ours4', '127.0.3.81', 4, { role: 'cloudy', dc: 'bcn' });
  const o2 = await startOurs('p-ours2', '127.0.3.82', 2, { role: 'legacy', ignored: 'x' });
  const s2 = new SerfAgent({ name: 'p-serf2', ip: '127.0.3.91', protocol: 2, tags: { role: 'old' }, join: ['127.0.3.81:7946'] });
  const s3 = new SerfAgent({ name: 'p-serf3', ip: '127.0.3.92', protocol: 3, tags: { role: 'mid', x: 'y' }, join: ['127.0.3.81:7946'] });
  const s5 = new SerfAgent({ name: 'p-serf5', ip: '127.0.3.93', protocol: 5, tags: { role: 'new' }, join: ['127.0.3.81:7946'] });
  agents.push(s2, s3, s5);
  for (const a of agents) a.start();
  for (const a of agents) await a.waitReady();
  assert.ok(await o2.serf.join(['127.0.3.93:7946'], true) >= 1);
  for (const o of ours) await waitFor('5 alive at ours', () => o.serf.members().filter((m) => m.status === 'alive').length === 5, 30_000);
  for (const a of agents) await waitFor(`5 alive at ${a.o.name}`, async () => (await a.members()).filter((m) => m.status === 'alive').length === 5, 30_000, 300);
  const byName = Object.fromEntries(o4.serf.members().map((m) => [m.name, m]));
  assert.equal([byName['p-serf2']!.delegateCur, byName['p-serf3']!.delegateCur, byName['p-serf5']!.delegateCur, byName['p-ours2']!.delegateCur], [2, 3, 5, 2]);
  assert.equal(byName['p-serf2']!.tags, { role: 'old' }, 'protocol 2: raw role');
  assert.equal(byName['p-serf3']!.tags, { role: 'mid', x: 'y' });
  assert.equal(byName['p-ours2']!.tags, { role: 'legacy' }, 'our protocol 2 node only carries role');
  const seen = await s2.member('p-ours4');
  assert.equal(seen!.tags, { role: 'cloudy', dc: 'bcn' });
  assert.equal(seen!.protocol, { min: 2, max: 5, version: 4 });
  assert.equal((await s5.member('p-ours2'))!.tags, { role: 'legacy' });
  const ev = await s2.cli(['event', '-coalesce=false', 'from-proto2', 'x']);
  assert.is(ev.code, 0, ev.err);
  await o2.serf.userEvent('from-ours2', new TextEncoder().encode('y'), false);
  for (const o of ours) await waitFor('ours got the protocol-2 event', () => o.events.some((e) => e.type === 'user' && e.name === 'from-proto2'), 20_000);
  for (const a of agents) await waitFor(`${a.o.name} got our event`, () => a.events().includes('user|from-ours2||y'), 20_000, 300);
  for (const a of agents) assert.equal(a.decodeErrors(), [], `${a.o.name} log`);
});

test.run();
