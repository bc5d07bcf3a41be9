// The test doubles, one of each: a serf member, a gossip profile fast enough
// for in-process clusters, a scripted Serf facade (FakeSerf) and a serf that
// only holds tags (TagHolder), a clock the test moves forward (SteppedClock).
import type {
  Coordinate, IncomingQuery, KeyManager, KeyResponse, Member, QueryHandle, QueryHandlers, QueryParams, Serf, SerfEvent, SerfState,
} from '../../agent/gossip/serf/types.ts';
import { AgentError } from '../../agent/errors.ts';
import { encodedTagsSize } from '../../agent/discovery/tag-size.ts';
import { META_MAX_SIZE } from '../../agent/gossip/wire/memberlist-messages.ts';
import { profile, type GossipProfile } from '../../agent/gossip/profiles.ts';

/** A serf member as the facade reports it (defaults: alive, 127.0.0.1:7946, serf 0.9.4's protocol ranges). */
export function member(name: string, o: { port?: number; tags?: Record<string, string>; status?: Member['status']; addr?: string } = {}): Member {
  return {
    name, addr: o.addr ?? '127.0.0.1', port: o.port ?? 7946, tags: o.tags ?? {}, status: o.status ?? 'alive',
    protocolMin: 1, protocolMax: 5, protocolCur: 2,
    delegateMin: 2, delegateMax: 5, delegateCur: 5,
  };
}

/** The `local` profile scaled down 10x so failure detection takes ~1 s over the memory transport. */
export function fastProfile(over: Partial<GossipProfile> = {}): GossipProfile {
  return profile('local', {
    probeIntervalMs: 100, probeTimeoutMs: 40, gossipIntervalMs: 20, pushPullIntervalMs: 1500,
    gossipToTheDeadMs: 3000, tcpTimeoutMs: 500, ...over,
  });
}

/**
 * A scripted in-memory Serf facade for RPC tests: it records every call and
 * lets the test emit events and query results (the RPC server is the unit
 * under test; this stands in for the gossip layer).
 */
export interface QueryCall { name: string; payload: Uint8Array; params: QueryParams; handlers: QueryHandlers; closed: boolean }

export class FakeSerf implements Serf {
  memberList: Member[] = [];
  self: Member;
  calls: { op: string; args: unknown[] }[] = [];
  listeners = new Set<(e: SerfEvent) => void>();
  queries: QueryCall[] = [];
  /** Called when a query starts (default: nothing; the test drives the handlers). */
  onQuery: (q: QueryCall) => void = () => {};
  coords = new Map<string, Coordinate>();
  keyResponses: Partial<Record<'install' | 'use' | 'remove' | 'list', KeyResponse>> = {};
  joinResult: number | Error = 1;
  statsMap: Record<string, string> = { members: '1' };
  currentState: SerfState = 'alive';
  encrypted = false;

  constructor(self: Member) {
    this.self = self;
    this.memberList = [self];
  }

  localMember(): Member { return this.self; }
  members(): Member[] { return this.memberList; }
  async join(addrs: string[], ignoreOld: boolean): Promise<number> {
    this.calls.push({ op: 'join', args: [addrs, ignoreOld] });
    if (this.joinResult instanceof Error) throw this.joinResult;
    return this.joinResult;
  }
  async leave(): Promise<void> { this.calls.push({ op: 'leave', args: [] }); this.currentState = 'left'; }
  async shutdown(): Promise<void> { this.calls.push({ op: 'shutdown', args: [] }); this.currentState = 'shutdown'; }
  async removeFailedNode(node: string, prune: boolean): Promise<void> { this.calls.push({ op: 'force-leave', args: [node, prune] }); }
  async userEvent(name: string, payload: Uint8Array, coalesce: boolean): Promise<void> {
    this.calls.push({ op: 'event', args: [name, payload, coalesce] });
    if (payload.length > 512) throw new AgentError('E_TOO_LARGE', 'user event exceeds configured limit of 512 bytes before encoding');
  }
  async query(name: string, payload: Uint8Array, params: QueryParams, handlers: QueryHandlers): Promise<QueryHandle> {
    const q: QueryCall = { name, payload, params, handlers, closed: false };
    this.queries.push(q);
    this.calls.push({ op: 'query', args: [name, payload, params] });
    this.onQuery(q);
    return { ltime: this.queries.length, id: this.queries.length, deadline: Date.now() + 1000, close: () => { q.closed = true; } };
  }
  queryHandlers = new Map<string, (q: IncomingQuery) => void>();
  handleQuery(name: string, handler: (q: IncomingQuery) => void): () => void {
    this.queryHandlers.set(name, handler);
    return () => { this.queryHandlers.delete(name); };
  }
  async setTags(tags: Record<string, string>): Promise<void> {
    this.calls.push({ op: 'tags', args: [tags] });
    this.self = { ...this.self, tags: { ...tags } };
    this.memberList = this.memberList.map((m) => (m.name === this.self.name ? this.self : m));
  }
  onEvent(listener: (e: SerfEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(e: SerfEvent): void { for (const l of [...this.listeners]) l(e); }
  state(): SerfState { return this.currentState; }
  stats(): Record<string, string> { return { ...this.statsMap }; }
  getCoordinate(node?: string): Coordinate | null { return this.coords.get(node ?? this.self.name) ?? null; }
  keyManager(): KeyManager {
    const r = (k: 'install' | 'use' | 'remove' | 'list', key?: string): Promise<KeyResponse> => {
      this.calls.push({ op: `key-${k}`, args: key === undefined ? [] : [key] });
      return Promise.resolve(this.keyResponses[k] ?? { messages: {}, numNodes: 1, numResp: 1, numErr: 0 });
    };
    return {
      installKey: (k) => r('install', k),
      useKey: (k) => r('use', k),
      removeKey: (k) => r('remove', k),
      listKeys: () => r('list'),
    };
  }
  encryptionEnabled(): boolean { return this.encrypted; }
}

/**
 * A serf that only holds tags, enforcing the 512-byte meta limit the way
 * serf's SetTags does: what the services announcer writes into.
 */
export class TagHolder {
  tags: Record<string, string> = {};
  setCalls = 0;
  /** Like memberlist UpdateNode under load: tags applied, then the wait for the broadcast times out. */
  timeoutAfterSet = false;
  constructor(readonly name = 'self') {}
  localMember(): Member { return member(this.name, { tags: { ...this.tags } }); }
  async setTags(tags: Record<string, string>): Promise<void> {
    const size = encodedTagsSize(tags);
    if (size > META_MAX_SIZE) throw new AgentError('E_TOO_LARGE', `encoded length of tags exceeds limit of ${META_MAX_SIZE} bytes`);
    this.setCalls++;
    this.tags = { ...tags };
    if (this.timeoutAfterSet) throw new AgentError('E_TIMEOUT', 'timeout waiting for update broadcast');
  }
}

/**
 * The system clock moved forward by the test: now() is Date.now() plus what
 * was advanced, and sleep(ms) advances at once and records ms, so code that
 * waits on its clock (the login slow-down) is checked without the wait.
 */
export class SteppedClock {
  private ahead = 0;
  readonly slept: number[] = [];
  now = (): number => Date.now() + this.ahead;
  sleep = async (ms: number): Promise<void> => { this.slept.push(ms); this.ahead += ms; };
  advance(ms: number): void { this.ahead += ms; }
}
