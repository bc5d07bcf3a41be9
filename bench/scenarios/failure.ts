// Failure detection of killed nodes, ours vs serf, in one mixed cluster.
//
// Kills come in pairs: one node of ours and one serf node are SIGKILLed at the
// same moment, so both kinds of victim are detected by the same survivors under
// the same load (the machine is shared and noisy; a paired comparison cancels
// most of that). For each victim we record, from every survivor's RPC `stream`:
// the first survivor's member-failed (≈ the first suspicion timer that expired,
// plus serf's member-event coalescing when that survivor is serf), the median,
// and the last (the row the bench always had: "all nodes mark it failed"), and
// the last per survivor kind. A difference in "first" points at the suspicion
// phase (what the survivors thought of the victim); a difference only in
// "last" at the dissemination of the dead message.
import { type AgentKind, type ProcessRegistry, executableOf } from '../lib/agents.ts';
import { Cluster, type ClusterNode } from '../lib/cluster.ts';
import { dropPageCache } from '../lib/procfs.ts';
import { withFreshPorts } from '../lib/ports.ts';
import { median, sleep } from '../lib/stats.ts';

export interface FailureOptions {
  /** Cluster size (node 0, the seed, is serf; the others alternate ours/serf). */
  nodes: number;
  /** Pairs of kills (one ours + one serf each). */
  pairs: number;
  log: (line: string) => void;
  /** Settling time after convergence before the first kill (ms). */
  settleMs?: number;
}

export interface FailureKill {
  kind: AgentKind;
  node: string;
  pair: number;
  /** ms from the kill to the first / median / last survivor's member-failed (null: not all within the deadline). */
  firstMs: number | null;
  medianMs: number | null;
  allMs: number | null;
  /** Last member-failed among serf survivors / among our survivors. */
  allSerfSurvivorsMs: number | null;
  allOursSurvivorsMs: number | null;
  reported: number;
  expected: number;
}

export interface FailureResult {
  nodes: { serf: number; ours: number };
  converged: boolean;
  kills: FailureKill[];
}

/** Deadline for every survivor to report both victims of a pair failed. */
const PAIR_DEADLINE_MS = 60_000;
/** Pause between pairs: the dead messages and coalesced events of the last pair are out. */
const PAIR_GAP_MS = 2_000;

export function failureKinds(nodes: number): AgentKind[] {
  return Array.from({ length: nodes }, (_, i) => (i % 2 === 1 ? 'ours' : 'serf'));
}

export async function runFailure(reg: ProcessRegistry, o: FailureOptions): Promise<FailureResult> {
  const kinds = failureKinds(o.nodes);
  for (const k of new Set(kinds)) dropPageCache(executableOf(k));
  const t0 = Date.now();
  const cluster = await withFreshPorts([o.nodes, o.nodes], ([portBase, rpcPortBase]) => Cluster.start(reg, { kinds, namePrefix: 'fpmfail', portBase: portBase!, rpcPortBase: rpcPortBase! }), () => reg.killAll());
  try {
    const converged = await cluster.waitConverged(o.nodes, 90_000);
    o.log(`failure: ${o.nodes} nodes started, converged=${converged} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    await cluster.subscribe('member-failed');
    await sleep(o.settleMs ?? 10_000);
    const kills: FailureKill[] = [];
    for (let pair = 0; pair < o.pairs; pair++) {
      const live = cluster.live();
      // Never the seed; the most recently started node of each kind.
      const pick = (k: AgentKind): ClusterNode | undefined => live.slice(1).reverse().find((x) => x.kind === k);
      const victims = [pick('ours'), pick('serf')].filter((x): x is ClusterNode => x !== undefined);
      if (victims.length < 2) break;
      const survivors = live.filter((x) => !victims.includes(x));
      const marked = new Map<string, Map<string, number>>(victims.map((v) => [v.name, new Map()]));
      let resolveAll: () => void = () => {};
      const all = new Promise<void>((r) => { resolveAll = r; });
      const off = cluster.onRecord((r) => {
        if (r.rec.Event !== 'member-failed') return;
        const members = Array.isArray(r.rec.Members) ? (r.rec.Members as { Name?: unknown }[]) : [];
        for (const m of members) {
          const seen = typeof m?.Name === 'string' ? marked.get(m.Name) : undefined;
          if (seen && !seen.has(r.node)) seen.set(r.node, r.at);
        }
        if ([...marked.values()].every((s) => s.size >= survivors.length)) resolveAll();
      });
      // Alternate which of the two goes first (a few microseconds apart).
      const ordered = pair % 2 === 0 ? victims : [...victims].reverse();
      const killedAt = performance.now();
      for (const v of ordered) v.agent.kill('SIGKILL');
      for (const v of ordered) v.rpc.close();
      await Promise.race([all, sleep(PAIR_DEADLINE_MS)]);
      off();
      for (const v of victims) {
        const seen = marked.get(v.name)!;
        const complete = seen.size >= survivors.length;
        const times = [...seen.values()].map((t) => t - killedAt);
        const lastOf = (k: AgentKind): number | null => {
          const ofKind = survivors.filter((s) => s.kind === k);
          if (!ofKind.every((s) => seen.has(s.name))) return null;
          return ofKind.length ? Math.max(...ofKind.map((s) => seen.get(s.name)! - killedAt)) : null;
        };
        const kill: FailureKill = {
          kind: v.kind, node: v.name, pair,
          firstMs: times.length ? Math.min(...times) : null,
          medianMs: times.length ? median(times) : null,
          allMs: complete ? Math.max(...times) : null,
          allSerfSurvivorsMs: lastOf('serf'), allOursSurvivorsMs: lastOf('ours'),
          reported: seen.size, expected: survivors.length,
        };
        kills.push(kill);
        const s = (x: number | null): string => (x === null ? 'n/a' : (x / 1000).toFixed(1));
        o.log(`failure: pair ${pair} killed ${v.name}: first ${s(kill.firstMs)} s, median ${s(kill.medianMs)} s, all ${s(kill.allMs)} s (serf survivors ${s(kill.allSerfSurvivorsMs)}, ours ${s(kill.allOursSurvivorsMs)}; ${seen.size}/${survivors.length})`);
      }
      await sleep(PAIR_GAP_MS);
    }
    return { nodes: { serf: kinds.filter((k) => k === 'serf').length, ours: kinds.filter((k) => k === 'ours').length }, converged, kills };
  } finally {
    await cluster.stop();
  }
}

/** Ratio target of the failure rows (issue 17 point 5: ours as fast as serf). */
export const T_FAILURE_RATIO = 1.1;

export interface FailureSummary {
  kind: AgentKind;
  n: number;
  /** Medians over the kills of this kind (s), and min-max of "all". */
  first: number; median: number; all: number; allMin: number; allMax: number;
  missed: number;
}

export function summarizeFailure(kills: FailureKill[], kind: AgentKind): FailureSummary {
  const xs = kills.filter((k) => k.kind === kind);
  const med = (f: (k: FailureKill) => number | null): number => median(xs.map(f).filter((v): v is number => v !== null)) / 1000;
  const alls = xs.map((k) => k.allMs).filter((v): v is number => v !== null).map((v) => v / 1000);
  return {
    kind, n: xs.length, first: med((k) => k.firstMs), median: med((k) => k.medianMs), all: med((k) => k.allMs),
    allMin: alls.length ? Math.min(...alls) : NaN, allMax: alls.length ? Math.max(...alls) : NaN, missed: xs.length - alls.length,
  };
}

/** Paired differences ours − serf of "all" within each pair (s): the noise-free comparison. */
export function pairedDifferences(kills: FailureKill[]): number[] {
  const out: number[] = [];
  for (const p of new Set(kills.map((k) => k.pair))) {
    const o = kills.find((k) => k.pair === p && k.kind === 'ours')?.allMs;
    const s = kills.find((k) => k.pair === p && k.kind === 'serf')?.allMs;
    if (o != null && s != null) out.push((o - s) / 1000);
  }
  return out;
}
