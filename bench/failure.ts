// `make bench` section "failure" (issue 17 point 5): ≥ 10 SIGKILLs of each kind in
// one mixed cluster, in pairs (one ours + one serf at the same moment).
//
//   npx tsx bench/failure.ts [--quick] [--nodes 50] [--pairs 12] [--out DIR]
//
// Writes <out>/failure.{md,json} (quick: quick-failure.*). Bounded: ≤ 8 minutes.
import { runStandalone, writeSectionResults } from './lib/standalone.ts';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ProcessRegistry, oursCommand } from './lib/agents.ts';
import { type Row, fmt, ratioOf } from './lib/report.ts';
import { median } from './lib/stats.ts';
import { T_FAILURE_RATIO, pairedDifferences, runFailure, summarizeFailure } from './scenarios/failure.ts';

export async function failureSection(reg: ProcessRegistry, o: { quick: boolean; out: string; nodes?: number; pairs?: number; log: (l: string) => void }): Promise<Row[]> {
  const nodes = o.nodes ?? (o.quick ? 10 : 50);
  const pairs = o.pairs ?? (o.quick ? 2 : 12);
  const started = Date.now();
  const r = await runFailure(reg, { nodes, pairs, log: o.log, settleMs: o.quick ? 3000 : 10_000 });
  const so = summarizeFailure(r.kills, 'ours');
  const ss = summarizeFailure(r.kills, 'serf');
  const diffs = pairedDifferences(r.kills);
  const s = (v: number): string => fmt(v, 1, ' s');
  const rows: Row[] = [
    {
      figure: `All survivors mark a killed node failed, mixed ${nodes}-node cluster, median of ${so.n} / ${ss.n} kills (min-max)`,
      ours: `${s(so.all)} (${fmt(so.allMin, 1)}-${fmt(so.allMax, 1)}${so.missed ? `, ${so.missed} missed` : ''})`,
      serf: `${s(ss.all)} (${fmt(ss.allMin, 1)}-${fmt(ss.allMax, 1)}${ss.missed ? `, ${ss.missed} missed` : ''})`,
      ratio: ratioOf(so.all, ss.all), target: `≤ ${T_FAILURE_RATIO}`, met: ratioOf(so.all, ss.all) === null ? null : ratioOf(so.all, ss.all)! <= T_FAILURE_RATIO,
    },
    { figure: 'First survivor marks it failed (median)', ours: s(so.first), serf: s(ss.first), ratio: ratioOf(so.first, ss.first), target: '—', met: null },
    { figure: 'Half of the survivors mark it failed (median of the per-kill medians)', ours: s(so.median), serf: s(ss.median), ratio: ratioOf(so.median, ss.median), target: '—', met: null },
    {
      figure: `Paired difference ours − serf of "all survivors", same moment (median; min..max over ${diffs.length} pairs)`,
      ours: diffs.length ? `${fmt(median(diffs), 2, ' s')} (${fmt(Math.min(...diffs), 1)}..${fmt(Math.max(...diffs), 1)})` : 'n/a', serf: '—', ratio: null, target: '≤ 0 (median)', met: diffs.length ? median(diffs) <= 0 : null,
    },
  ];
  const preface = [
    `Run ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s, ${cpus().length} CPUs (load ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end), loopback.`,
    `ours = \`${oursCommand().how}\`; serf = Debian \`serf agent\` 0.9.4; both \`-profile=lan\`. ${r.nodes.ours} of ours + ${r.nodes.serf} serf, converged=${r.converged}.`,
  ];
  const notes = [
    'Each pair: one node of ours and one serf node SIGKILLed at the same moment (never the seed); every survivor\'s RPC `stream member-failed` is timestamped in the bench process. "first" is the first survivor to report it (≈ the first suspicion timer to expire, plus the member-event coalescing of a serf survivor), "all" the last one (includes dissemination of the dead message and, on serf survivors, serf\'s coalescing).',
    'The paired difference cancels the machine\'s load, which changes from pair to pair: a positive median means ours is detected later.',
    ...r.kills.map((k) => `pair ${k.pair} ${k.node}: first ${fmt((k.firstMs ?? NaN) / 1000, 1)} s, median ${fmt((k.medianMs ?? NaN) / 1000, 1)} s, all ${fmt((k.allMs ?? NaN) / 1000, 1)} s (last serf survivor ${fmt((k.allSerfSurvivorsMs ?? NaN) / 1000, 1)}, last of ours ${fmt((k.allOursSurvivorsMs ?? NaN) / 1000, 1)}; ${k.reported}/${k.expected})`),
  ];
  writeSectionResults(o, 'failure', 'Failure detection: killed node of ours vs killed serf node', preface, rows, notes, { ours: oursCommand().how, result: r, summary: { ours: so, serf: ss, pairedDiffs: diffs } });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runStandalone('failure', (a) => failureSection(a.reg, { quick: a.quick, out: a.out, nodes: a.num('--nodes'), pairs: a.num('--pairs'), log: a.log }));
}
