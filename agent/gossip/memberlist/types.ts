// Public surface of the memberlist layer (SWIM + Lifeguard), the contract the
// serf layer is written against. Modeled on hashicorp/memberlist 0.2.2's
// Delegate / EventDelegate / PingDelegate / ConflictDelegate interfaces.

export type NodeStateName = 'alive' | 'suspect' | 'dead' | 'left';

/** One member as memberlist knows it. `addr` is an IP string (v4 or v6). */
export interface MemberNode {
  name: string;
  addr: string;
  port: number;
  meta: Uint8Array;
  state: NodeStateName;
  incarnation: number;
  /** Vsn: memberlist protocol min/max/cur, delegate (serf) protocol min/max/cur. */
  pMin: number; pMax: number; pCur: number;
  dMin: number; dMax: number; dCur: number;
  /** ms timestamp of the last state change. */
  stateChange: number;
}

/** What the layer above (serf) plugs in. All methods are synchronous and must not throw. */
export interface MemberlistDelegate {
  /** Node meta for alive messages; at most `limit` (512) bytes. */
  nodeMeta(limit: number): Uint8Array;
  /** A user message (type 8) arrived: the bytes after the type byte. */
  notifyMsg(msg: Uint8Array): void;
  /** Piggyback data: messages each <= limit bytes, total with `overhead` per message <= limit. */
  getBroadcasts(overhead: number, limit: number): Uint8Array[];
  /**
   * Optional: how many messages the delegate still has queued. When given, the
   * gossip loop sleeps while neither memberlist nor the delegate has anything
   * to send, and the delegate calls `Memberlist.wakeGossip()` when it queues.
   */
  pendingBroadcasts?(): number;
  /** User state for push/pull. */
  localState(join: boolean): Uint8Array;
  mergeRemoteState(buf: Uint8Array, join: boolean): void;
  /**
   * Optional: merge the user state while it streams in, reading it through `r`
   * (never more than its length). Preferred over mergeRemoteState when given,
   * so a large remote state is never held whole.
   */
  mergeRemoteStateStream?(r: RemoteStateReader, join: boolean): Promise<void>;
}

/** A bounded msgpack reader over a remote user state as its bytes arrive. */
export interface RemoteStateReader {
  /** Bytes of the user state not read yet. */
  readonly remaining: number;
  byte(): Promise<number>;
  /** A map or array header (its elements follow); null for nil. */
  containerHeader(): Promise<{ kind: 'map' | 'array'; count: number } | null>;
  /** One whole msgpack value. */
  value(): Promise<import('../wire/msgpack.ts').Decoded>;
  /** The next `count` values, each handed to `fn` as soon as it is complete (no promise per value). */
  forEach(count: number, fn: (value: import('../wire/msgpack.ts').Decoded, index: number) => void | Promise<void>): Promise<void>;
}

export interface EventDelegate {
  notifyJoin(node: MemberNode): void;
  notifyLeave(node: MemberNode): void;
  notifyUpdate(node: MemberNode): void;
  /**
   * Memory-bounded mode: the node was dropped from the full member table (it is
   * not known to have failed; its gossip is still relayed). Optional.
   */
  notifyEvict?(node: MemberNode): void;
}

export interface PingDelegate {
  /** Payload of our acks (serf: [1] + msgpack(coordinate)). */
  ackPayload(): Uint8Array;
  notifyPingComplete(node: MemberNode, rttMs: number, payload: Uint8Array): void;
}

export interface ConflictDelegate {
  notifyConflict(existing: MemberNode, other: MemberNode): void;
}

/** Optional: lets the upper layer veto alive messages / push-pull merges (serf uses both for protocol checks). */
export interface MergeDelegate {
  notifyMerge(nodes: MemberNode[]): string | null; // non-null = reason to refuse the merge
}

/** Memory-bounded mode: how valuable a member is to keep when the table is full (higher = keep). */
export interface RetentionDelegate {
  retainPriority(node: MemberNode): number;
}

export interface UdpTarget { addr: string; port: number }

export interface Memberlist {
  /** Push/pull with each address ("ip:port", "[v6]:port", "host" with default port); resolves with the number contacted. Rejects if none. */
  join(addrs: string[]): Promise<number>;
  /** Broadcasts our dead (From=self) and waits up to timeoutMs for it to go out. */
  leave(timeoutMs: number): Promise<void>;
  shutdown(): Promise<void>;
  members(): MemberNode[];
  /** Alive (and suspect) members count, including self. */
  numMembers(): number;
  localNode(): MemberNode;
  /** Re-reads nodeMeta, bumps incarnation and broadcasts alive. */
  updateNode(timeoutMs: number): Promise<void>;
  /** Raw UDP user message to an address: sends [8][msg] (serf query responses/acks/relays). */
  sendToAddress(to: UdpTarget, msg: Uint8Array): void;
  /** Best-effort user message to a known node over UDP. */
  sendBestEffort(node: MemberNode, msg: Uint8Array): void;
  /** Reliable user message over TCP. */
  sendReliable(node: MemberNode, msg: Uint8Array): Promise<void>;
  /** Lifeguard awareness score (0 = healthy). */
  healthScore(): number;
  /** Cluster-size estimate used to scale retransmits. */
  estimateNumNodes(): number;
  /** Bounded-memory counters (drops, evictions, decode errors). */
  stats(): Record<string, number>;
  /** The delegate queued a broadcast: resume an idle gossip loop (see MemberlistDelegate.pendingBroadcasts). */
  wakeGossip(): void;
}
