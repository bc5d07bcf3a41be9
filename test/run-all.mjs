#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) in its own Node process, so that a
// test that leaves sockets, timers or child processes behind cannot disturb the
// next one, and prints one closing line "N passed, N failed".
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
//   TEST_TIMEOUT_S  per-file time limit (default 900 s)
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const fast = process.argv.includes('--fast') || process.env.TEST_FAST === '1';
const argv = process.argv.slice(2);
const jAt = argv.indexOf('-j');
const jobs = Math.max(1, Number(jAt >= 0 ? argv[jAt + 1] : process.env.TEST_JOBS ?? 1) || 1);
const precompiled = argv.includes('--precompiled');
const excludes = argv.filter((a) => a.startsWith('--exclude=')).map((a) => a.slice('--exclude='.length));
const filters = argv.filter((a, i) => a !== '--fast' && a !== '--precompiled' && a !== '-j' && !a.startsWith('--exclude=') && !(jAt >= 0 && i === jAt + 1));
const perFileTimeoutMs = Number(process.env.TEST_TIMEOUT_S ?? 900) * 1000;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => !fast || !f.endsWith('.real.test.ts'))
  .filter((f) => !excludes.some((s) => f.includes(s)))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));

// Seconds each file took in earlier runs (any job count); longest first when
// running side by side, files never timed before ahead of all.
const timesFile = join(root, '.cache', 'test-times.json');
let lastTimes = {};
try { lastTimes = JSON.parse(readFileSync(timesFile, 'utf8')); } catch { /* first run */ }
const secondsOf = {};
if (jobs > 1) files.sort((a, b) => (lastTimes[b] ?? Infinity) - (lastTimes[a] ?? Infinity) || a.localeCompare(b));
const logDir = join(root, 'test-artifacts', 'run-all');

if (precompiled) await (await import('./support/precompile.mjs')).precompile();
const loader = precompiled ? './test/support/ts-loader.mjs' : 'tsx';

function runOne(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', './test/support/uvu-hooks-visible.mjs', '--import', loader, file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', NODE_DISABLE_COLORS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; if (jobs === 1) process.stdout.write(d); });
    child.stderr.on('data', (d) => { if (process.env.TEST_VERBOSE) process.stderr.write(d); else out += d; });
    const timer = setTimeout(() => {
      out += `\n[run-all] ${file} exceeded ${perFileTimeoutMs / 1000}s, killed\n`;
      try { process.kill(-child.pid, 'SIGKILL'); } catch {}
    }, perFileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const sk = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      let bad = total - ok - sk;
      if (code !== 0 && bad === 0) bad = 1; // crashed, or failed outside a test
      if (total === 0 && bad === 0) bad = 1; // a test file that ran no test
      secondsOf[file] = Number(secs);
      let log = '';
      if (jobs > 1) {
        log = join(logDir, file.replace(/\.ts$/, '.log'));
        try { mkdirSync(dirname(log), { recursive: true }); writeFileSync(log, out); } catch { log = ''; }
      }
      if (jobs > 1 && bad > 0) process.stdout.write(out.split('\n').filter((l) => !/^\s*$/.test(l)).slice(-80).join('\n') + '\n');
      if (bad > 0) {
        process.stdout.write(`[run-all] FAIL ${file} (exit ${code}, ${secs}s)${log ? `; whole output: ${relative(root, log)}` : ''}\n`);
        if (!process.env.TEST_VERBOSE && jobs === 1) process.stdout.write(out.split('\n').slice(-80).join('\n') + '\n');
      } else {
        process.stdout.write(`[run-all] ok   ${file} (${ok} tests, ${secs}s)\n`);
      }
      resolve({ ok, bad, sk });
    });
  });
}

// Real-peer tests (serf processes, LXC, sockets) run on a 2-core machine: a
// file that fails is run once more, and is reported as flaky if it then
// passes. A file that fails twice fails the run.
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
const flaky = [];
async function runWithRetry(f) {
  let r = await runOne(f);
  if (r.bad > 0 && !process.env.TEST_NO_RETRY) {
    process.stdout.write(`[run-all] RETRY ${f} (first attempt: ${r.bad} failed)\n`);
    r = await runOne(f);
    if (r.bad === 0) flaky.push(f);
  }
  passed += r.ok;
  skipped += r.sk;
  failed += r.bad;
  if (r.bad > 0) failures.push(f);
}
const queue = [...files];
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, async () => {
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) await runWithRetry(f);
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
