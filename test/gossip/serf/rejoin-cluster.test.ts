// Power cut, in-process (memory transport, real snapshot files): the
// neighbourhood comes back as two separate groups that each found a partner
// first (A+B, C+D); the Rejoiner's reconcile pass through snapshot peers still
// merges them into one cluster. Also: a node alone keeps retrying until a peer
// comes back, however late.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemCluster, type TestNode } from './helpers.ts';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { waitFor, sleep } from '../../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'rejoin-cluster-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const alive = (n: TestNode) => n.serf.members().filter((m) => m.status === 'alive').map((m) => m.name).sort();

class Site {
  cl = new MemCluster();
  ips = new Map<string, number>();
  /** Same name -> same address across restarts. */
  async start(name: string, seeds: string[] = []): Promise<TestNode> {
    const idx = ['a', 'b', 'c', 'd'].indexOf(name) + 1;
    (this.cl as unknown as { n: number }).n = idx - 1;
    return this.cl.add(name, {
      rejoin: true, seeds, snapshotPath: join(dir, `${name}.json`), snapshotIntervalMs: 200,
      rejoinBackoff: { baseMs: 100, capMs: 800 }, rejoinReconcileMs: 600,
    });
  }
}

test('two groups formed after a power cut merge through the reconcile pass', async () => {
  const site = new Site();
  const a = await site.start('a');
  const b = await site.start('b', ['10.0.0.1:7946']);
  const c = await site.start('c', ['10.0.0.1:7946']);
  const d = await site.start('d', ['10.0.0.2:7946']);
  await waitFor('4 alive everywhere', () => [a, b, c, d].every((n) => alive(n).length === 4), 30_000);
  await sleep(600); // snapshots written
  await site.cl.stopAll();

  // Power back: groups {a,b} and {c,d} are partitioned while they come up.
  const site2 = new Site();
  const net: MemoryNetwork = site2.cl.net;
  for (const x of ['10.0.0.1', '10.0.0.2']) for (const y of ['10.0.0.3', '10.0.0.4']) net.partition(x, y);
  const a2 = await site2.start('a');
  const b2 = await site2.start('b');
  const c2 = await site2.start('c');
  const d2 = await site2.start('d');
  await waitFor('two groups', () => JSON.stringify(alive(a2)) === '["a","b"]' && JSON.stringify(alive(c2)) === '["c","d"]', 30_000);
  assert.not.ok(a2.rejoiner!.isRetrying(), 'the fast loop stopped: a is not alone');
  const t0 = Date.now();
  net.heal();
  await waitFor('one cluster', () => [a2, b2, c2, d2].every((n) => alive(n).length === 4), 20_000);
  console.log(`  split groups merged ${Date.now() - t0} ms after the partition healed`);
  await site2.cl.stopAll();
});

test('a lone node keeps retrying until a peer is back, however late', async () => {
  const site = new Site();
  const a = await site.start('a');
  const b = await site.start('b', ['10.0.0.1:7946']);
  await waitFor('joined', () => alive(a).length === 2, 15_000);
  await sleep(500);
  await site.cl.stopAll();
  const site2 = new Site();
  const b2 = await site2.start('b');
  await sleep(3000); // many failed attempts (backoff capped at 800 ms)
  assert.equal(alive(b2), ['b']);
  assert.ok(b2.rejoiner!.isRetrying());
  assert.ok(b2.counters.get('rejoin.attempts') >= 4, `attempts: ${b2.counters.get('rejoin.attempts')}`);
  const a2 = await site2.start('a');
  await waitFor('rejoined', () => alive(b2).length === 2 && alive(a2).length === 2, 30_000);
  assert.not.ok(b2.rejoiner!.isRetrying());
  await site2.cl.stopAll();
  void b;
});

test.run();
