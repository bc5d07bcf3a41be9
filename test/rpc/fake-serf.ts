// A scripted in-memory implementation of the Serf facade for RPC tests: it
// records every call and lets the test emit events and query results. The
// RPC server is the unit under test; this stands in for the gossip layer.
import type {
  Coordinate, IncomingQuery, KeyManager, KeyResponse, Member, QueryHandle, QueryHandlers, QueryParams, Serf, SerfEvent, SerfState,
} from '../../agent/gossip/serf/types.ts';
import { AgentError } from '../../agent/errors.ts';

export function member(name: string, port: number, tags: Record<string, string> = {}, status: Member['status'] = 'alive', addr = '127.0.0.1'): Member {
  return {
    name, addr, port, tags, status,
    protocolMin: 1, protocolMax: 5, protocolCur: 2,
    delegateMin: 2, delegateMax: 5, delegateCur: 5,
  };
}

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
