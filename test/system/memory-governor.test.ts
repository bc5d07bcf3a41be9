// The memory governor: a reclaiming GC only after a burst, rate-limited, counted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { MemoryGovernor, lastResortGc, type MemoryUsage } from '../../agent/system/memory-governor.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { Logger } from '../../agent/obs/log.ts';

const MB = 1024 * 1024;

function rig(start: MemoryUsage, extra: { settleAfterMs?: number; refreshIntervalMs?: number } = {}) {
  let usage = { ...start };
  let now = 0;
  let collects = 0;
  let afterCollect: MemoryUsage | null = null;
  const counters = new Counters();
  const g = new MemoryGovernor({
    checkIntervalMs: 5000, slackBytes: 3 * MB, minGapMs: 20_000, counters, logger: Logger.silent(), ...extra,
    usage: () => usage, now: () => now,
    collect: () => { collects++; if (afterCollect) usage = afterCollect; },
    setInterval: () => ({ unref() {} }), clearInterval: () => {},
  });
  g.start();
  return {
    g, counters,
    set(u: Partial<MemoryUsage>) { usage = { ...usage, ...u }; },
    afterCollect(u: MemoryUsage) { afterCollect = u; },
    advance(ms: number) { now += ms; },
    get collects() { return collects; },
  };
}

test('steady memory: no collection', () => {
  const r = rig({ rss: 55 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB });
  for (let i = 0; i < 20; i++) { r.advance(5000); assert.is(r.g.check(), false); }
  assert.is(r.collects, 0);
  assert.is(r.counters.get('memory.reclaim'), 0);
});

test('start-up settle: one reclaim once settleAfterMs passed, with no burst at all; then quiet', () => {
  const r = rig({ rss: 60 * MB, heapTotal: 12 * MB, heapUsed: 11 * MB, external: 2 * MB }, { settleAfterMs: 20_000 });
  r.afterCollect({ rss: 56 * MB, heapTotal: 10 * MB, heapUsed: 8 * MB, external: 2 * MB });
  for (let i = 0; i < 3; i++) { r.advance(5000); assert.is(r.g.check(), false, `not yet at ${(i + 1) * 5} s`); }
  r.advance(5000);
  assert.is(r.g.check(), true, 'due at 20 s');
  assert.is(r.counters.get('memory.reclaim.settle'), 1);
  assert.is(r.counters.get('memory.reclaimed_kb'), 4 * 1024);
  for (let i = 0; i < 50; i++) { r.advance(5000); assert.is(r.g.check(), false); }
  assert.is(r.collects, 1, 'no refresh configured: the settle reclaim runs once');
});

test('after a burst reclaim, one settle reclaim once the burst is over (settleAfterMs later)', () => {
  const r = rig({ rss: 55 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB }, { settleAfterMs: 10_000 });
  r.afterCollect({ rss: 52 * MB, heapTotal: 10 * MB, heapUsed: 9 * MB, external: 2 * MB });
  r.advance(10_000);
  assert.is(r.g.check(), true, 'start-up settle');
  r.advance(60_000);
  r.set({ rss: 60 * MB, heapTotal: 17 * MB, heapUsed: 11 * MB });
  r.afterCollect({ rss: 56 * MB, heapTotal: 12 * MB, heapUsed: 10 * MB, external: 2 * MB });
  assert.is(r.g.check(), true, 'burst');
  r.afterCollect({ rss: 53 * MB, heapTotal: 10 * MB, heapUsed: 9 * MB, external: 2 * MB });
  r.advance(5000);
  assert.is(r.g.check(), false, 'not yet');
  r.advance(5000);
  assert.is(r.g.check(), true, 'the burst is over: settle');
  assert.is(r.counters.get('memory.reclaim.settle'), 2);
  for (let i = 0; i < 20; i++) { r.advance(5000); assert.is(r.g.check(), false); }
  assert.is(r.collects, 3);
});

test('refresh: a reclaim every refreshIntervalMs after the last one, whatever the slack', () => {
  const r = rig({ rss: 60 * MB, heapTotal: 12 * MB, heapUsed: 11 * MB, external: 2 * MB }, { settleAfterMs: 20_000, refreshIntervalMs: 300_000 });
  r.afterCollect({ rss: 56 * MB, heapTotal: 10 * MB, heapUsed: 8 * MB, external: 2 * MB });
  r.advance(20_000);
  assert.is(r.g.check(), true, 'settle');
  r.advance(295_000);
  assert.is(r.g.check(), false, 'refresh not due 295 s after the settle reclaim');
  r.advance(5000);
  assert.is(r.g.check(), true, 'refresh due 300 s after it');
  assert.is(r.counters.get('memory.reclaim.refresh'), 1);
  // A burst reclaim (and the settle reclaim after it) restarts the refresh period.
  r.advance(100_000);
  r.set({ rss: 70 * MB, heapTotal: 18 * MB, heapUsed: 11 * MB });
  assert.is(r.g.check(), true, 'burst');
  r.advance(20_000);
  assert.is(r.g.check(), true, 'settle after the burst');
  r.advance(250_000);
  assert.is(r.g.check(), false, 'refresh counts from the last reclaim');
  r.advance(50_000);
  assert.is(r.g.check(), true);
  assert.is(r.counters.get('memory.reclaim.refresh'), 2);
  assert.is(r.collects, 5);
});

test('after a burst: one reclaiming GC, counted with what it gave back; then rate-limited', () => {
  const r = rig({ rss: 55 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB });
  r.advance(5000);
  r.set({ rss: 68 * MB, heapTotal: 17 * MB, heapUsed: 11 * MB });
  r.afterCollect({ rss: 60 * MB, heapTotal: 12 * MB, heapUsed: 10 * MB, external: 2 * MB });
  assert.is(r.g.check(), true);
  assert.is(r.counters.get('memory.reclaim'), 1);
  assert.is(r.counters.get('memory.reclaimed_kb'), 8 * 1024);
  // Another burst right away: wait for the gap.
  r.set({ rss: 70 * MB, heapTotal: 18 * MB, heapUsed: 11 * MB });
  r.advance(5000);
  assert.is(r.g.check(), false);
  r.advance(15_000);
  assert.is(r.g.check(), true);
  assert.is(r.collects, 2);
});

test('RSS growth alone (malloc, not the V8 heap) also triggers, measured from the settled level', () => {
  const r = rig({ rss: 55 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB });
  r.advance(5000);
  r.set({ rss: 57 * MB });
  assert.is(r.g.check(), false, '2 MB over: within slack');
  r.set({ rss: 59 * MB });
  r.afterCollect({ rss: 58 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB });
  assert.is(r.g.check(), true);
  // 58 MB is the new settled level: 60 MB is within slack.
  r.advance(30_000);
  r.set({ rss: 60 * MB });
  assert.is(r.g.check(), false);
});

function gcContext(flags: string[]): { isGlobal: boolean; before: number; after: number } {
  // process.execArgv: the TypeScript loader this test runs under (tsx, or run-all's --precompiled one).
  const fixture = new URL('./fixtures/gc-context.ts', import.meta.url).pathname;
  const out = execFileSync(process.execPath, [...flags, ...process.execArgv, fixture], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as { isGlobal: boolean; before: number; after: number };
}

test('with --expose-gc (the executable\'s execArgv) gc() is the global one: no second V8 context is made for it', () => {
  const r = gcContext(['--expose-gc']);
  assert.ok(r.isGlobal);
  assert.is(r.after, r.before);
});

test('without it gc() still works, from a context of its own (the bundle on a system node)', () => {
  const r = gcContext([]);
  assert.not.ok(r.isGlobal);
  assert.is(r.after, r.before + 1);
});

test('the real last-resort GC runs and frees an unreachable burst', () => {
  let junk: unknown[] | null = [];
  for (let i = 0; i < 200_000; i++) junk.push({ i, s: `node-${i}` });
  const before = process.memoryUsage().heapUsed;
  junk = null;
  lastResortGc();
  const after = process.memoryUsage().heapUsed;
  assert.ok(after < before - 5 * MB, `heap used ${(before / MB).toFixed(1)} -> ${(after / MB).toFixed(1)} MB`);
});

test.run();
