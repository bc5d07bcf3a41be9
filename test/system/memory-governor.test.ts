// The memory governor: a reclaiming GC only after a burst, rate-limited, counted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { MemoryGovernor, lastResortGc, processUsage, rssAnon, type MemoryUsage } from '../../agent/system/memory-governor.ts';
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

test('a heap that keeps more than the slack committed after a full GC (Node 22/24) is not reclaimed again and again; a burst still is', () => {
  // V8 12/13 keep 2.3-2.7 MB committed and empty straight after a last-resort GC
  // (semi-spaces, pooled pages); counted from zero that was always "over the
  // slack", and the governor ran a full GC every minGapMs for ever.
  const r = rig({ rss: 55 * MB, heapTotal: 14 * MB, heapUsed: 10 * MB, external: 2 * MB });
  r.afterCollect({ rss: 54 * MB, heapTotal: 13.5 * MB, heapUsed: 10 * MB, external: 2 * MB });
  r.advance(5000);
  assert.is(r.g.check(), true, '4 MB slack before any reclaim: over the 3 MB slack');
  for (let i = 0; i < 120; i++) { r.advance(5000); r.g.check(); }
  assert.is(r.collects, 1, 'the 3.5 MB left right after the reclaim is the floor: 10 minutes without another reclaim');
  r.set({ rss: 60 * MB, heapTotal: 20 * MB, heapUsed: 11 * MB });
  assert.is(r.g.check(), true, 'a burst (9 MB slack, 5.5 over the floor) is reclaimed');
  assert.is(r.counters.get('memory.reclaim.heap'), 2, 'counted by trigger');
  assert.is(r.collects, 2);
});

test('RSS that grows back after every reclaim (its working size) backs off: the gap doubles; a heap burst resets it', () => {
  const r = rig({ rss: 55 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB });
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < 120; i++) {
    // The reclaim's dip (55 MB) grows back to the working size (59 MB) by the next check.
    r.afterCollect({ rss: 55 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB });
    r.set({ rss: 59 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB });
    r.advance(5000); t += 5000;
    if (r.g.check()) times.push(t / 1000);
  }
  // Gaps 20, 40, 80, 160, 320 s (minGapMs 20 s doubled per RSS-only reclaim in a row) instead of a reclaim every 20 s.
  assert.equal(times, [5, 45, 125, 285], 'the next would be at 605 s');
  assert.is(r.counters.get('memory.reclaim.rss'), 4, 'counted by trigger');
  const before = r.collects;
  r.set({ rss: 59 * MB, heapTotal: 17 * MB, heapUsed: 11 * MB });
  r.advance(20_000);
  assert.is(r.g.check(), true, 'a heap burst waits only minGapMs');
  r.set({ rss: 59 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB });
  r.advance(20_000);
  assert.is(r.g.check(), true, 'and resets the RSS streak: the next RSS-only reclaim waits minGapMs again');
  assert.is(r.collects, before + 2);
});

test('the young generation a reclaim uncommits is counted in the settled RSS: its return asks for no reclaim', () => {
  const r = rig({ rss: 14 * MB, heapTotal: 9.3 * MB, heapUsed: 7.5 * MB, external: 2 * MB, young: 2 * MB });
  r.afterCollect({ rss: 12 * MB, heapTotal: 9.3 * MB, heapUsed: 7 * MB, external: 2 * MB, young: 0 });
  r.advance(5000);
  r.set({ rss: 17.5 * MB });
  assert.is(r.g.check(), true, '3.5 MB of growth: reclaimed');
  // The semi-spaces come back (+2 MB) and 1.5 MB more: 3.5 MB over the 12 MB dip, 1.5 over 12 + 2 MB.
  r.set({ rss: 15.5 * MB, young: 2 * MB });
  for (let i = 0; i < 60; i++) { r.advance(5000); assert.is(r.g.check(), false); }
  assert.is(r.collects, 1);
});

test('an RSS-only reclaim that gives back next to nothing (the working set grew) stops RSS-only reclaims until the longest gap', () => {
  const r = rig({ rss: 55 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB });
  r.afterCollect({ rss: 58.5 * MB, heapTotal: 11 * MB, heapUsed: 10 * MB, external: 2 * MB });
  r.advance(5000);
  r.set({ rss: 59 * MB });
  assert.is(r.g.check(), true, '4 MB of growth: tried once');
  r.set({ rss: 62 * MB });
  for (let i = 0; i < 200; i++) { r.advance(5000); r.g.check(); }
  assert.is(r.collects, 1, 'it gave back 0.5 MB: no RSS-only reclaim for 1,000 s');
  for (let i = 0; i < 60; i++) { r.advance(5000); r.g.check(); }
  assert.is(r.collects, 2, 'again after the longest gap (minGapMs x 64 without a refresh interval)');
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

test('RSS is counted as RssAnon (file pages are not what a GC gives back); VmRSS where there is no RssAnon', () => {
  assert.is(rssAnon(() => 'Name:\tnode\nVmRSS:\t   51200 kB\nRssAnon:\t   12288 kB\nRssFile:\t   38912 kB\n'), 12 * MB);
  assert.is(rssAnon(() => 'Name:\tnode\nVmRSS:\t   51200 kB\n'), null);
  assert.is(rssAnon(() => { throw new Error('ENOENT'); }), null);
  const u = processUsage();
  const vmRss = process.memoryUsage().rss;
  assert.ok((u.young ?? 0) > 0, 'the young generation is committed');
  assert.ok(u.rss > 0 && u.rss < vmRss, `RssAnon ${(u.rss / MB).toFixed(1)} MB below VmRSS ${(vmRss / MB).toFixed(1)} MB (this process maps node's code)`);
  assert.ok(u.heapTotal >= u.heapUsed && u.heapUsed > 0);
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
