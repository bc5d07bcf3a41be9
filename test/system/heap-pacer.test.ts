// The heap pacer: a GC on the spot once a burst grew the heap by more than the
// step, none in between, none when off; and with V8's real GC a burst of
// promoted garbage stays within live + step (unpaced it does not).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HeapPacer } from '../../agent/system/heap-pacer.ts';
import { Counters } from '../../agent/obs/counters.ts';

const MB = 1024 * 1024;
const fixture = fileURLToPath(new URL('./fixtures/pacer-burst.ts', import.meta.url));

function rig(stepBytes: number) {
  let used = 10 * MB;
  let collects = 0;
  const counters = new Counters();
  const p = new HeapPacer({ stepBytes, counters, heapUsed: () => used, collect: () => { collects++; used = 10 * MB; } });
  return { p, counters, set(mb: number) { used = mb * MB; }, get collects() { return collects; } };
}

test('collects only after the heap grew by more than the step, then starts over from the collected size', () => {
  const r = rig(2 * MB);
  r.p.pace(); // first call: the base
  for (const mb of [10.5, 11, 11.9, 12]) { r.set(mb); r.p.pace(); }
  assert.is(r.collects, 0, 'growth of exactly the step does not collect');
  r.set(12.1);
  r.p.pace();
  assert.is(r.collects, 1);
  assert.is(r.counters.get('memory.paced_gc'), 1);
  r.set(11.5);
  r.p.pace();
  assert.is(r.collects, 1, 'base is the size after the collection');
  r.set(13);
  r.p.pace();
  assert.is(r.collects, 2);
});

test('a heap that shrank on its own lowers the base; step 0 never collects', () => {
  const r = rig(2 * MB);
  r.set(14); r.p.pace();
  r.set(9); r.p.pace(); // V8 collected by itself
  r.set(11.5); r.p.pace();
  assert.is(r.collects, 1, 'measured from 9 MB, not 14');
  const off = rig(0);
  for (const mb of [10, 50, 100]) { off.set(mb); off.p.pace(); }
  assert.is(off.collects, 0);
});

function burst(stepBytes: number): { paced: number; base: number; peak: number } {
  // process.execArgv: the TypeScript loader this test runs under (tsx, or run-all's --precompiled one).
  const out = execFileSync(process.execPath, ['--max-semi-space-size=1', ...process.execArgv, fixture], {
    encoding: 'utf8', env: { ...process.env, PACER_STEP_BYTES: String(stepBytes) }, timeout: 60_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { paced: number; base: number; peak: number };
}

test('real V8 (edge young generation): paced, a burst of promoted garbage keeps the old generation within live + step', () => {
  const step = 2 * MB;
  const liveWindow = 8 * 1000 * 150; // the rolling window: ~150 bytes per object
  const paced = burst(step);
  assert.ok(paced.paced > 0, 'the burst was paced');
  const bound = paced.base + liveWindow + step + 2 * MB; // + measurement slack
  assert.ok(paced.peak <= bound, `paced: old generation peaked at ${(paced.peak / MB).toFixed(1)} MB > ${(bound / MB).toFixed(1)} MB (${paced.paced} GCs)`);
  // The same burst unpaced: V8 lets the old generation fill far beyond that.
  const unpaced = burst(0);
  assert.is(unpaced.paced, 0);
  assert.ok(unpaced.peak > bound, `unpaced peak ${(unpaced.peak / MB).toFixed(1)} MB should exceed ${(bound / MB).toFixed(1)} MB`);
});

test.run();
