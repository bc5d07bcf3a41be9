// Shared helpers for serf tests: in-process clusters over the memory transport,
// polling with deadlines.
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { createSerf, type CreateSerfConfig, type SerfInstance } from '../../../agent/gossip/serf/create.ts';
import { fastProfile } from '../../support/fakes.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import type { SerfEvent } from '../../../agent/gossip/serf/types.ts';

/**
 * The serf clusters' pace: test/support/fakes.ts fastProfile, probing and
 * gossip a little slower (a serf node does more per tick) and suspicion x2.
 */
export const SERF_PACE = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 30, pushPullIntervalMs: 2000, suspicionMult: 2, gossipToTheDeadMs: 15_000 };

export interface TestNode extends SerfInstance {
  name: string;
  events: SerfEvent[];
  counters: Counters;
}

export class MemCluster {
  readonly net = new MemoryNetwork();
  readonly nodes: TestNode[] = [];
  private n = 0;
  // Serf and memberlist timers are unref-ed (a daemon lives on its sockets); the
  // memory transport has none, so hold the event loop open while the cluster lives.
  private readonly keepAlive = setInterval(() => {}, 1000);

  async add(name: string, over: Partial<CreateSerfConfig> = {}): Promise<TestNode> {
    const ip = `10.0.0.${++this.n}`;
    const counters = new Counters();
    const inst = await createSerf({
      nodeName: name, profile: fastProfile(SERF_PACE), protocolVersion: 4, transport: this.net.transport(ip, 7946),
      rejoin: false,
      ...over,
      serf: { memberCoalesce: null, userCoalesce: null, reapIntervalMs: 500, broadcastTimeoutMs: 2000, leavePropagateDelayMs: 200, ...(over.serf ?? {}) },
    }, { logger: process.env.TEST_VERBOSE ? Logger.root({ level: 'DEBUG' }).child(name) : Logger.silent(), counters });
    const node: TestNode = Object.assign(inst, { name, events: [] as SerfEvent[], counters });
    inst.serf.onEvent((e) => node.events.push(e));
    this.nodes.push(node);
    await inst.start();
    return node;
  }

  addrOf(n: TestNode): string {
    const a = n.memberlist.localNode();
    return `${a.addr}:${a.port}`;
  }

  async stopAll(): Promise<void> {
    for (const n of this.nodes) await n.stop().catch(() => {});
    clearInterval(this.keepAlive);
  }
}

export function statusOf(n: TestNode, name: string): string {
  return n.serf.members().find((m) => m.name === name)?.status ?? 'none';
}

/**
 * One of OUR nodes on the real net transport (interop with real serf agents),
 * with every event it emits captured in `events`, started. No coalescing, no
 * rejoin; logs at DEBUG with TEST_VERBOSE.
 */
export async function startCapturing(cfg: CreateSerfConfig): Promise<SerfInstance & { events: SerfEvent[] }> {
  const logger = process.env.TEST_VERBOSE ? Logger.root({ level: 'DEBUG' }).child(cfg.nodeName) : Logger.silent();
  const inst = await createSerf({ rejoin: false, ...cfg, serf: { memberCoalesce: null, userCoalesce: null, ...cfg.serf } }, { logger, counters: new Counters() });
  const o = Object.assign(inst, { events: [] as SerfEvent[] });
  inst.serf.onEvent((e) => o.events.push(e));
  await inst.start();
  return o;
}
