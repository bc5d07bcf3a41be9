// Memory of ONE agent (serf or ours) as the federation grows: the agent starts
// alone, a swarm process grows around it through the given sizes (total nodes,
// the agent included); after each growth the swarm also pushes/pulls its full
// member list once, then the agent's VmRSS/RssAnon are sampled from /proc.
import { type AgentKind, type ProcessRegistry, executableOf, waitRpc, aliveCount } from '../lib/agents.ts';
import { dropPageCache, readMemory } from '../lib/procfs.ts';
import { SwarmProcess } from '../lib/swarm-process.ts';
import { median, pollUntil, sleep } from '../lib/stats.ts';

export interface MemoryOptions {
  kind: AgentKind;
  sizes: number[];
  port: number;
  rpcPort: number;
  swarmBase: number;
  swarmPort: number;
  /** Time after a growth step before sampling (s): alive gossip, probes, one push/pull. */
  settleS: number;
  log: (line: string) => void;
}

export interface MemoryStep {
  size: number;
  /** Alive members the agent reports at sampling time. */
  agentAlive: number;
  vmRssKb: number;
  rssAnonKb: number;
  /** File-backed resident pages (the executable, libraries). */
  rssFileKb: number;
  /** Highest VmRSS seen during the step (growth, push/pulls). */
  peakVmRssKb: number;
  seconds: number;
}

export interface MemoryResult {
  kind: AgentKind;
  steps: MemoryStep[];
  baselineVmRssKb: number;
  /** The swarm's counters at the end (members, UDP-only members, probes answered, push/pulls...). */
  swarm?: Record<string, number>;
  error?: string;
}

/** Sampling period of /proc while a step runs. */
const SAMPLE_MS = 250;

export async function runMemory(reg: ProcessRegistry, o: MemoryOptions): Promise<MemoryResult> {
  const name = `mem-${o.kind}`;
  dropPageCache(executableOf(o.kind));
  const agent = reg.startAgent({ kind: o.kind, name, port: o.port, rpcPort: o.rpcPort });
  const result: MemoryResult = { kind: o.kind, steps: [], baselineVmRssKb: NaN };
  const rpc = await waitRpc(agent, 30_000);
  if (!rpc) {
    agent.kill();
    result.error = `${o.kind} agent did not come up (${agent.exitInfo() || 'RPC not answering'}): ${agent.output().trim().split('\n').slice(-3).join(' | ')}`;
    return result;
  }
  const maxSize = Math.max(...o.sizes);
  const swarm = SwarmProcess.start(reg, {
    base: o.swarmBase, port: o.swarmPort, prefix: `${o.kind}-sw`, join: [agent.bindAddr],
    durationS: 1200, maxMembers: maxSize,
  });
  let peak = 0;
  const sampler = setInterval(() => {
    const m = readMemory(agent.pid);
    if (m && m.vmRssKb > peak) peak = m.vmRssKb;
  }, SAMPLE_MS);
  try {
    await swarm.ready();
    await sleep(1000);
    result.baselineVmRssKb = readMemory(agent.pid)?.vmRssKb ?? NaN;
    for (const size of o.sizes) {
      const started = Date.now();
      peak = 0;
      const members = await swarm.grow(size - 1, 180_000);
      // Wait (bounded) until the agent has taken in the members it is going to keep.
      let lastCount = -1;
      let stableRounds = 0;
      await pollUntil(60_000, 1000, async () => {
        const c = await aliveCount(rpc);
        stableRounds = c === lastCount ? stableRounds + 1 : 0;
        lastCount = c;
        return c >= size || stableRounds >= 3 ? true : undefined;
      });
      await swarm.pushPull(60_000);
      await sleep(o.settleS * 1000);
      const samples: { vmRssKb: number; rssAnonKb: number; rssFileKb: number }[] = [];
      for (let i = 0; i < 5; i++) {
        const m = readMemory(agent.pid);
        if (m) samples.push(m);
        await sleep(400);
      }
      if (agent.exited()) throw new Error(`${o.kind} agent ${agent.exitInfo()} at ${size} members: ${agent.output().trim().split('\n').slice(-3).join(' | ')}`);
      const step: MemoryStep = {
        size,
        agentAlive: await aliveCount(rpc).catch(() => -1),
        vmRssKb: median(samples.map((s) => s.vmRssKb)),
        rssAnonKb: median(samples.map((s) => s.rssAnonKb)),
        rssFileKb: median(samples.map((s) => s.rssFileKb)),
        peakVmRssKb: peak,
        seconds: (Date.now() - started) / 1000,
      };
      result.steps.push(step);
      o.log(`memory ${o.kind} @${size} (swarm ${members}): agent sees ${step.agentAlive} alive, VmRSS ${(step.vmRssKb / 1024).toFixed(1)} MB, RssAnon ${(step.rssAnonKb / 1024).toFixed(1)} MB, RssFile ${(step.rssFileKb / 1024).toFixed(1)} MB, peak ${(peak / 1024).toFixed(1)} MB (${step.seconds.toFixed(0)} s)`);
    }
  } catch (e) {
    result.error = (e as Error).message;
    o.log(`memory ${o.kind}: ${result.error}`);
  } finally {
    clearInterval(sampler);
    result.swarm = await swarm.stats().catch(() => undefined);
    rpc.close();
    await swarm.stop();
    agent.kill('SIGKILL');
    await agent.waitExit(5000);
  }
  return result;
}
