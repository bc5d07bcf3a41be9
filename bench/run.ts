// `make bench`: ours and the real `serf agent` side by side on loopback.
//
//   node --import tsx bench/run.ts [--quick] [--only memory,cluster,startup] [--out DIR]
//
// Scenarios (each bounded in time; the whole full run stays under 20 minutes on 2 cores):
//   memory   one agent while a swarm grows the federation to 10, 100, 1,000, 10,000 nodes
//   cluster  a steady 50-node cluster, serf-only and mixed (40 serf + 10 ours):
//            CPU per agent, user-event dissemination, failure detection of a killed node
//   startup  process start to joined, warm and cold, executable and bundle on Node 18/20 vs serf,
//            with the start-up breakdown (bench/startup.ts; writes startup.{md,json} itself)
// Writes <out>/bench.md (table), <out>/bench.json (raw data) and <out>/bench.log. --quick runs small
// sizes for development and writes quick-bench.{md,json} instead.
// Ours is dist/cloudy-agent when built (`make binary`), else the sources through tsx
// (BENCH_OURS=binary|tsx forces one); the report says which.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ProcessRegistry, REPO_ROOT, oursCommand, type AgentKind } from './lib/agents.ts';
import { type Row, fmt, ratioOf, renderMarkdown } from './lib/report.ts';
import { median } from './lib/stats.ts';
import { runMemory, type MemoryResult } from './scenarios/memory.ts';
import { EVENT_DEADLINE_MS, SLOW_EVENT_MS, runCluster, type ClusterResult } from './scenarios/cluster.ts';
import { startupSection } from './startup.ts';
import { runApiBench } from './api/api-bench.ts';
import { failureSection } from './failure.ts';
import { cpuSection } from './cpu.ts';
import { floodSection } from './flood.ts';

interface Plan {
  sizes: number[];
  settleS: number;
  clusterSize: number;
  oursInMixed: number;
  cpuWindowS: number;
  events: number;
  mixedKills: AgentKind[];
  startupRepeats: number;
  /** Federation sizes of the API latency figures (bench/api/api-bench.ts). */
  apiSizes: number[];
}

const FULL: Plan = { sizes: [10, 100, 1000, 10000], settleS: 8, clusterSize: 50, oursInMixed: 10, cpuWindowS: 60, events: 200, mixedKills: ['ours', 'serf', 'ours', 'serf'], startupRepeats: 9, apiSizes: [1000, 10000] };
const QUICK: Plan = { sizes: [10, 100, 300], settleS: 3, clusterSize: 8, oursInMixed: 2, cpuWindowS: 10, events: 5, mixedKills: ['ours', 'serf'], startupRepeats: 2, apiSizes: [100, 300] };
/** Whole-run budget: scenarios that would start after it are reported "not run" (19 min + 8 for each of failure, cpu, flood). */
const BUDGET_MS = (19 + 3 * 8) * 60_000;

const MB = 1024;
const T_RSS_MB = 64;
/** Issue 17 point 2: steady VmRSS at every size (the Node 22 floor + 2 MB). */
const T_STEADY_RSS_MB = 48;
const T_ANON_GROWTH = 1.1;
const T_CPU = 1.5;
const T_EVENT_P99 = 1.1;
const T_FAILURE = 1.1;

function parseArgs(argv: string[]): { quick: boolean; only: Set<string>; out: string } {
  let quick = false;
  let only = new Set(['memory', 'cluster', 'startup', 'api', 'failure', 'cpu', 'flood']);
  let out = join(REPO_ROOT, 'bench/results');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a.startsWith('--only')) only = new Set((a.includes('=') ? a.split('=')[1]! : argv[++i]!).split(','));
    else if (a.startsWith('--out')) out = a.includes('=') ? a.split('=')[1]! : argv[++i]!;
    else throw new Error(`unknown argument ${a}`);
  }
  return { quick, only, out };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const plan = args.quick ? QUICK : FULL;
  const started = Date.now();
  const logLines: string[] = [];
  const log = (l: string): void => {
    const line = `[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${l}`;
    logLines.push(line);
    process.stderr.write(`${line}\n`);
  };
  const reg = new ProcessRegistry();
  const cleanup = async (): Promise<void> => { await reg.killAll(); };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => { log(`${sig}: stopping every process started`); void cleanup().then(() => process.exit(130)); });
  }
  const ours = oursCommand();
  log(`ours = ${ours.how}; plan = ${args.quick ? 'quick' : 'full'}`);
  const overBudget = (): boolean => Date.now() - started > BUDGET_MS;

  const memory: Partial<Record<AgentKind, MemoryResult>> = {};
  const clusters: { serfOnly?: ClusterResult; mixed?: ClusterResult } = {};
  const notRun: Record<string, string> = {};
  /** Rows of the sections that write their own result files too. */
  const rows: Row[] = [];
  const attempt = async (name: string, fn: () => Promise<void>): Promise<void> => {
    if (!args.only.has(name.split(':')[0]!)) { notRun[name] = 'not selected (--only)'; return; }
    if (overBudget()) { notRun[name] = 'time budget of the run exhausted'; return; }
    try { await fn(); } catch (e) {
      notRun[name] = (e as Error).message.slice(0, 300);
      log(`${name} failed: ${notRun[name]}`);
      await reg.killAll();
    }
  };

  try {
    await attempt('memory:serf', async () => {
      memory.serf = await runMemory(reg, { kind: 'serf', sizes: plan.sizes, port: 26001, rpcPort: 26002, swarmBase: 12, swarmPort: 26500, settleS: plan.settleS, log });
    });
    await attempt('memory:ours', async () => {
      memory.ours = await runMemory(reg, { kind: 'ours', sizes: plan.sizes, port: 26011, rpcPort: 26012, swarmBase: 14, swarmPort: 26510, settleS: plan.settleS, log });
    });
    await attempt('cluster:serf-only', async () => {
      clusters.serfOnly = await runCluster(reg, {
        label: 'serfonly', kinds: new Array<AgentKind>(plan.clusterSize).fill('serf'),
        cpuWindowS: plan.cpuWindowS, events: plan.events, kills: ['serf'], log,
      });
    });
    await attempt('cluster:mixed', async () => {
      // Ours spread through the start order; node 0 (the seed) is serf.
      const kinds: AgentKind[] = new Array<AgentKind>(plan.clusterSize).fill('serf');
      const step = Math.floor(plan.clusterSize / plan.oursInMixed);
      for (let i = 0; i < plan.oursInMixed; i++) kinds[1 + i * step] = 'ours';
      clusters.mixed = await runCluster(reg, {
        label: 'mixed', kinds,
        cpuWindowS: plan.cpuWindowS, events: plan.events, kills: plan.mixedKills, log,
      });
    });
    await attempt('api', async () => {
      await runApiBench(reg, { sizes: plan.apiSizes, requests: (n) => (n >= 10_000 ? 20 : 50), out: args.out, log });
    });
    // Issue 17 point 5: ≥ 10 kills of each kind, in pairs; writes failure.{md,json} itself (bench/failure.ts).
    await attempt('failure', async () => {
      rows.push(...await failureSection(reg, { quick: args.quick, out: args.out, log }));
    });
    // Issue 17 points 4 and 3; each writes cpu.{md,json} / flood.{md,json} itself.
    await attempt('cpu', async () => {
      rows.push(...await cpuSection(reg, { quick: args.quick, out: args.out, log }));
    });
    await attempt('flood', async () => {
      rows.push(...await floodSection(reg, { quick: args.quick, out: args.out, log }));
    });
    await attempt('startup', async () => {
      rows.push(...await startupSection(reg, { quick: args.quick, runs: plan.startupRepeats, coldRuns: args.quick ? 1 : 5, cold: 'all', only: null, out: args.out, log }));
    });
  } finally {
    await cleanup();
  }

  rows.unshift(...buildRows(plan, memory, clusters, notRun));
  const elapsedS = (Date.now() - started) / 1000;
  const preface = [
    `Run ${new Date().toISOString()}, ${elapsedS.toFixed(0)} s, ${cpus().length} CPUs (load ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end), all on loopback.`,
    `ours = \`${ours.how}\` (edge mode, the default); serf = Debian \`serf agent\` 0.9.4 (\`-profile=lan\`). Plan: ${args.quick ? '**quick (development sizes, not the benchmark)**' : 'full'}.`,
  ];
  const notes = [
    'Memory: one agent joined by a swarm (bench/swarm: one process, one UDP socket + TCP listener per member on 127.x.y.z) grown step by step; after each step the swarm pushes/pulls its full member list with the agent; VmRSS/RssAnon are medians of 5 samples after settling, the peak is the highest VmRSS sampled every 250 ms during the step. Before each agent starts, the page cache of its executable is dropped (as after a reboot): a file the build just wrote is cached whole, and the kernel\'s fault-around would then map up to 16 cached neighbours per touched page, ~14 MB more RssFile for the Node executable than on a device.',
    'Reference: one push/pull listing 50,000 members takes a stock `serf agent` from 10 MB to 178 MB RSS.',
    `CPU: utime+stime from /proc over ${plan.cpuWindowS} s of a steady cluster, starting 30 s after it converged (start-up work done in every process); ours = mean of our agents in the mixed cluster, serf = mean of the serf-only cluster.`,
    'Events: `event` (coalesce=false) sent over RPC to one node; time until every node\'s RPC `stream` delivered it to the bench process. Mixed cluster vs serf-only cluster of the same size; origins alternate between kinds. An event that some node had not delivered within 15 s is incomplete and counts as infinitely slow in median/p99 (the count is shown). With 200 events per cluster the p99 leaves out the two slowest; SWIM\'s random fan-out now and then misses a node in any cluster, which then gets the event from a later push/pull: those events are counted in their own row.',
    'Failure detection: SIGKILL of one node; time until every survivor\'s `stream` delivered member-failed for it (includes serf\'s 3 s member-event coalescing window on serf nodes). Both kinds killed in the mixed cluster; medians.',
    'Start to joined: spawn with `-join` a serf seed until the seed lists the node alive (RPC polled every 5 ms); the breakdown of our start-up is in startup.md (bench/startup.ts).',
    ...(['serf', 'ours'] as const).flatMap((k) => {
      const sw = memory[k]?.swarm;
      const udpOnly = sw?.['swarm.member.udp_only'] ?? 0;
      return sw && udpOnly > 0
        ? [`Swarm around ${k}: the descriptor limit (not raisable here) left ${udpOnly} of ${sw.members} members without a TCP listener (UDP-only; a push/pull the agent starts with one of them is refused).`]
        : [];
    }),
    ...Object.entries(notRun).map(([k, v]) => `not run: ${k}: ${v}`),
  ];
  const title = args.quick ? 'cloudy-agent vs serf — quick development run' : 'cloudy-agent vs serf — benchmark';
  mkdirSync(args.out, { recursive: true });
  const base = args.quick ? 'quick-bench' : 'bench';
  writeFileSync(join(args.out, `${base}.md`), renderMarkdown(title, preface, rows, notes));
  writeFileSync(join(args.out, `${base}.json`), JSON.stringify({ date: new Date().toISOString(), elapsedS, ours: ours.how, plan, rows, memory, clusters, notRun }, null, 2) + '\n');
  writeFileSync(join(args.out, `${base}.log`), logLines.join('\n') + '\n');
  process.stdout.write(renderMarkdown(title, preface, rows, notes));
  log(`wrote ${join(args.out, base)}.{md,json,log}`);
}

function buildRows(plan: Plan, memory: Partial<Record<AgentKind, MemoryResult>>, clusters: { serfOnly?: ClusterResult; mixed?: ClusterResult }, notRun: Record<string, string>): Row[] {
  const rows: Row[] = [];
  const why = (key: string, fallback: string): string => `not run: ${notRun[key] ?? fallback}`;

  // --- memory
  const mo = memory.ours;
  const ms = memory.serf;
  const stepOf = (r: MemoryResult | undefined, size: number) => r?.steps.find((s) => s.size === size);
  const memVal = (r: MemoryResult | undefined, key: string, size: number, field: 'vmRssKb' | 'rssAnonKb' | 'rssFileKb'): string => {
    const s = stepOf(r, size);
    if (s) return `${fmt(s[field] / MB)} MB (sees ${s.agentAlive})`;
    return r?.error ? `not run: ${r.error.slice(0, 160)}` : why(key, 'scenario failed');
  };
  for (const size of plan.sizes) {
    const o = stepOf(mo, size);
    const s = stepOf(ms, size);
    rows.push({
      figure: `VmRSS of one agent, ${size.toLocaleString('en')} members`,
      ours: memVal(mo, 'memory:ours', size, 'vmRssKb'), serf: memVal(ms, 'memory:serf', size, 'vmRssKb'),
      ratio: ratioOf(o?.vmRssKb, s?.vmRssKb), target: `ours ≤ ${T_STEADY_RSS_MB} MB`, met: o ? o.vmRssKb <= T_STEADY_RSS_MB * MB : null,
    });
    rows.push({
      figure: `RssAnon of one agent, ${size.toLocaleString('en')} members`,
      ours: memVal(mo, 'memory:ours', size, 'rssAnonKb'), serf: memVal(ms, 'memory:serf', size, 'rssAnonKb'),
      ratio: ratioOf(o?.rssAnonKb, s?.rssAnonKb), target: '—', met: null,
    });
    rows.push({
      figure: `RssFile (mapped executable pages) of one agent, ${size.toLocaleString('en')} members`,
      ours: memVal(mo, 'memory:ours', size, 'rssFileKb'), serf: memVal(ms, 'memory:serf', size, 'rssFileKb'),
      ratio: ratioOf(o?.rssFileKb, s?.rssFileKb), target: '—', met: null,
    });
  }
  const peak = (r: MemoryResult | undefined): number | null => (r && r.steps.length ? Math.max(...r.steps.map((s) => s.peakVmRssKb)) : null);
  const po = peak(mo);
  const ps = peak(ms);
  rows.push({
    figure: 'Peak VmRSS during growth (any size)', ours: po === null ? why('memory:ours', 'no samples') : `${fmt(po / MB)} MB`,
    serf: ps === null ? why('memory:serf', 'no samples') : `${fmt(ps / MB)} MB`, ratio: ratioOf(po, ps), target: `ours < ${T_RSS_MB} MB`, met: po === null ? null : po < T_RSS_MB * MB,
  });
  const small = plan.sizes.includes(100) ? 100 : plan.sizes[0]!;
  const large = plan.sizes[plan.sizes.length - 1]!;
  const growth = (r: MemoryResult | undefined): number | null => {
    const a = stepOf(r, small);
    const b = stepOf(r, large);
    return a && b ? b.rssAnonKb / a.rssAnonKb : null;
  };
  const go = growth(mo);
  const gs = growth(ms);
  rows.push({
    figure: `RssAnon growth ${small.toLocaleString('en')} → ${large.toLocaleString('en')} members`,
    ours: go === null ? why('memory:ours', 'missing steps') : `×${go.toFixed(2)}`, serf: gs === null ? why('memory:serf', 'missing steps') : `×${gs.toFixed(2)}`,
    ratio: null, target: `ours ≤ ×${T_ANON_GROWTH.toFixed(2)}`, met: go === null ? null : go <= T_ANON_GROWTH,
  });

  // --- cluster
  const so = clusters.serfOnly;
  const mx = clusters.mixed;
  const n = plan.clusterSize;
  const cpuOurs = mx?.cpu.ours ?? null;
  const cpuSerf = so?.cpu.serf ?? null;
  const cpuRatio = ratioOf(cpuOurs, cpuSerf);
  rows.push({
    figure: `CPU s/min per agent, steady ${n}-node cluster (ours in mixed vs serf-only)`,
    ours: mx ? `${fmt(cpuOurs, 3)} s` : why('cluster:mixed', 'failed'), serf: so ? `${fmt(cpuSerf, 3)} s` : why('cluster:serf-only', 'failed'),
    ratio: cpuRatio, target: `≤ ${T_CPU}`, met: cpuRatio === null ? null : cpuRatio <= T_CPU,
  });
  if (mx) {
    const r = ratioOf(mx.memory.oursVmRssKb, mx.memory.serfVmRssKb);
    rows.push({
      figure: `VmRSS per agent in the real mixed ${n}-node cluster (median; RssAnon in brackets)`,
      ours: `${fmt(mx.memory.oursVmRssKb / MB)} MB (${fmt(mx.memory.oursRssAnonKb / MB)})`, serf: `${fmt(mx.memory.serfVmRssKb / MB)} MB (${fmt(mx.memory.serfRssAnonKb / MB)})`,
      ratio: r, target: `ours < ${T_RSS_MB} MB`, met: Number.isFinite(mx.memory.oursVmRssKb) ? mx.memory.oursVmRssKb < T_RSS_MB * MB : null,
    });
    rows.push({
      figure: `CPU s/min per serf agent inside the mixed cluster`, ours: '—', serf: `${fmt(mx.cpu.serf, 3)} s`,
      ratio: null, target: '—', met: null,
    });
  }
  // An incomplete event makes a percentile infinite: the target is then missed by the side that has it.
  const eventTargetMet = (o: number | null, s: number | null, r: number | null, target: number): boolean | null => {
    if (r !== null) return r <= target;
    if (o === null || s === null) return null;
    if (o === Infinity && Number.isFinite(s)) return false;
    if (s === Infinity && Number.isFinite(o)) return true;
    return null;
  };
  const evRow = (label: string, key: 'medianMs' | 'p99Ms' | 'deliveryP99Ms', target: number | null): void => {
    const o = mx?.events[key] ?? null;
    const s = so?.events[key] ?? null;
    const r = ratioOf(o, s);
    const inc = (c: ClusterResult | undefined): string => (c && c.events.incomplete ? `, ${c.events.incomplete} of ${c.events.reachAllMs.length} incomplete` : '');
    const ms = (v: number | null): string => (v === Infinity ? `> ${EVENT_DEADLINE_MS / 1000} s` : `${fmt(v, 0)} ms`);
    const met = target === null ? null : eventTargetMet(o, s, r, target);
    rows.push({
      figure: `User event reaches all ${n} nodes, ${label} (mixed vs serf-only)`,
      ours: mx ? `${ms(o)}${inc(mx)}` : why('cluster:mixed', 'failed'), serf: so ? `${ms(s)}${inc(so)}` : why('cluster:serf-only', 'failed'),
      ratio: r, target: target === null ? '—' : `≤ ${target}`, met,
    });
  };
  evRow('median', 'medianMs', null);
  evRow('p99', 'p99Ms', T_EVENT_P99);
  evRow('p99 of single deliveries (every node × event)', 'deliveryP99Ms', null);
  if (mx || so) {
    const slow = (c: ClusterResult | undefined): string => (c ? `${c.events.slow} of ${c.events.reachAllMs.length}` : 'n/a');
    rows.push({
      figure: `User events missed by gossip at some node (all reached only after > ${SLOW_EVENT_MS / 1000} s, by push/pull, or never) (mixed vs serf-only)`,
      ours: slow(mx), serf: slow(so), ratio: null, target: '—', met: null,
    });
    const drops = (c: ClusterResult | undefined): string => (c?.events.udp ? `${c.events.udp.rcvbufErrors} of ${c.events.udp.datagrams}` : 'n/a');
    rows.push({
      figure: 'UDP datagrams the kernel dropped (receive buffer full) during the events phase, system-wide (mixed vs serf-only)',
      ours: drops(mx), serf: drops(so), ratio: null, target: '—', met: null,
    });
  }
  const fail = (c: ClusterResult | undefined, kind: AgentKind): { v: number | null; text: string } => {
    const xs = (c?.failures ?? []).filter((f) => f.kind === kind);
    const ok = xs.map((f) => f.allMarkedFailedMs).filter((x): x is number => x !== null);
    if (xs.length === 0) return { v: null, text: 'n/a' };
    const v = ok.length ? median(ok) / 1000 : null;
    return { v, text: `${fmt(v, 1)} s (${xs.map((f) => (f.allMarkedFailedMs === null ? `missed: ${f.reported}/${f.expected}` : (f.allMarkedFailedMs / 1000).toFixed(1))).join(', ')})` };
  };
  const fo = fail(mx, 'ours');
  const fs = fail(mx, 'serf');
  const fr = ratioOf(fo.v, fs.v);
  rows.push({
    figure: `All nodes mark a killed node failed, mixed ${n}-node cluster (ours killed vs serf killed)`,
    ours: mx ? fo.text : why('cluster:mixed', 'failed'), serf: mx ? fs.text : why('cluster:mixed', 'failed'),
    ratio: fr, target: `≤ ${T_FAILURE}`, met: fr === null ? null : fr <= T_FAILURE,
  });
  if (so) {
    rows.push({ figure: `All nodes mark a killed serf failed, serf-only ${n}-node cluster`, ours: '—', serf: fail(so, 'serf').text, ratio: null, target: '—', met: null });
  }

  return rows;
}

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
