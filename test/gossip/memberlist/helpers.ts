// Shared helpers for the memberlist tests (not a test file itself).
import { defaultLimits, type Limits } from '../../../agent/config/limits.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { fastProfile } from '../../support/fakes.ts';
import { MemberlistNode } from '../../../agent/gossip/memberlist/memberlist.ts';
import type { MemberlistConfig } from '../../../agent/gossip/memberlist/config.ts';
import type { EventDelegate, MemberNode } from '../../../agent/gossip/memberlist/types.ts';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';

export class EventLog implements EventDelegate {
  readonly events: { kind: string; name: string; state: string; inc: number }[] = [];
  notifyJoin(n: MemberNode): void { this.events.push({ kind: 'join', name: n.name, state: n.state, inc: n.incarnation }); }
  notifyLeave(n: MemberNode): void { this.events.push({ kind: 'leave', name: n.name, state: n.state, inc: n.incarnation }); }
  notifyUpdate(n: MemberNode): void { this.events.push({ kind: 'update', name: n.name, state: n.state, inc: n.incarnation }); }
  notifyEvict(n: MemberNode): void { this.events.push({ kind: 'evict', name: n.name, state: n.state, inc: n.incarnation }); }
}

export interface TestNode { ml: MemberlistNode; counters: Counters; events: EventLog; name: string; port: number; addr: string }

export function memoryNode(
  net: MemoryNetwork, name: string, addr: string,
  over: Partial<MemberlistConfig> & { limits?: Limits } = {},
): TestNode {
  const counters = new Counters();
  const events = new EventLog();
  const transport = net.transport(addr, 7946);
  const ml = MemberlistNode.create({
    name, transport, profile: fastProfile(), compression: true,
    delegateVersions: { min: 2, max: 5, cur: 4 }, limits: defaultLimits('edge'), counters,
    logger: process.env.TEST_LOG ? Logger.root({ level: 'DEBUG' }).child(name) : Logger.silent(), events,
    ...over,
  });
  return { ml, counters, events, name, port: 7946, addr };
}

export function stateOf(n: TestNode, name: string): string | undefined {
  return n.ml.members().find((m) => m.name === name)?.state;
}
