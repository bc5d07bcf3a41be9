#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) in its own Node process, so that a
// test that leaves sockets, timers or child processes behind cannot disturb the
// next one (with --batch, the quick files several to a process, one after
// another), and prints one closing line "N passed, N failed".
//
// Usage: node test/run-all.mjs [--fast] [substring-filter ...]
//   --fast (or TEST_FAST=1)  leave out the *.real.test.ts files: those that need a
//                   real peer or the OS (a serf process, the built executable, LXC,
//                   root, network namespaces, a browser); what `make check` runs
//   -j N (or TEST_JOBS=N)  run N files at once (default 1). Only for files that
//                   choose their addresses so they cannot collide (the fast ones
//                   do). Each file's output is kept whole in
//                   test-artifacts/run-all/<file>.log and printed (its tail) only
//                   if it fails, so files never interleave; the files that took
//                   longest last time (.cache/test-times.json) start first, so a
//                   slow one does not start last and hold up the end
//   --exclude=SUBSTR  leave out the files whose path contains SUBSTR (repeatable)
//   --precompiled   compile the TypeScript once (esbuild, test/support/precompile.mjs,
//                   only what changed since the last run) and run each file with
//                   test/support/ts-loader.mjs instead of tsx: tsx's own start-up
//                   is ~0.6 CPU-s per file, most of what `make check` costs
//   --batch         run the files that took under 3 s last time several to a
//                   process (test/support/batch-runner.mjs: one after another,
//                   each file's suites to the end before the next is imported),
//                   saving each its own process start (~0.3 CPU-s); a file that
//                   fails in a batch runs again alone. What `make check` does;
//                   `make test` runs every file in its own process
//   TEST_TIMEOUT_S  per-file time limit (default 900 s; a batch's as a whole)
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const fast = process.argv.includes('--fast') || process.env.TEST_FAST === '1';
const argv = process.argv.slice(2);
const jAt = argv.indexOf('-j');
const jobs = Math.max(1, Number(jAt >= 0 ? argv[jAt + 1] : process.env.TEST_JOBS ?? 1) || 1);
const precompiled = argv.includes('--precompiled');
const batchMode = argv.includes('--batch');
const excludes = argv.filter((a) => a.startsWith('--exclude=')).map((a) => a.slice('--exclude='.length));
const filters = argv.filter((a, i) => a !== '--fast' && a !== '--precompiled' && a !== '--batch' && a !== '-j' && !a.startsWith('--exclude=') && !(jAt >= 0 && i === jAt + 1));
const perFileTimeoutMs = Number(process.env.TEST_TIMEOUT_S ?? 900) * 1000;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) { if (p !== fixturesDir) out.push(...walk(p)); }
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

// RUN_ALL_DIR and RUN_ALL_TIMES (test/tools/run-all.test.ts): another folder of
// test files and another times file; test/fixtures/ is never walked into.
const testDir = join(root, process.env.RUN_ALL_DIR ?? 'test');
const fixturesDir = join(root, 'test', 'fixtures');
const files = walk(testDir)
  .map((f) => relative(root, f))
  .filter((f) => !fast || !f.endsWith('.real.test.ts'))
  .filter((f) => !excludes.some((s) => f.includes(s)))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));

// Seconds each file took in earlier runs (any job count); longest first when
// running side by side, files never timed before ahead of all.
const timesFile = process.env.RUN_ALL_TIMES ?? join(root, '.cache', 'test-times.json');
let lastTimes = {};
try { lastTimes = JSON.parse(readFileSync(timesFile, 'utf8')); } catch { /* first run */ }
const secondsOf = {};
if (jobs > 1) files.sort((a, b) => (lastTimes[b] ?? Infinity) - (lastTimes[a] ?? Infinity) || a.localeCompare(b));
const logDir = join(root, 'test-artifacts', 'run-all');

if (precompiled) await (await import('./support/precompile.mjs')).precompile();
const loader = precompiled ? './test/support/ts-loader.mjs' : 'tsx';

/** Runs `node <hooks> ...args` in its own process group; resolves with its output (stderr folded in), exit code and seconds. */
function spawnTests(args, label, timeoutMs, echo) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', './test/support/uvu-hooks-visible.mjs', '--import', loader, ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', NODE_DISABLE_COLORS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; if (echo) process.stdout.write(d); });
    child.stderr.on('data', (d) => { if (process.env.TEST_VERBOSE) process.stderr.write(d); else err += d; });
    const timer = setTimeout(() => {
      out += `\n[run-all] ${label} exceeded ${timeoutMs / 1000}s, killed\n`;
      try { process.kill(-child.pid, 'SIGKILL'); } catch {}
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ out, err, code, secs: (Date.now() - started) / 1000 });
    });
  });
}

/** Counts one file's result from its uvu output, keeps its log, prints its line. */
function report(file, out, code, secs, how = '') {
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sk = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  let bad = total - ok - sk;
  if (code !== 0 && bad === 0) bad = 1; // crashed, or failed outside a test
  if (total === 0 && bad === 0) bad = 1; // a test file that ran no test
  secondsOf[file] = Number(secs.toFixed(1));
  let log = '';
  if (jobs > 1 || how) {
    log = join(logDir, file.replace(/\.ts$/, '.log'));
    try { mkdirSync(dirname(log), { recursive: true }); writeFileSync(log, out); } catch { log = ''; }
  }
  if ((jobs > 1 || how) && bad > 0) process.stdout.write(out.split('\n').filter((l) => !/^\s*$/.test(l)).slice(-80).join('\n') + '\n');
  if (bad > 0) {
    process.stdout.write(`[run-all] FAIL ${file}${how} (exit ${code}, ${secs.toFixed(1)}s)${log ? `; whole output: ${relative(root, log)}` : ''}\n`);
    if (!process.env.TEST_VERBOSE && jobs === 1 && !how) process.stdout.write(out.split('\n').slice(-80).join('\n') + '\n');
  } else {
    process.stdout.write(`[run-all] ok   ${file} (${ok} tests, ${secs.toFixed(1)}s${how})\n`);
  }
  return { ok, bad, sk };
}

async function runOne(file) {
  const r = await spawnTests([file], file, perFileTimeoutMs, jobs === 1);
  return report(file, r.out + r.err, r.code, r.secs);
}

// A batch (--batch): the files run one after another in one process
// (test/support/batch-runner.mjs), which frames each file's output between
// marker lines. Each file is then counted as if it had run alone. A file whose
// end marker never came (the process crashed or hung in it) fails with the
// batch's output; the files after it, never started, run alone afterwards.
const BEGIN = '[batch] begin ';
const END = '[batch] end ';
async function runBatch(batch) {
  const label = `batch of ${batch.length} (${batch[0]} ...)`;
  const r = await spawnTests(['./test/support/batch-runner.mjs', ...batch], label, perFileTimeoutMs, false);
  const results = new Map();
  const notStarted = [];
  for (const file of batch) {
    const b = r.out.indexOf(`\n${BEGIN}${file}\n`);
    if (b < 0) { notStarted.push(file); continue; }
    const e = r.out.indexOf(`\n${END}${file} `, b);
    const m = e < 0 ? null : { index: e - b, secs: Number(r.out.slice(e + END.length + file.length + 2).split('\n')[0]) };
    if (m) {
      const segment = r.out.slice(b, b + m.index);
      results.set(file, { out: segment, code: /\n\s+FAIL\s/.test(segment) ? 1 : 0, secs: m.secs });
    } else {
      results.set(file, { out: `${r.out.slice(b)}\n[run-all] the batch process ended (exit ${r.code}) inside this file; its stderr:\n${r.err}`, code: r.code || 1, secs: r.secs });
    }
  }
  return { results, notStarted };
}

// Real-peer tests (serf processes, LXC, sockets) run on a 2-core machine: a
// file that fails is run once more, and is reported as flaky if it then
// passes. A file that fails twice fails the run.
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
const flaky = [];
function count(f, r) {
  passed += r.ok;
  skipped += r.sk;
  failed += r.bad;
  if (r.bad > 0) failures.push(f);
}
async function runWithRetry(f) {
  let r = await runOne(f);
  if (r.bad > 0 && !process.env.TEST_NO_RETRY) {
    process.stdout.write(`[run-all] RETRY ${f} (first attempt: ${r.bad} failed)\n`);
    r = await runOne(f);
    if (r.bad === 0) flaky.push(f);
  }
  count(f, r);
}
// A file that failed inside a batch runs once more alone: passing then, it is
// listed as flaky, with the files that ran before it in the same process (one
// of them may have left state behind); failing again, it fails the run.
async function runBatchWithRetry(batch) {
  const { results, notStarted } = await runBatch(batch);
  for (const f of batch) {
    const got = results.get(f);
    if (!got) continue;
    const r = report(f, got.out, got.code, got.secs, ', in a batch');
    if (r.bad > 0 && !process.env.TEST_NO_RETRY) {
      process.stdout.write(`[run-all] RETRY ${f} alone (in a batch: ${r.bad} failed)\n`);
      const again = await runOne(f);
      if (again.bad === 0) flaky.push(`${f} (failed in a batch after ${batch.slice(0, batch.indexOf(f)).join(', ') || 'no other file'})`);
      count(f, again);
    } else count(f, r);
  }
  for (const f of notStarted) await runWithRetry(f);
}

// --batch: files that took under BATCH_FILE_MAX_S last time go in batches of
// about BATCH_TARGET_S (by those times); the others run alone. A file never
// timed (a fresh clone) counts as UNTIMED_S and is batched: most files are
// quick, and its time in the batch decides where it goes next run. Batches
// and lone files share the -j slots, longest first.
const BATCH_FILE_MAX_S = 3;
const BATCH_TARGET_S = 8;
const UNTIMED_S = 1;
const units = [];
if (batchMode) {
  const estimate = (f) => lastTimes[f] ?? UNTIMED_S;
  const quick = files.filter((f) => estimate(f) < BATCH_FILE_MAX_S);
  let cur = [];
  let curS = 0;
  for (const f of quick) {
    cur.push(f); curS += estimate(f);
    if (curS >= BATCH_TARGET_S) { units.push({ batch: cur, s: curS }); cur = []; curS = 0; }
  }
  if (cur.length) units.push({ batch: cur, s: curS });
  const inBatch = new Set(quick);
  for (const f of files) if (!inBatch.has(f)) units.push({ file: f, s: lastTimes[f] ?? Infinity });
  units.sort((a, b) => b.s - a.s);
} else units.push(...files.map((f) => ({ file: f })));
await Promise.all(Array.from({ length: Math.min(jobs, units.length) }, async () => {
  for (let u = units.shift(); u !== undefined; u = units.shift()) {
    if (u.batch) await runBatchWithRetry(u.batch);
    else await runWithRetry(u.file);
  }
}));
try {
  mkdirSync(dirname(timesFile), { recursive: true });
  writeFileSync(timesFile, JSON.stringify({ ...lastTimes, ...secondsOf }, null, 1));
} catch { /* the times only order the next run */ }
if (files.length > 1) {
  const slowest = Object.entries(secondsOf).sort((a, b) => b[1] - a[1]).slice(0, 8);
  process.stdout.write(`[run-all] slowest files: ${slowest.map(([f, t]) => `${f.replace(/^test\//, '')} ${t.toFixed(1)}s`).join(', ')}\n`);
}
if (flaky.length) process.stdout.write(`[run-all] flaky (failed once, passed on retry):\n  ${flaky.join('\n  ')}\n`);
if (failures.length) process.stdout.write(`[run-all] failed files:\n  ${failures.join('\n  ')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
