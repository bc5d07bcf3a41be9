// Public surface of the serf layer: what the RPC server, the CLI, discovery and
// the daemon use. Modeled on hashicorp/serf 0.9.4 serf.Serf.

export type MemberStatus = 'none' | 'alive' | 'leaving' | 'left' | 'failed';

export interface Member {
  name: string;
  /** IP string, v4 or v6. */
  addr: string;
  port: number;
  tags: Record<string, string>;
  status: MemberStatus;
  protocolMin: number; protocolMax: number; protocolCur: number;
  delegateMin: number; delegateMax: number; delegateCur: number;
}

export type MemberEventType = 'member-join' | 'member-leave' | 'member-failed' | 'member-update' | 'member-reap';

export interface MemberEvent { type: MemberEventType; members: Member[] }
export interface UserEvent { type: 'user'; ltime: number; name: string; payload: Uint8Array; coalesce: boolean }
export interface QueryEvent { type: 'query'; query: IncomingQuery }
export type SerfEvent = MemberEvent | UserEvent | QueryEvent;

export interface IncomingQuery {
  ltime: number;
  id: number;
  name: string;
  payload: Uint8Array;
  /** Name of the node that asked. */
  sourceNode: string;
  /** ms since epoch after which responses are pointless. */
  deadline: number;
  /** Sends our response (at most one per query; size limited to 1024 bytes incl. overhead). */
  respond(payload: Uint8Array): Promise<void>;
}

export interface QueryParams {
  filterNodes?: string[];
  /** tag name -> unanchored regex (RE2 syntax as serf uses). */
  filterTags?: Record<string, string>;
  requestAck?: boolean;
  relayFactor?: number;
  /** 0/undefined = serf's default (GossipInterval * QueryTimeoutMult * ceil(log10(N+1))). */
  timeoutMs?: number;
}

export interface QueryHandlers {
  onAck?(from: string): void;
  onResponse?(from: string, payload: Uint8Array): void;
  /** Called once, at the deadline. */
  onDone?(): void;
}

export interface QueryHandle { ltime: number; id: number; deadline: number; close(): void }

export type { Coordinate } from '../coordinate/coordinate.ts';
import type { Coordinate } from '../coordinate/coordinate.ts';

export interface KeyResponse {
  messages: Record<string, string>;
  numNodes: number;
  numResp: number;
  numErr: number;
  /** list-keys only: base64 key -> number of nodes that have it. */
  keys?: Record<string, number>;
}

export interface KeyManager {
  installKey(keyB64: string): Promise<KeyResponse>;
  useKey(keyB64: string): Promise<KeyResponse>;
  removeKey(keyB64: string): Promise<KeyResponse>;
  listKeys(): Promise<KeyResponse>;
}

export type SerfState = 'alive' | 'leaving' | 'left' | 'shutdown';

export interface Serf {
  localMember(): Member;
  members(): Member[];
  /** Joins through the given addresses; ignoreOld = !replay (ignore old user events). */
  join(addrs: string[], ignoreOld: boolean): Promise<number>;
  /** Graceful leave: intent broadcast, memberlist leave, state left. */
  leave(): Promise<void>;
  shutdown(): Promise<void>;
  removeFailedNode(node: string, prune: boolean): Promise<void>;
  userEvent(name: string, payload: Uint8Array, coalesce: boolean): Promise<void>;
  /** Sends a query (filters, ack request, relay factor, timeout in params); acks and responses go to handlers. */
  query(name: string, payload: Uint8Array, params: QueryParams, handlers: QueryHandlers): Promise<QueryHandle>;
  /**
   * Answers incoming queries named `name` with `handler` (instead of passing
   * them to onEvent listeners); returns the function that removes it.
   */
  handleQuery(name: string, handler: (q: IncomingQuery) => void): () => void;
  /** Replaces all tags; throws AgentError E_TOO_LARGE when the encoded meta exceeds 512 bytes. */
  setTags(tags: Record<string, string>): Promise<void>;
  /** Subscribe to events; returns the unsubscribe function. */
  onEvent(listener: (e: SerfEvent) => void): () => void;
  state(): SerfState;
  /** serf `stats` "serf" section as strings (members, failed, left, health_score, member_time, ...). */
  stats(): Record<string, string>;
  getCoordinate(node?: string): Coordinate | null;
  keyManager(): KeyManager;
  encryptionEnabled(): boolean;
}
