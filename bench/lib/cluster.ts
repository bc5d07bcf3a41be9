// A cluster of agents on 127.0.0.1 (serf and/or ours), with one RPC client per
// node and event streams whose records are timestamped in the bench process.
import type { RpcClient } from '../../agent/rpc/client.ts';
import type { Body } from '../../agent/rpc/fields.ts';
import { type AgentKind, type AgentRuntime, type AgentSpec, type ProcessRegistry, type RunningAgent, waitRpc, aliveCount } from './agents.ts';
import { pollUntil, sleep } from './stats.ts';

export interface ClusterNode {
  agent: RunningAgent; rpc: RpcClient; kind: AgentKind; name: string;
  /** The runtime's name for ours started another way (AgentSpec.runtime), else the kind. */
  variant: string;
}

export interface StreamRecord { node: string; at: number; rec: Body }

export interface ClusterPlan {
  /** Kinds of the nodes in start order; node 0 is the seed every other node joins. */
  kinds: AgentKind[];
  namePrefix: string;
  portBase: number;
  rpcPortBase: number;
  /** Per node (same index as kinds): ours started another way; undefined = the default. */
  runtimes?: (AgentRuntime | undefined)[];
  /** Nodes started at once before waiting for their RPC (CPU politeness). */
  startBatch?: number;
}

export class Cluster {
  readonly nodes: ClusterNode[] = [];
  private readonly listeners = new Set<(r: StreamRecord) => void>();

  private constructor(private readonly reg: ProcessRegistry) {}

  /** Starts every node; throws with the failing node's output when one does not come up. */
  static async start(reg: ProcessRegistry, plan: ClusterPlan): Promise<Cluster> {
    const c = new Cluster(reg);
    const seedAddr = `127.0.0.1:${plan.portBase}`;
    const batch = plan.startBatch ?? 5;
    // The seed alone first: serf exits when its start-up -join is refused, so no
    // node may start before the seed listens.
    for (let i = 0; i < plan.kinds.length; i = i === 0 ? 1 : i + batch) {
      const started: RunningAgent[] = [];
      for (let j = i; j < (i === 0 ? 1 : Math.min(plan.kinds.length, i + batch)); j++) {
        const kind = plan.kinds[j]!;
        const runtime = kind === 'ours' ? plan.runtimes?.[j] : undefined;
        const spec: AgentSpec = {
          kind, name: `${plan.namePrefix}-${runtime?.name ?? kind}-${j}`, port: plan.portBase + j, rpcPort: plan.rpcPortBase + j,
          join: j === 0 ? [] : [seedAddr], ...(runtime ? { runtime } : {}),
        };
        started.push(reg.startAgent(spec));
      }
      for (const a of started) {
        const rpc = await waitRpc(a, 30_000);
        if (!rpc) {
          throw new Error(`${a.spec.kind} node ${a.spec.name} did not come up (${a.exitInfo() || 'RPC not answering'}): ${a.output().trim().split('\n').slice(-5).join(' | ')}`);
        }
        c.nodes.push({ agent: a, rpc, kind: a.spec.kind, name: a.spec.name, variant: a.spec.runtime?.name ?? a.spec.kind });
      }
    }
    return c;
  }

  /** Waits until every live node sees `n` alive members; returns false at the deadline. */
  async waitConverged(n: number, deadlineMs: number): Promise<boolean> {
    const ok = await pollUntil(deadlineMs, 1000, async () => {
      for (const node of this.live()) if ((await aliveCount(node.rpc)) !== n) return undefined;
      return true;
    });
    return ok === true;
  }

  live(): ClusterNode[] {
    return this.nodes.filter((n) => !n.agent.exited());
  }

  /** Opens `stream <filter>` on every node; records go to onRecord listeners with the arrival time. */
  async subscribe(filter: string): Promise<void> {
    for (const node of this.nodes) {
      await node.rpc.stream(filter, (rec) => {
        const r: StreamRecord = { node: node.name, at: performance.now(), rec };
        for (const l of this.listeners) l(r);
      });
    }
  }

  onRecord(fn: (r: StreamRecord) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) { n.rpc.close(); n.agent.kill('SIGKILL'); }
    await Promise.all(this.nodes.map((n) => n.agent.waitExit(5000)));
    await sleep(200);
  }

  get registry(): ProcessRegistry { return this.reg; }
}
