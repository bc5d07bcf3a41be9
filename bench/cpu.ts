// `make bench` section "cpu" (issue 17 point 4): CPU per agent, ours vs serf, in a
// steady 50-node cluster, three runs; the median run and the spread.
//
//   npx tsx bench/cpu.ts [--quick] [--nodes 50] [--runs 3] [--window 60] [--out DIR]
//
// Each run is a fresh mixed cluster (node 0, the seed, serf; then ours and serf
// alternating: 25 + 25), so both kinds are measured in the same window on the
// same loaded machine and the ratio does not depend on what else ran at that
// moment. CPU = utime + stime from /proc/PID/stat over the window, which starts
// STEADY_S after convergence (Node's start-up compilation and tier-up are done).
// Writes <out>/cpu.{md,json} (quick: quick-cpu.*). Bounded: ≤ 8 minutes.
import { runStandalone, writeSectionResults } from './lib/standalone.ts';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { type AgentKind, ProcessRegistry, executableOf, oursCommand } from './lib/agents.ts';
import { Cluster } from './lib/cluster.ts';
import { withFreshPorts } from './lib/ports.ts';
import { dropPageCache, readCpuSeconds } from './lib/procfs.ts';
import { type Row, fmt } from './lib/report.ts';
import { mean, median, sleep } from './lib/stats.ts';

/** Target of issue 17 point 4. */
export const T_CPU_RATIO = 1.0;
/** Wait after convergence before the window (s). */
const STEADY_S = 20;
/** No new run starts after this much of the section's time (ms): the section stays within 8 minutes. */
const START_BUDGET_MS = 5 * 60_000;

export interface CpuRun { run: number; converged: boolean; windowS: number; serf: number; ours: number; ratio: number; perNode: Record<string, number> }

async function oneRun(reg: ProcessRegistry, run: number, nodes: number, windowS: number, log: (l: string) => void): Promise<CpuRun> {
  const kinds: AgentKind[] = Array.from({ length: nodes }, (_, i) => (i % 2 === 1 ? 'ours' : 'serf'));
  for (const k of new Set(kinds)) dropPageCache(executableOf(k));
  const t0 = Date.now();
  const cluster = await withFreshPorts([nodes, nodes], ([portBase, rpcPortBase]) => Cluster.start(reg, { kinds, namePrefix: `fpmcpu${run}`, portBase: portBase!, rpcPortBase: rpcPortBase! }), () => reg.killAll());
  try {
    const converged = await cluster.waitConverged(nodes, 90_000);
    log(`cpu run ${run}: ${nodes} nodes, converged=${converged} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await sleep(STEADY_S * 1000);
    const before = new Map(cluster.nodes.map((x) => [x.name, readCpuSeconds(x.agent.pid)]));
    const w0 = performance.now();
    await sleep(windowS * 1000);
    const elapsedS = (performance.now() - w0) / 1000;
    const perNode: Record<string, number> = {};
    for (const x of cluster.nodes) {
      const a = readCpuSeconds(x.agent.pid);
      const b = before.get(x.name);
      if (a !== null && b != null) perNode[x.name] = ((a - b) / elapsedS) * 60;
    }
    const of = (k: AgentKind): number => mean(cluster.nodes.filter((x) => x.kind === k && perNode[x.name] !== undefined).map((x) => perNode[x.name]!));
    const r: CpuRun = { run, converged, windowS: elapsedS, serf: of('serf'), ours: of('ours'), ratio: of('ours') / of('serf'), perNode };
    log(`cpu run ${run}: CPU s/min per agent ours=${r.ours.toFixed(3)} serf=${r.serf.toFixed(3)} ratio=${r.ratio.toFixed(2)}`);
    return r;
  } finally {
    await cluster.stop();
  }
}

export async function cpuSection(reg: ProcessRegistry, o: { quick: boolean; out: string; nodes?: number; runs?: number; windowS?: number; log: (l: string) => void }): Promise<Row[]> {
  const nodes = o.nodes ?? (o.quick ? 8 : 50);
  const runs = o.runs ?? 3;
  const windowS = o.windowS ?? (o.quick ? 10 : 60);
  const started = Date.now();
  const results: CpuRun[] = [];
  for (let i = 0; i < runs; i++) {
    if (Date.now() - started > START_BUDGET_MS) { o.log(`cpu: run ${i} not started (section time budget)`); break; }
    results.push(await oneRun(reg, i, nodes, windowS, o.log));
  }
  const ratios = results.map((r) => r.ratio);
  const medRatio = median(ratios);
  const medRun = results.find((r) => r.ratio === medRatio) ?? results[0];
  const rows: Row[] = [
    {
      figure: `CPU s/min per agent, steady ${nodes}-node cluster (${nodes / 2} ours + ${nodes / 2} serf, same window), median of ${results.length} runs`,
      ours: medRun ? `${fmt(medRun.ours, 3)} s` : 'n/a', serf: medRun ? `${fmt(medRun.serf, 3)} s` : 'n/a',
      ratio: Number.isFinite(medRatio) ? medRatio : null, target: `≤ ${T_CPU_RATIO.toFixed(1)}`, met: Number.isFinite(medRatio) ? medRatio <= T_CPU_RATIO : null,
    },
    {
      figure: 'CPU ratio ours/serf of each run (spread)', ours: ratios.map((x) => `×${x.toFixed(2)}`).join(', ') || 'n/a', serf: '—',
      ratio: null, target: '—', met: null,
    },
  ];
  const preface = [
    `Run ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s, ${cpus().length} CPUs (load ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end), loopback.`,
    `ours = \`${oursCommand().how}\` (edge mode); serf = Debian \`serf agent\` 0.9.4; both \`-profile=lan\`.`,
  ];
  const notes = [
    `Each run: a fresh cluster, ${STEADY_S} s of steady state after convergence, then a ${windowS} s window; CPU = utime+stime of each process from /proc, per minute; the mean over the agents of each kind. The median row is the run with the median ratio.`,
    ...results.map((r) => `run ${r.run}: ours ${fmt(r.ours, 3)} s/min, serf ${fmt(r.serf, 3)} s/min, ×${fmt(r.ratio, 2)} (window ${r.windowS.toFixed(0)} s, converged=${r.converged})`),
  ];
  writeSectionResults(o, 'cpu', 'CPU per agent in a steady cluster: ours vs serf', preface, rows, notes, { ours: oursCommand().how, nodes, runs: results });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runStandalone('cpu', (a) => cpuSection(a.reg, { quick: a.quick, out: a.out, nodes: a.num('--nodes'), runs: a.num('--runs'), windowS: a.num('--window'), log: a.log }));
}
