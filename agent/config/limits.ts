// Every resource limit of the agent, declared once.
//
// The agent is made for small devices: "edge" mode is the default and keeps
// every table, queue and buffer bounded so memory stays flat however large the
// federation grows. "full" mode (a richer peer) lifts the member cap.
// Each limit can be overridden from the config file (`limits: {name: value}`),
// by a remote admin (`config set limit.NAME VALUE`: <data-dir>/remote/limits.json,
// applied at the next start) and by flag (`-limit name=value`), in that order of precedence; every drop or eviction caused by a limit
// increments a counter named `drop.<reason>` / `evict.<reason>` shown in stats.
//
// Protocol constants that peers rely on (512-byte tag limit, UDP buffer size,
// ...) are NOT here: they live next to the wire code because changing them
// breaks compatibility. These are local resource budgets.

export interface Limits {
  /** Members kept in the member table (edge). Self, seeds, full nodes and service announcers are preferred. */
  maxMembers: number;
  /** Entries in each transmit-limited broadcast queue (memberlist and each serf queue). */
  broadcastQueueDepth: number;
  /** Handoff queue for inbound gossip (alive/suspect/dead/user) awaiting processing. */
  handoffQueueDepth: number;
  /** Serf event de-duplication buffer (LTime slots), like serf's EventBuffer. */
  eventBuffer: number;
  /** Serf query de-duplication buffer (LTime slots). */
  queryBuffer: number;
  /** Distinct events (or query IDs) kept per LTime slot of those buffers; more at one LTime are dropped. */
  entriesPerLTime: number;
  /**
   * Bytes of a remote push/pull state we accept (larger states are refused and
   * counted). A plain or compressed state streams through and is never held,
   * so this bounds work, not memory.
   */
  maxPushPullBytes: number;
  /**
   * Bytes of a gossip stream message that must be held whole: an encrypted
   * state (AES-GCM authenticates only at its end, so ciphertext and then
   * plaintext are held; memberlist's own cap of 20 MiB applies too), a TCP user
   * message, a user state for a delegate that cannot read it streaming.
   */
  maxHeldStreamBytes: number;
  /** Node states in one push/pull that we process (beyond it, entries are skipped and counted). */
  maxPushPullNodes: number;
  /**
   * A remote push/pull is read as it arrives, never held whole: its node states
   * are checked (protocol versions, merge delegate) and merged in windows of at
   * most this many bytes... A state that fits in one window is accepted or
   * refused whole, as memberlist does; a larger one window by window.
   */
  pushPullWindowBytes: number;
  /** ...and at most this many node states per window. */
  pushPullWindowNodes: number;
  /** Bytes one msgpack object (a node state, a message header) may span in a gossip stream. */
  maxStreamObjectBytes: number;
  /** Bytes one UDP packet may expand to through LZW compress messages (all nesting levels together); beyond it the packet is dropped and counted. */
  maxDecompressedPacketBytes: number;
  /** Concurrent inbound+outbound gossip TCP streams. */
  maxTcpStreams: number;
  /** Acks awaited at once (our probes + indirect pings relayed for peers); beyond it indirect-ping requests are dropped (counted). */
  pendingAcks: number;
  /** Concurrent RPC clients. */
  maxRpcClients: number;
  /** Records queued for one stream/monitor subscriber that does not read; beyond it records are dropped. */
  rpcSubscriberBacklog: number;
  /** Bytes buffered for one RPC client socket before its stream records are dropped. */
  rpcSocketBufferBytes: number;
  /** Lines in the in-memory log ring (replayed to monitor). */
  logRing: number;
  /** Queries of ours awaiting responses at once. */
  pendingQueries: number;
  /** Responses collected per query of ours. */
  queryResponsesPerQuery: number;
  /** Inbound queries awaiting a local (RPC/handler) answer. */
  pendingInboundQueries: number;
  /** Peers kept in the rejoin snapshot. */
  snapshotPeers: number;
  /** Pause between retries of state files a full or read-only disk refused (ms). */
  stateRetryMs: number;
  /** Intents remembered for members we do not know yet (serf's recentIntents). */
  recentIntents: number;
  /** Coordinates cached for other nodes. */
  coordinateCache: number;
  /** Event handler invocations queued; beyond it events are dropped for handlers. */
  handlerQueue: number;
  /** Milliseconds an event handler script may run before it is killed (queries: also capped by the query deadline). */
  handlerTimeoutMs: number;
  /** Bytes of stdout kept from a spawned process (handlers, lxc tools). */
  execOutputBytes: number;
  /** Samples kept in the federation history (issue: instances/services over time). */
  federationHistory: number;
  /** Bytes one Cloudy `services` tag may decompress to (bzip2 bombs from the network are cut there). */
  servicesTagMaxDecoded: number;
  /** Distinct `services` tag values whose decoding is cached (search, stats). */
  servicesDecodeCache: number;
  /** Services this node keeps published or withdrawn (the 512-byte tag usually binds first). */
  publishedServices: number;
  /** Service liveness checks running at once. */
  serviceCheckConcurrency: number;
  /** LXC containers the agent manages on this host (create beyond it fails with E_LIMIT). */
  maxContainers: number;
  /** Extra ports one container's template may ask to have forwarded (cloudy-service.json `forwards`): each holds a host port and a DNAT rule. */
  maxExtraForwards: number;
  /** One guifi.net API or CNML request, connect to last byte (ms). */
  guifiRequestTimeoutMs: number;
  /** Bytes of one guifi.net reply (a node's CNML included); a larger reply is refused. */
  guifiReplyMaxBytes: number;
  /** First pause of the headless registrar after a failed attempt (ms); doubles per failure. */
  guifiRetryBaseMs: number;
  /** Longest pause of the headless registrar between attempts (ms); also the pause after a permanent refusal. */
  guifiRetryMaxMs: number;
  /** Random share taken off each registrar pause (percent), so boxes flashed together do not retry together. */
  guifiRetryJitterPct: number;
  /** How often the memory governor (edge mode) looks at the process's memory (ms). */
  memoryCheckIntervalMs: number;
  /** Committed-but-unused heap, or RSS growth, beyond which the governor runs a reclaiming GC (bytes). */
  memoryReclaimSlackBytes: number;
  /** Least time between two reclaiming GCs (ms). */
  memoryReclaimMinGapMs: number;
  /** A reclaiming GC this long after the governor starts: flushes the bytecode of start-up code (ms; 0 = off). */
  memorySettleReclaimAfterMs: number;
  /** A reclaiming GC when this long passed since the last one: flushes code that ran once since (ms; 0 = off). */
  memoryRefreshReclaimIntervalMs: number;
  /** Heap growth during a burst (push/pull merge, gossip flood) after which a GC runs on the spot (bytes; 0 = off). */
  memoryPaceStepBytes: number;
  /** `-discover`: how often serf's mDNS poll runs (serf: 60 s; a new box is also found by its own first poll). */
  mdnsPollIntervalMs: number;
  /** `-discover`: service entries collected from one poll (a noisy LAN cannot grow the join list beyond it). */
  mdnsEntriesPerPoll: number;
  /** Remote commands one operator key may send at once (token bucket burst)... */
  remoteRateBurst: number;
  /** ...and per minute after that. */
  remoteRatePerMinute: number;
  /** Records in the remote-control audit log (received and sent). */
  remoteAuditRecords: number;
  /** Bytes of one remote answer (output beyond it is cut with a note). */
  remoteAnswerMaxBytes: number;
  /** Remote commands running at once on this node (up to 4 times as many more wait; beyond, refused as rate-limited). */
  remoteConcurrent: number;
  /**
   * Anti-replay window per operator key (RFC 4303 §3.4.3): a command numbered up to this many below the
   * highest accepted one still runs once (commands sent at once may arrive out of order); older ones are refused.
   */
  remoteReplayWindow: number;
  /** Management proxy (edge -http): requests forwarded at once; more get 503. */
  proxyConcurrent: number;
  /** Management proxy: request body bytes forwarded; larger gets 413. */
  proxyMaxBodyBytes: number;
  /** Management proxy: ms a request may take end to end (headers, body, answer). */
  proxyTimeoutMs: number;
  /** HTTP API/GUI (agent/api): bytes of one request body; larger bodies get 413. */
  httpMaxBodyBytes: number;
  /** Requests handled at once; more get 429 (the server never queues unbounded work). */
  httpMaxConcurrent: number;
  /** Open HTTP connections (node:http maxConnections; beyond it new sockets are closed). */
  httpMaxConnections: number;
  /** Milliseconds to receive a whole request (headers and body); slow clients are cut. */
  httpRequestTimeoutMs: number;
  /** Milliseconds an idle keep-alive connection stays open. */
  httpKeepAliveMs: number;
  /** Browser sessions kept at once (the least recently used is dropped beyond it). */
  httpSessions: number;
  /** Milliseconds of inactivity after which a browser session expires. */
  httpSessionIdleMs: number;
  /** Source addresses whose failed logins are remembered (least recently failed forgotten first). */
  loginThrottleEntries: number;
  /** Failed logins from one address before each further attempt waits (and, at 4x, is refused with 429). */
  loginFreeFailures: number;
  /** Wait (ms) before answering the first attempt past loginFreeFailures; doubled for each further failure. */
  loginDelayBaseMs: number;
  /** Longest such wait (ms). */
  loginDelayMaxMs: number;
  /** Milliseconds after an address's last failed login until its failures are forgotten (and a 429 lifted). */
  loginFailureMemoryMs: number;
  /** API tokens kept (token create beyond it fails with E_LIMIT). */
  apiTokens: number;
  /**
   * At start, the longest wait (ms) of the plug-ins for the first join attempt:
   * the join goes out before them, and their start-up work would otherwise hold
   * up its answer (one thread). Bounds their delay when no peer answers.
   */
  startupJoinWaitMs: number;
  /** Federation history: time between samples (ms) of the full node's tiered history. */
  historySampleMs: number;
  /** Federation history tier 1: 1-minute points kept (1,440 = one day). */
  historyMinutePoints: number;
  /** Federation history tier 2: 1-hour points kept (2,160 = 90 days). */
  historyHourPoints: number;
  /** Federation history tier 3: 1-day points kept (3,660 = ten years). */
  historyDayPoints: number;
  /** Least time between two writes of the history file (ms): flash wear. */
  historySaveMs: number;
}

export type LimitName = keyof Limits;

export const EDGE_LIMITS: Readonly<Limits> = Object.freeze({
  maxMembers: 512,
  broadcastQueueDepth: 1024,
  handoffQueueDepth: 1024,
  eventBuffer: 512,
  queryBuffer: 512,
  entriesPerLTime: 64,
  maxPushPullBytes: 32 * 1024 * 1024,
  maxHeldStreamBytes: 4 * 1024 * 1024,
  maxPushPullNodes: 100_000,
  pushPullWindowBytes: 256 * 1024,
  pushPullWindowNodes: 1024,
  maxStreamObjectBytes: 64 * 1024,
  maxDecompressedPacketBytes: 1024 * 1024,
  maxTcpStreams: 32,
  pendingAcks: 1024,
  maxRpcClients: 32,
  rpcSubscriberBacklog: 1024,
  rpcSocketBufferBytes: 1024 * 1024,
  logRing: 512,
  pendingQueries: 64,
  queryResponsesPerQuery: 1024,
  pendingInboundQueries: 256,
  snapshotPeers: 256,
  stateRetryMs: 30_000,
  recentIntents: 1024,
  coordinateCache: 512,
  handlerQueue: 256,
  handlerTimeoutMs: 60_000,
  execOutputBytes: 1024 * 1024,
  federationHistory: 2016, // one week at one sample every 5 minutes
  servicesTagMaxDecoded: 64 * 1024,
  servicesDecodeCache: 512,
  publishedServices: 64,
  serviceCheckConcurrency: 4,
  maxContainers: 32,
  maxExtraForwards: 8,
  guifiRequestTimeoutMs: 20_000,
  guifiReplyMaxBytes: 4 * 1024 * 1024,
  guifiRetryBaseMs: 5_000,
  guifiRetryMaxMs: 15 * 60_000,
  guifiRetryJitterPct: 50,
  memoryCheckIntervalMs: 2_000,
  memoryReclaimSlackBytes: 2 * 1024 * 1024,
  memoryReclaimMinGapMs: 10_000,
  memorySettleReclaimAfterMs: 10_000,
  memoryRefreshReclaimIntervalMs: 10 * 60_000,
  memoryPaceStepBytes: 2 * 1024 * 1024,
  mdnsPollIntervalMs: 60_000,
  mdnsEntriesPerPoll: 64,
  remoteRateBurst: 10,
  remoteRatePerMinute: 30,
  remoteAuditRecords: 256,
  remoteAnswerMaxBytes: 1024 * 1024,
  remoteConcurrent: 4,
  remoteReplayWindow: 256,
  proxyConcurrent: 16,
  proxyMaxBodyBytes: 1024 * 1024,
  proxyTimeoutMs: 30_000,
  httpMaxBodyBytes: 64 * 1024,
  httpMaxConcurrent: 16,
  httpMaxConnections: 64,
  httpRequestTimeoutMs: 30_000,
  httpKeepAliveMs: 5_000,
  httpSessions: 64,
  httpSessionIdleMs: 30 * 60_000,
  loginThrottleEntries: 1024,
  loginFreeFailures: 3,
  loginDelayBaseMs: 250,
  loginDelayMaxMs: 8_000,
  loginFailureMemoryMs: 15 * 60_000,
  apiTokens: 64,
  startupJoinWaitMs: 500,
  historySampleMs: 60_000,
  historyMinutePoints: 1440,
  historyHourPoints: 2160,
  historyDayPoints: 3660,
  historySaveMs: 3_600_000,
});

export const FULL_LIMITS: Readonly<Limits> = Object.freeze({
  ...EDGE_LIMITS,
  maxMembers: 1_000_000,
  maxPushPullBytes: 64 * 1024 * 1024,
  maxHeldStreamBytes: 20 * 1024 * 1024,
  maxTcpStreams: 256,
  snapshotPeers: 4096,
  coordinateCache: 100_000,
  memoryPaceStepBytes: 0,
});

export type AgentMode = 'edge' | 'full';

export function defaultLimits(mode: AgentMode = 'edge'): Limits {
  return { ...(mode === 'full' ? FULL_LIMITS : EDGE_LIMITS) };
}

export const LIMIT_NAMES = Object.keys(EDGE_LIMITS) as LimitName[];

/** Accepts camelCase or kebab-case names (`max-members`). */
export function limitName(s: string): LimitName | undefined {
  const camel = s.trim().replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  return (LIMIT_NAMES as string[]).includes(camel) ? (camel as LimitName) : undefined;
}
