// Power cut of a whole mixed neighbourhood (real serf 0.9.4 + ours): every node
// stops at once, then they come back one by one in a different order with only
// their snapshots (no -join to a live node). Serf tries its snapshot peers once
// at start; our Rejoiner keeps retrying. The cluster must reassemble by itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSerf, type SerfInstance } from '../../../agent/gossip/serf/create.ts';
import { decodeSnapshot } from '../../../agent/state/snapshot.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import { SerfAgent } from '../../support/real-serf.ts';
import { waitFor } from '../../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'powercut-'));
const ours: SerfInstance[] = [];
const agents: SerfAgent[] = [];

async function startOurs(name: string, ip: string, seeds: string[] = []): Promise<SerfInstance> {
  const inst = await createSerf({
    nodeName: name, bindAddr: ip, bindPort: 7946, profile: 'lan', protocolVersion: 4, seeds,
    snapshotPath: join(dir, `${name}.snapshot.json`), snapshotIntervalMs: 500,
    rejoinBackoff: { baseMs: 500, capMs: 4000 }, serf: { memberCoalesce: null, userCoalesce: null },
  }, { logger: process.env.TEST_VERBOSE ? Logger.root({ level: 'DEBUG' }).child(name) : Logger.silent(), counters: new Counters() });
  await inst.start();
  ours.push(inst);
  return inst;
}

test.after(async () => {
  for (const o of ours) await o.stop().catch(() => {});
  for (const a of agents) { await a.stop(); a.cleanup(); }
  rmSync(dir, { recursive: true, force: true });
});

const ALL = ['po1', 'po2', 'ps1', 'ps2'];
const alive = (i: SerfInstance) => i.serf.members().filter((m) => m.status === 'alive').map((m) => m.name).sort();

test('neighbourhood reassembles after a power cut, restarted in another order from snapshots only', async () => {
  // Before: ours first, serf joins ours.
  let o1 = await startOurs('po1', '127.0.3.41');
  let o2 = await startOurs('po2', '127.0.3.42', ['127.0.3.41:7946']);
  const s1 = new SerfAgent({ name: 'ps1', ip: '127.0.3.51', join: ['127.0.3.41:7946'], snapshot: join(dir, 'ps1.snap') });
  const s2 = new SerfAgent({ name: 'ps2', ip: '127.0.3.52', join: ['127.0.3.42:7946'], snapshot: join(dir, 'ps2.snap') });
  agents.push(s1, s2);
  s1.start(); s2.start();
  await s1.waitReady(); await s2.waitReady();
  for (const o of [o1, o2]) await waitFor('4 alive at ours', () => JSON.stringify(alive(o)) === JSON.stringify(ALL), 30_000);
  for (const a of [s1, s2]) await waitFor('4 alive at serf', async () => (await a.members()).filter((m) => m.status === 'alive').length === 4, 30_000, 300);
  // Our snapshots have caught up with the 3 peers.
  for (const n of ['po1', 'po2']) {
    await waitFor(`${n} snapshot has 3 peers`, () => {
      const p = join(dir, `${n}.snapshot.json`);
      return existsSync(p) && decodeSnapshot(readFileSync(p)).peers.length === 3;
    }, 10_000, 200);
  }
  await new Promise((r) => setTimeout(r, 1000)); // serf flushes its snapshot every 500 ms

  // Power cut: everything stops at once.
  s1.kill9(); s2.kill9();
  await Promise.all([o1.stop(), o2.stop()]);
  ours.length = 0;
  await new Promise((r) => setTimeout(r, 1000));

  // Power back, in another order, no -join anywhere: serf ps2, ours po2, serf ps1, ours po1.
  const t0 = Date.now();
  s2.start({ join: [] });
  await s2.waitReady();
  o2 = await startOurs('po2', '127.0.3.42');
  await waitFor('po2 found ps2', () => alive(o2).includes('ps2'), 30_000, 200);
  s1.start({ join: [] });
  await s1.waitReady();
  o1 = await startOurs('po1', '127.0.3.41');
  for (const o of [o1, o2]) await waitFor(`${o.serf.localMember().name} sees all 4 alive`, () => JSON.stringify(alive(o)) === JSON.stringify(ALL), 60_000, 200);
  for (const a of [s1, s2]) {
    await waitFor(`${a.o.name} sees all 4 alive`, async () => (await a.members()).filter((m) => m.status === 'alive').length === 4, 60_000, 500);
  }
  assert.ok(Number(o1.serf.stats().member_time) > 2, 'clocks restored from the snapshot');
  console.log(`  power cut: 4 nodes reassembled ${Date.now() - t0} ms after the first one was powered back`);
});

test('a node that left gracefully does not rejoin through its snapshot peers', async () => {
  const [o1, o2] = [ours.find((o) => o.serf.localMember().name === 'po1')!, ours.find((o) => o.serf.localMember().name === 'po2')!];
  await o2.serf.leave();
  await o2.stop();
  const snap = decodeSnapshot(readFileSync(join(dir, 'po2.snapshot.json')));
  assert.ok(snap.left, 'left flag recorded');
  await waitFor('po2 left at po1', () => o1.serf.members().find((m) => m.name === 'po2')?.status === 'left', 20_000);
  const again = await startOurs('po2', '127.0.3.42');
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(alive(again), ['po2'], 'stays alone (no -join given)');
});

test.run();
