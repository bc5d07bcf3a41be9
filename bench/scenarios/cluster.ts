// Steady-cluster scenario: CPU per agent, user-event dissemination and failure
// detection in one cluster (serf-only or mixed), all measured from outside:
// CPU from /proc, events and failures from `stream` records of every node.
import { type AgentKind, type ProcessRegistry, executableOf } from '../lib/agents.ts';
import { Cluster, type StreamRecord } from '../lib/cluster.ts';
import { dropPageCache, readCpuSeconds, readMemory, readUdpCounters } from '../lib/procfs.ts';
import { mean, median, percentile, sleep } from '../lib/stats.ts';
import { withFreshPorts } from '../lib/ports.ts';

export interface ClusterOptions {
  label: string;
  kinds: AgentKind[];
  /** Length of the CPU window (s). */
  cpuWindowS: number;
  /** User events sent (one at a time). */
  events: number;
  /** Kinds of the nodes to kill, in order (each kill waits for every survivor's member-failed). */
  kills: AgentKind[];
  log: (line: string) => void;
}

export interface ClusterResult {
  label: string;
  nodes: { serf: number; ours: number };
  converged: boolean;
  /** CPU seconds per minute, mean per agent kind, and every node's value. */
  cpu: { serf: number; ours: number; perNode: Record<string, number>; windowS: number };
  /** Per event: ms until the last node's stream delivered it (null = not all nodes within the deadline). */
  /** Median VmRSS / RssAnon (kB) per kind at the end of the CPU window (real peers, no swarm). */
  memory: { serfVmRssKb: number; oursVmRssKb: number; serfRssAnonKb: number; oursRssAnonKb: number };
  events: {
    reachAllMs: (number | null)[]; medianMs: number;
    /** Over every event; one that never reached everyone counts as infinitely slow. */
    p99Ms: number;
    origins: AgentKind[]; originNodes: string[]; lastNodes: string[]; incomplete: number;
    /** Events slower than SLOW_EVENT_MS or incomplete: missed by gossip somewhere. */
    slow: number;
    missing: string[][]; deliveryP99Ms: number;
    /** Kernel UDP counters over the events phase (system-wide; nothing else runs then): drops for a full receive buffer. */
    udp: { datagrams: number; rcvbufErrors: number; sndbufErrors: number } | null;
  };
  failures: { kind: AgentKind; node: string; allMarkedFailedMs: number | null; reported: number; expected: number }[];
}

/** Deadline for one event to reach every node. */
export const EVENT_DEADLINE_MS = 15_000;
/** Wait after convergence before the CPU window (see there). */
const STEADY_AFTER_MS = 30_000;
/** Pause between events, so each is measured on a quiet cluster. */
const EVENT_GAP_MS = 500;
/**
 * An event that needs longer than this to reach every node was missed by the
 * gossip at some node (it spreads in ~0.5 s at 50 nodes) and repaired later by a
 * push/pull, which carries recent events. SWIM's random fan-out misses a node
 * now and then in any cluster; the count is reported for both kinds.
 */
export const SLOW_EVENT_MS = 2_000;
/** Deadline for every survivor to report a killed node failed (LAN suspicion at 50 nodes is 6.8-41 s, plus coalescing). */
const FAILURE_DEADLINE_MS = 90_000;

export async function runCluster(reg: ProcessRegistry, o: ClusterOptions): Promise<ClusterResult> {
  const t0 = Date.now();
  for (const k of new Set(o.kinds)) dropPageCache(executableOf(k));
  // Ports chosen free at run time (and again if one is taken in the meantime):
  // fixed bases collided with other tests on a shared machine (a serf node's
  // RPC listener refused with "address already in use" left a section unrun).
  const cluster = await withFreshPorts([o.kinds.length, o.kinds.length],
    ([portBase, rpcPortBase]) => Cluster.start(reg, { kinds: o.kinds, namePrefix: o.label, portBase: portBase!, rpcPortBase: rpcPortBase! }), () => reg.killAll());
  try {
    const n = o.kinds.length;
    const converged = await cluster.waitConverged(n, 60_000);
    o.log(`${o.label}: ${n} nodes started, converged=${converged} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    await cluster.subscribe('user,member-failed');
    // Steady state: join-time gossip settled, and start-up work done in every
    // process (Go has none to speak of; Node compiles lazily and tiers hot code
    // up during its first minute, ~0.1 s of CPU an agent pays once).
    await sleep(STEADY_AFTER_MS);

    // CPU: steady cluster, nothing else happening.
    const before = new Map(cluster.nodes.map((x) => [x.name, readCpuSeconds(x.agent.pid) ?? NaN]));
    await sleep(o.cpuWindowS * 1000);
    const perNode: Record<string, number> = {};
    for (const x of cluster.nodes) {
      const after = readCpuSeconds(x.agent.pid);
      if (after !== null) perNode[x.name] = ((after - before.get(x.name)!) / o.cpuWindowS) * 60;
    }
    const cpuOf = (k: AgentKind): number => mean(cluster.nodes.filter((x) => x.kind === k && perNode[x.name] !== undefined).map((x) => perNode[x.name]!));
    const cpu = { serf: cpuOf('serf'), ours: cpuOf('ours'), perNode, windowS: o.cpuWindowS };
    const mem = cluster.nodes.map((x) => ({ kind: x.kind, m: readMemory(x.agent.pid) })).filter((x) => x.m !== null);
    const memOf = (k: AgentKind, f: 'vmRssKb' | 'rssAnonKb'): number => median(mem.filter((x) => x.kind === k).map((x) => x.m![f]));
    const memory = { serfVmRssKb: memOf('serf', 'vmRssKb'), oursVmRssKb: memOf('ours', 'vmRssKb'), serfRssAnonKb: memOf('serf', 'rssAnonKb'), oursRssAnonKb: memOf('ours', 'rssAnonKb') };
    o.log(`${o.label}: CPU s/min per agent serf=${cpu.serf.toFixed(3)} ours=${cpu.ours.toFixed(3)}`);

    // Events: origin alternates over the kinds present, one event at a time.
    const kindsPresent = [...new Set(o.kinds)];
    const reachAllMs: (number | null)[] = [];
    const origins: AgentKind[] = [];
    const originNodes: string[] = [];
    /** The node that delivered each event last (where a slow event was slow). */
    const lastNodes: string[] = [];
    const missingPerEvent: string[][] = [];
    const deliveries: number[] = [];
    const udpBefore = readUdpCounters();
    for (let i = 0; i < o.events; i++) {
      const kind = kindsPresent[i % kindsPresent.length]!;
      const candidates = cluster.live().filter((x) => x.kind === kind);
      const origin = candidates[i % candidates.length]!;
      const name = `bench-${o.label}-${i}`;
      const arrived = new Map<string, number>();
      const expected = cluster.live().length;
      let resolveAll: () => void = () => {};
      const all = new Promise<void>((r) => { resolveAll = r; });
      const off = cluster.onRecord((r: StreamRecord) => {
        if (r.rec.Event === 'user' && r.rec.Name === name && !arrived.has(r.node)) {
          arrived.set(r.node, r.at);
          if (arrived.size >= expected) resolveAll();
        }
      });
      const sent = performance.now();
      await origin.rpc.userEvent(name, new TextEncoder().encode(`payload-${i}`), false);
      await Promise.race([all, sleep(EVENT_DEADLINE_MS)]);
      off();
      origins.push(kind);
      originNodes.push(origin.name);
      lastNodes.push([...arrived.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '');
      reachAllMs.push(arrived.size >= expected ? Math.max(...arrived.values()) - sent : null);
      for (const at of arrived.values()) deliveries.push(at - sent);
      const missing = cluster.live().filter((x) => !arrived.has(x.name)).map((x) => x.name);
      missingPerEvent.push(missing);
      if (missing.length > 0) {
        o.log(`${o.label}: event ${i} from ${origin.name} not delivered by ${missing.join(', ')} within ${EVENT_DEADLINE_MS / 1000} s`);
      }
      await sleep(EVENT_GAP_MS);
    }
    const complete = reachAllMs.filter((x): x is number => x !== null);
    const udpAfter = readUdpCounters();
    const udp = udpBefore && udpAfter ? {
      datagrams: udpAfter.inDatagrams - udpBefore.inDatagrams, rcvbufErrors: udpAfter.rcvbufErrors - udpBefore.rcvbufErrors,
      sndbufErrors: udpAfter.sndbufErrors - udpBefore.sndbufErrors,
    } : null;
    const all = reachAllMs.map((x) => x ?? Infinity);
    const events = {
      reachAllMs, medianMs: median(all), p99Ms: percentile(all, 99), origins, originNodes, lastNodes,
      incomplete: reachAllMs.length - complete.length, slow: all.filter((x) => x > SLOW_EVENT_MS).length,
      missing: missingPerEvent, deliveryP99Ms: percentile(deliveries, 99), udp,
    };
    o.log(`${o.label}: events reach-all median=${events.medianMs.toFixed(0)} ms p99=${events.p99Ms.toFixed(0)} ms slow(>${SLOW_EVENT_MS} ms)=${events.slow} incomplete=${events.incomplete} udp=${JSON.stringify(udp)}`);

    // Failure detection: SIGKILL one node at a time (never the seed).
    const failures: ClusterResult['failures'] = [];
    for (const kind of o.kills) {
      const victim = cluster.live().slice(1).reverse().find((x) => x.kind === kind);
      if (!victim) continue;
      const survivors = cluster.live().filter((x) => x !== victim);
      const marked = new Map<string, number>();
      let resolveAll: () => void = () => {};
      const all = new Promise<void>((r) => { resolveAll = r; });
      const off = cluster.onRecord((r) => {
        if (r.rec.Event !== 'member-failed' || marked.has(r.node)) return;
        const members = Array.isArray(r.rec.Members) ? (r.rec.Members as { Name?: unknown }[]) : [];
        if (members.some((m) => m && m.Name === victim.name)) {
          marked.set(r.node, r.at);
          if (marked.size >= survivors.length) resolveAll();
        }
      });
      const killedAt = performance.now();
      victim.agent.kill('SIGKILL');
      victim.rpc.close();
      await Promise.race([all, sleep(FAILURE_DEADLINE_MS)]);
      off();
      const ms = marked.size >= survivors.length ? Math.max(...marked.values()) - killedAt : null;
      failures.push({ kind, node: victim.name, allMarkedFailedMs: ms, reported: marked.size, expected: survivors.length });
      o.log(`${o.label}: killed ${victim.name}: all ${survivors.length} survivors marked it failed after ${ms === null ? 'n/a' : (ms / 1000).toFixed(1) + ' s'} (${marked.size} reported)`);
    }

    return {
      label: o.label,
      nodes: { serf: o.kinds.filter((k) => k === 'serf').length, ours: o.kinds.filter((k) => k === 'ours').length },
      converged, cpu, memory, events, failures,
    };
  } finally {
    await cluster.stop();
  }
}
