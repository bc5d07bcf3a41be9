// The bench's outside measurements: /proc readings of a live process and the
// percentile arithmetic used for the dissemination figures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readCpuSeconds, readMemory } from '../../bench/lib/procfs.ts';
import { median, percentile } from '../../bench/lib/stats.ts';
import { waitFor } from '../support/wait.ts';

test('readMemory reports VmRSS and RssAnon of another process, null once it is gone', async () => {
  // A child that allocates ~64 MB of anonymous memory and touches it.
  const child = spawn(process.execPath, ['-e', 'const b = Buffer.alloc(64 * 1024 * 1024, 1); setInterval(() => b[0]++, 100);'], { stdio: 'ignore' });
  try {
    let m = null;
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      m = readMemory(child.pid!);
      if (m && m.rssAnonKb > 64 * 1024) break;
    }
    assert.ok(m, 'sample taken');
    assert.ok(m!.rssAnonKb > 64 * 1024, `RssAnon ${m!.rssAnonKb} kB includes the 64 MB buffer`);
    assert.ok(m!.vmRssKb >= m!.rssAnonKb, 'VmRSS >= RssAnon');
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
  assert.is(readMemory(child.pid!), null);
});

test('readCpuSeconds grows while a process burns CPU', async () => {
  // Burns CPU for up to 60 s, killed as soon as the reading has grown (a shared machine may give it little CPU).
  const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 60000; while (Date.now() < end) {}'], { stdio: 'ignore' });
  try {
    const a = await waitFor('a first reading', () => readCpuSeconds(child.pid!) ?? undefined, 10_000, 20);
    const b = await waitFor('CPU seconds to advance by 0.2', () => { const v = readCpuSeconds(child.pid!); return v !== null && v - a >= 0.2 ? v : undefined; }, 50_000, 50);
    assert.ok(b - a >= 0.2, `CPU seconds advanced by ${b - a}`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('nearest-rank percentile and median', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted order
  assert.is(percentile(xs, 99), 99);
  assert.is(percentile(xs, 100), 100);
  assert.is(percentile([5], 99), 5);
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test.run();
