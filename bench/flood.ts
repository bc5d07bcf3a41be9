// `make bench` section "flood" (issue 17 point 3): the combined flood against ONE
// agent (ours, then serf, alternating) while a real `serf agent` watches it:
// a push/pull listing 50,000 members, then 100,000 alive messages for other
// nodes at ~5,000/s (bench/lib/flood-driver.ts). Figures: the target's peak
// VmRSS (and RssAnon) sampled every 100 ms from /proc, and whether the watching
// serf agent ever saw it as anything but alive (RPC members polled every
// second + its `stream member-failed`).
//
//   npx tsx bench/flood.ts [--quick] [--runs 3] [--out DIR]
//
// Writes <out>/flood.{md,json} (quick: quick-flood.*). Bounded: ≤ 8 minutes.
import { runStandalone, writeSectionResults } from './lib/standalone.ts';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { RpcClient } from '../agent/rpc/client.ts';
import { type AgentKind, ProcessRegistry, executableOf, oursCommand, waitRpc } from './lib/agents.ts';
import { fakePushPull, floodAlives, sendPushPull } from './lib/flood-driver.ts';
import { freePortRange } from './lib/ports.ts';
import { dropPageCache, readMemory } from './lib/procfs.ts';
import { type Row, fmt, ratioOf } from './lib/report.ts';
import { median, pollUntil, sleep } from './lib/stats.ts';

/** Target of issue 17 point 3 (MB). */
export const T_FLOOD_PEAK_MB = 60;
const SAMPLE_MS = 100;
/** The flood starts this long after the target was spawned (ms). */
const SETTLED_AFTER_START_MS = 20_000;
/** No new run starts after this much of the section's time (ms): ≤ 8 minutes in all. */
const START_BUDGET_MS = 6 * 60_000;

export interface FloodPlan { members: number; alives: number; alivesPerS: number; settleS: number }
export const FULL_FLOOD: FloodPlan = { members: 50_000, alives: 100_000, alivesPerS: 5_000, settleS: 10 };
const QUICK_FLOOD: FloodPlan = { members: 5_000, alives: 10_000, alivesPerS: 5_000, settleS: 3 };

export interface FloodRun {
  kind: AgentKind; run: number;
  baselineVmRssKb: number; peakVmRssKb: number; peakRssAnonKb: number; endVmRssKb: number;
  pushPullReplyBytes: number; pushPullMs: number; alivesSent: number; alivesMs: number;
  /** Statuses of the target the watching serf agent reported (polls), and its member-failed records for it. */
  watcherStatuses: Record<string, number>; watcherFailed: number;
  /** The target still answered RPC at the end; its alive members then. */
  answering: boolean; aliveAtEnd: number;
  error?: string;
}

async function oneRun(reg: ProcessRegistry, kind: AgentKind, run: number, plan: FloodPlan, log: (l: string) => void): Promise<FloodRun> {
  const base = await freePortRange(4, 28000, 32700);
  dropPageCache(executableOf(kind));
  const name = `fpmflood-${kind}-${run}`;
  const target = reg.startAgent({ kind, name, port: base, rpcPort: base + 1 });
  const r: FloodRun = {
    kind, run, baselineVmRssKb: NaN, peakVmRssKb: 0, peakRssAnonKb: 0, endVmRssKb: NaN, pushPullReplyBytes: 0, pushPullMs: NaN,
    alivesSent: 0, alivesMs: NaN, watcherStatuses: {}, watcherFailed: 0, answering: false, aliveAtEnd: -1,
  };
  let rpc: RpcClient | undefined;
  let wrpc: RpcClient | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let stopPolling = false;
  let polling: Promise<void> = Promise.resolve();
  // The watcher starts once the target listens (serf exits when its start-up -join is refused).
  let watcher: ReturnType<ProcessRegistry['startAgent']> | undefined;
  try {
    rpc = await waitRpc(target, 30_000);
    if (!rpc) throw new Error(`${kind} target did not come up: ${target.exitInfo()} ${target.output().trim().split('\n').slice(-3).join(' | ')}`);
    watcher = reg.startAgent({ kind: 'serf', name: `fpmflood-watch-${run}-${kind}`, port: base + 2, rpcPort: base + 3, join: [target.bindAddr] });
    wrpc = await waitRpc(watcher, 30_000);
    if (!wrpc) throw new Error(`watcher did not come up: ${watcher.exitInfo()} ${watcher.output().trim().split('\n').slice(-3).join(' | ')}`);
    const w = wrpc;
    const joined = await pollUntil(30_000, 250, async () => ((await w.members()).find((m) => m.name === name)?.status === 'alive' ? true : undefined));
    if (!joined) throw new Error('the watcher never saw the target alive');
    await w.stream('member-failed', (rec) => {
      const members = Array.isArray(rec.Members) ? (rec.Members as { Name?: unknown }[]) : [];
      if (members.some((m) => m?.Name === name)) r.watcherFailed++;
    });
    // A running agent is flooded, not one still starting: its start-up settled
    // (the governor's settle reclaim, limits.memorySettleReclaimAfterMs, is 10 s).
    await sleep(Math.max(3000, SETTLED_AFTER_START_MS - (performance.now() - target.spawnedAt)));
    r.baselineVmRssKb = readMemory(target.pid)?.vmRssKb ?? NaN;
    sampler = setInterval(() => {
      const m = readMemory(target.pid);
      if (!m) return;
      r.peakVmRssKb = Math.max(r.peakVmRssKb, m.vmRssKb);
      r.peakRssAnonKb = Math.max(r.peakRssAnonKb, m.rssAnonKb);
    }, SAMPLE_MS);
    polling = (async () => {
      for (let i = 0; i < 600 && !stopPolling; i++) {
        const st = await w.members().then((ms) => ms.find((m) => m.name === name)?.status ?? 'absent').catch(() => 'rpc-error');
        r.watcherStatuses[st] = (r.watcherStatuses[st] ?? 0) + 1;
        await sleep(1000);
      }
    })();
    const state = fakePushPull(plan.members, `fpmpp${run}${kind[0]}`);
    const t0 = performance.now();
    r.pushPullReplyBytes = await sendPushPull('127.0.0.1', base, state, 60_000).catch(() => -1);
    r.pushPullMs = performance.now() - t0;
    const t1 = performance.now();
    r.alivesSent = await floodAlives('127.0.0.1', base, plan.alives, plan.alivesPerS, `fpmal${run}${kind[0]}`, 60_000);
    r.alivesMs = performance.now() - t1;
    await sleep(plan.settleS * 1000);
    r.endVmRssKb = readMemory(target.pid)?.vmRssKb ?? NaN;
    const t = rpc;
    const alive = await Promise.race([t.members().then((ms) => ms.filter((m) => m.status === 'alive').length), sleep(15_000).then(() => -1)]).catch(() => -1);
    r.answering = alive >= 0;
    r.aliveAtEnd = alive;
    if (target.exited()) throw new Error(`${kind} target ${target.exitInfo()}`);
  } catch (e) {
    r.error = (e as Error).message.slice(0, 300);
  } finally {
    stopPolling = true;
    if (sampler) clearInterval(sampler);
    await Promise.race([polling, sleep(5000)]);
    rpc?.close();
    wrpc?.close();
    target.kill('SIGKILL');
    watcher?.kill('SIGKILL');
    await Promise.all([target.waitExit(5000), watcher?.waitExit(5000)]);
  }
  log(`flood ${kind} run ${run}: baseline ${fmt(r.baselineVmRssKb / 1024)} MB, peak VmRSS ${fmt(r.peakVmRssKb / 1024)} MB (RssAnon ${fmt(r.peakRssAnonKb / 1024)}), end ${fmt(r.endVmRssKb / 1024)} MB; push/pull ${fmt(r.pushPullMs, 0)} ms (reply ${r.pushPullReplyBytes} B), ${r.alivesSent} alives in ${fmt(r.alivesMs, 0)} ms; watcher saw ${JSON.stringify(r.watcherStatuses)}, member-failed ${r.watcherFailed}; answering=${r.answering} alive=${r.aliveAtEnd}${r.error ? `; error: ${r.error}` : ''}`);
  return r;
}

export async function floodSection(reg: ProcessRegistry, o: { quick: boolean; out: string; runs?: number; log: (l: string) => void }): Promise<Row[]> {
  const plan = o.quick ? QUICK_FLOOD : FULL_FLOOD;
  const runs = o.runs ?? (o.quick ? 1 : 3);
  const started = Date.now();
  const results: FloodRun[] = [];
  for (let i = 0; i < runs; i++) {
    for (const kind of ['ours', 'serf'] as const) {
      if (Date.now() - started > START_BUDGET_MS) { o.log(`flood: ${kind} run ${i} not started (section time budget)`); continue; }
      results.push(await oneRun(reg, kind, i, plan, o.log));
    }
  }
  const of = (k: AgentKind): FloodRun[] => results.filter((r) => r.kind === k && !r.error);
  const peaks = (k: AgentKind): number[] => of(k).map((r) => r.peakVmRssKb / 1024);
  const po = median(peaks('ours'));
  const ps = median(peaks('serf'));
  const neverFailed = (k: AgentKind): boolean => of(k).length > 0 && of(k).every((r) => r.watcherFailed === 0 && Object.keys(r.watcherStatuses).every((s) => s === 'alive' || s === 'rpc-error'));
  const list = (k: AgentKind): string => peaks(k).map((x) => x.toFixed(1)).join(', ');
  const errors = results.filter((r) => r.error).map((r) => `${r.kind} run ${r.run}: ${r.error}`);
  const rows: Row[] = [
    {
      figure: `Peak VmRSS, ${plan.members.toLocaleString('en')}-member push/pull then ${plan.alives.toLocaleString('en')} alives at ${plan.alivesPerS.toLocaleString('en')}/s, real serf watching (median of ${of('ours').length} / ${of('serf').length} runs)`,
      ours: Number.isFinite(po) ? `${fmt(po)} MB (${list('ours')})` : 'n/a', serf: Number.isFinite(ps) ? `${fmt(ps)} MB (${list('serf')})` : 'n/a',
      ratio: ratioOf(po, ps), target: `ours < ${T_FLOOD_PEAK_MB} MB`, met: Number.isFinite(po) ? Math.max(...peaks('ours')) < T_FLOOD_PEAK_MB : null,
    },
    {
      figure: 'Peak RssAnon during the flood (median)', ours: fmt(median(of('ours').map((r) => r.peakRssAnonKb / 1024)), 1, ' MB'),
      serf: fmt(median(of('serf').map((r) => r.peakRssAnonKb / 1024)), 1, ' MB'), ratio: null, target: '—', met: null,
    },
    {
      figure: 'VmRSS before the flood / 10 s after it (median)',
      ours: `${fmt(median(of('ours').map((r) => r.baselineVmRssKb / 1024)))} / ${fmt(median(of('ours').map((r) => r.endVmRssKb / 1024)))} MB`,
      serf: `${fmt(median(of('serf').map((r) => r.baselineVmRssKb / 1024)))} / ${fmt(median(of('serf').map((r) => r.endVmRssKb / 1024)))} MB`, ratio: null, target: '—', met: null,
    },
    {
      figure: 'The watching serf agent never saw the target other than alive (every run)', ours: of('ours').length ? (neverFailed('ours') ? 'yes' : 'no') : 'n/a',
      serf: of('serf').length ? (neverFailed('serf') ? 'yes' : 'no') : 'n/a', ratio: null, target: 'ours: yes', met: of('ours').length ? neverFailed('ours') : null,
    },
  ];
  const preface = [
    `Run ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s, ${cpus().length} CPUs (load ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end), loopback.`,
    `ours = \`${oursCommand().how}\` (edge mode, default limits); serf = Debian \`serf agent\` 0.9.4; both \`-profile=lan\`. Page cache of each executable dropped before each start.`,
  ];
  const notes = [
    'Each run: the target agent and a watching serf agent joined to it; 20 s after the target started (a running agent, its start-up settled) the push/pull (one TCP connection, the target\'s own state read back) and straight after it the alive messages (compound UDP datagrams of 16, from one socket, paced in 10 ms ticks), then 10 s of aftermath. VmRSS/RssAnon of the target sampled every 100 ms from /proc/PID/status; the watcher\'s view polled every second over its RPC, plus its `stream member-failed`.',
    ...results.map((r) => `${r.kind} run ${r.run}: peak ${fmt(r.peakVmRssKb / 1024)} MB (RssAnon ${fmt(r.peakRssAnonKb / 1024)}), baseline ${fmt(r.baselineVmRssKb / 1024)}, end ${fmt(r.endVmRssKb / 1024)}; push/pull ${fmt(r.pushPullMs, 0)} ms, ${r.alivesSent} alives in ${fmt(r.alivesMs / 1000, 1)} s; watcher ${JSON.stringify(r.watcherStatuses)}, member-failed ${r.watcherFailed}; alive members at the end ${r.aliveAtEnd}`),
    ...errors.map((e) => `not complete: ${e}`),
  ];
  writeSectionResults(o, 'flood', 'Combined flood: peak memory, ours vs serf', preface, rows, notes, { ours: oursCommand().how, plan, runs: results });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runStandalone('flood', (a) => floodSection(a.reg, { quick: a.quick, out: a.out, runs: a.num('--runs'), log: a.log }));
}
