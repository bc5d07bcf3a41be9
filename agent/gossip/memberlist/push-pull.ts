// Push/pull state exchange (memberlist net.go sendLocalState/readRemoteState/
// mergeRemoteState, state.go mergeState/verifyProtocol; SERF-PROTOCOL.md §2.9,
// §2.10, §2.11). A remote state is merged as it streams in, window by window
// (see mergeRemoteState): neither its bytes nor its node list are ever held
// whole, so a 50,000-member state costs one window of decoded node states.

import { AgentError } from '../../errors.ts';
import { decodeNodeState, encodePushPull, encodeStreamMessage, type PushNodeState } from '../wire/stream.ts';
import { bytesToIp } from '../wire/memberlist-messages.ts';
import type { Core } from './core.ts';
import { PUSH_PULL_SCALE_THRESHOLD } from './config.ts';
import { STATE_CODE, type NodeEntry } from './node-table.ts';
import { aliveNode, deadNode, suspectNode } from './state.ts';
import type { MemberNode, RemoteStateReader } from './types.ts';
import type { IncomingPushPull } from '../wire/stream-reader.ts';
import type { ByteCursor, ContainerHeader } from '../wire/byte-cursor.ts';
import { asMap, type Decoded } from '../wire/msgpack.ts';

/** MergeDelegate is consulted with at most this many nodes at a time; also the merge batch between yields. */
const MERGE_BATCH = 256;
/** Node states version-checked between two yields to the event loop. */
const VERIFY_BATCH = 2048;

/** Our full state as a ready-to-write stream message (compressed/encrypted per config). */
export function encodeLocalState(core: Core, join: boolean): Uint8Array {
  const nodes: PushNodeState[] = [];
  for (const n of core.table.values()) {
    nodes.push({
      name: n.name, addr: n.addrBytes, port: n.port, meta: n.meta, incarnation: n.incarnation,
      state: STATE_CODE[n.state] as PushNodeState['state'], vsn: vsnOf(n),
    });
  }
  let userState: Uint8Array = new Uint8Array(0);
  const d = core.cfg.delegate;
  if (d) {
    try { userState = d.localState(join); } catch (e) {
      core.counters.inc('error.delegate');
      core.log.error(`delegate localState failed: ${(e as Error).message}`);
    }
  }
  const raw = encodePushPull({ join, userState }, nodes);
  const keyring = core.keyring();
  return encodeStreamMessage(raw, { compress: core.cfg.compression, ...(keyring ? { keyring } : {}) });
}

function vsnOf(n: NodeEntry): Uint8Array {
  return Uint8Array.of(n.pMin, n.pMax, n.pCur, n.dMin, n.dMax, n.dCur);
}

/** Protocol bounds gathered over the remote states (pass 1). */
export class RemoteVersionCheck {
  maxPMin = 0; minPMax = 255; maxDMin = 0; minDMax = 255;
  minPCur = 255; maxPCur = 0; minDCur = 255; maxDCur = 0;
  count = 0;
  add = (n: PushNodeState): void => {
    this.count++;
    const v = n.vsn;
    if (v.length < 6) return;
    if (n.state === 0) {
      this.maxPMin = Math.max(this.maxPMin, v[0]!); this.minPMax = Math.min(this.minPMax, v[1]!);
      this.maxDMin = Math.max(this.maxDMin, v[3]!); this.minDMax = Math.min(this.minDMax, v[4]!);
    }
    this.minPCur = Math.min(this.minPCur, v[2]!); this.maxPCur = Math.max(this.maxPCur, v[2]!);
    this.minDCur = Math.min(this.minDCur, v[5]!); this.maxDCur = Math.max(this.maxDCur, v[5]!);
  };

  /** memberlist verifyProtocol: every node's current versions inside everyone's alive ranges. */
  verify(core: Core): string | null {
    let maxPMin = this.maxPMin, minPMax = this.minPMax, maxDMin = this.maxDMin, minDMax = this.minDMax;
    for (const n of core.table.values()) {
      if (n.state !== 'alive') continue;
      maxPMin = Math.max(maxPMin, n.pMin); minPMax = Math.min(minPMax, n.pMax);
      maxDMin = Math.max(maxDMin, n.dMin); minDMax = Math.min(minDMax, n.dMax);
    }
    if (this.maxPCur > 0 || this.minPCur < 255) {
      if (this.minPCur < maxPMin || this.maxPCur > minPMax) return `node protocol version out of range [${maxPMin}, ${minPMax}]`;
      if (this.minDCur < maxDMin || this.maxDCur > minDMax) return `node delegate protocol version out of range [${maxDMin}, ${minDMax}]`;
    }
    for (const n of core.table.values()) {
      if (n.pCur < maxPMin || n.pCur > minPMax) return `node '${n.name}' protocol version (${n.pCur}) is incompatible: [${maxPMin}, ${minPMax}]`;
      if (n.dCur < maxDMin || n.dCur > minDMax) return `node '${n.name}' delegate protocol version (${n.dCur}) is incompatible: [${maxDMin}, ${minDMax}]`;
    }
    return null;
  }
}

function toMemberNode(n: PushNodeState): MemberNode | null {
  let addr: string;
  try { addr = bytesToIp(n.addr); } catch { return null; }
  const v = n.vsn;
  return {
    name: n.name, addr, port: n.port, meta: n.meta, state: (['alive', 'suspect', 'dead', 'left'] as const)[n.state] ?? 'dead',
    incarnation: n.incarnation, pMin: v[0] ?? 0, pMax: v[1] ?? 0, pCur: v[2] ?? 0, dMin: v[3] ?? 0, dMax: v[4] ?? 0, dCur: v[5] ?? 0,
    stateChange: 0,
  };
}

/**
 * Verifies and merges a remote push/pull as it arrives (its header already
 * read). Node states are gathered in a window (limits.pushPullWindowBytes /
 * pushPullWindowNodes); each window is checked — protocol versions over every
 * node seen so far plus our table, then the MergeDelegate — and only then
 * merged. A state that fits in one window is therefore accepted or refused
 * whole, exactly like memberlist (which decodes everything first); a larger
 * one, which we do not hold, is refused from the first window that fails, the
 * windows before it staying merged. Rejects E_INVALID when refused, E_DECODE /
 * E_TOO_LARGE / E_TIMEOUT when the stream is bad. The user state is then
 * streamed to the delegate (or read whole when it cannot stream).
 */
export async function mergeRemoteState(core: Core, pp: IncomingPushPull, opts: { drainOnRefusal?: boolean } = {}): Promise<void> {
  const { limits } = core;
  const body = pp.body;
  const check = new RemoteVersionCheck();
  const window: PushNodeState[] = [];
  let windowBytes = 0;
  let merged = 0;
  let sized = false;
  const flush = async (): Promise<void> => {
    const refusal = check.verify(core);
    if (refusal) {
      core.counters.inc('pushpull.refused.version');
      throw new AgentError('E_INVALID', refusal);
    }
    await askMergeDelegate(core, window);
    if (!sized) { core.clusterSizeHint = pp.nodeCount; sized = true; }
    for (let i = 0; i < window.length; i++) {
      if (core.stopped) break;
      if (merged >= limits.maxPushPullNodes) break;
      merged++;
      mergeOne(core, window[i]!);
      if (merged % MERGE_BATCH === 0) await yieldToEventLoop();
    }
    window.length = 0;
    windowBytes = 0;
    core.cfg.pace?.();
  };
  // memberlist reads a refused state to its end before answering: an inbound
  // peer, still writing it, must not be left blocked on a full socket.
  let refused: AgentError | null = null;
  const flushOrDrain = (): Promise<void> => flush().catch((e: unknown) => {
    if (!opts.drainOnRefusal || !(e instanceof AgentError && e.code === 'E_INVALID')) throw e;
    refused = e;
    window.length = 0;
  });
  await body.forEach(pp.nodeCount, limits.maxStreamObjectBytes, (value, raw, i) => {
    if (core.stopped || refused) return undefined;
    const n = decodeNodeState(asMap(value, 'pushNodeState'));
    check.add(n);
    window.push(n);
    windowBytes += raw.length;
    if (window.length >= limits.pushPullWindowNodes || windowBytes >= limits.pushPullWindowBytes) return flushOrDrain();
    if ((i + 1) % VERIFY_BATCH === 0) return yieldToEventLoop();
    return undefined;
  });
  if (core.stopped) return;
  if (!refused) await flushOrDrain();
  if (refused) {
    await body.skip(pp.userStateLen);
    throw refused;
  }
  if (pp.nodeCount > merged && !core.stopped) core.counters.inc('drop.pushpull.node-limit', pp.nodeCount - merged);
  core.pushPullPeakHeld = Math.max(core.pushPullPeakHeld, pp.peakHeld());
  await mergeUserState(core, pp);
}

async function askMergeDelegate(core: Core, nodes: PushNodeState[]): Promise<void> {
  const md = core.cfg.merge;
  if (!md) return;
  let reason: string | null = null;
  for (let i = 0; i < nodes.length && reason === null; i += MERGE_BATCH) {
    const batch: MemberNode[] = [];
    for (const n of nodes.slice(i, i + MERGE_BATCH)) {
      const m = toMemberNode(n);
      if (m) batch.push(m);
    }
    if (batch.length === 0) continue;
    try { reason = md.notifyMerge(batch); } catch (e) { reason = (e as Error).message; }
    if (reason === null && i + MERGE_BATCH < nodes.length) await yieldToEventLoop();
  }
  if (reason !== null) {
    core.counters.inc('pushpull.refused.merge-delegate');
    throw new AgentError('E_INVALID', `merge canceled: ${reason}`);
  }
}

/**
 * The user state (serf's push/pull): streamed to a delegate that can read it
 * as it arrives; read whole (bounded by maxHeldStreamBytes) for one that cannot.
 * A delegate failure is logged and counted, like memberlist.
 */
async function mergeUserState(core: Core, pp: IncomingPushPull): Promise<void> {
  const len = pp.userStateLen;
  const d = core.cfg.delegate;
  if (len === 0) return;
  if (!d) { await pp.body.skip(len); return; }
  if (d.mergeRemoteStateStream) {
    const reader = new UserStateReader(pp.body, len, core.limits.maxStreamObjectBytes);
    try {
      await d.mergeRemoteStateStream(reader, pp.join);
    } catch (e) {
      if (e instanceof AgentError && (e.code === 'E_TIMEOUT' || e.code === 'E_IO')) throw e;
      core.counters.inc('error.delegate');
      core.log.error(`delegate mergeRemoteState failed: ${(e as Error).message}`);
      return;
    }
    if (reader.remaining > 0) await pp.body.skip(reader.remaining);
    return;
  }
  if (len > core.limits.maxHeldStreamBytes) {
    core.counters.inc('drop.pushpull.user-state-too-large');
    await pp.body.skip(len);
    return;
  }
  const buf = await pp.body.take(len);
  try { d.mergeRemoteState(buf, pp.join); } catch (e) {
    core.counters.inc('error.delegate');
    core.log.error(`delegate mergeRemoteState failed: ${(e as Error).message}`);
  }
}

/** The delegate's view of the user state: reads never go past its length. */
export class UserStateReader implements RemoteStateReader {
  private readonly end: number;
  constructor(private readonly cur: ByteCursor, len: number, private readonly objMax: number) {
    this.end = cur.position + len;
  }
  get remaining(): number { return this.end - this.cur.position; }
  private guard(): void {
    if (this.cur.position > this.end) throw new AgentError('E_DECODE', 'remote user state read past its length', { reason: 'msgpack' });
  }
  async byte(): Promise<number> {
    if (this.remaining < 1) throw new AgentError('E_DECODE', 'remote user state truncated', { reason: 'truncated' });
    return this.cur.byte();
  }
  async containerHeader(): Promise<ContainerHeader | null> {
    if (this.remaining < 1) throw new AgentError('E_DECODE', 'remote user state truncated', { reason: 'truncated' });
    const h = await this.cur.containerHeader();
    this.guard();
    return h;
  }
  async forEach(count: number, fn: (value: Decoded, index: number) => void | Promise<void>): Promise<void> {
    await this.cur.forEach(count, this.objMax, (v, _raw, i) => {
      this.guard();
      return fn(v, i);
    });
  }
  async value(): Promise<Decoded> {
    if (this.remaining < 1) throw new AgentError('E_DECODE', 'remote user state truncated', { reason: 'truncated' });
    const { value } = await this.cur.object(Math.min(this.objMax, this.remaining));
    this.guard();
    return value;
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function mergeOne(core: Core, n: PushNodeState): void {
  switch (n.state) {
    case 0:
      aliveNode(core, { type: 'alive', incarnation: n.incarnation, node: n.name, addr: n.addr, port: n.port, meta: n.meta, vsn: n.vsn }, undefined, false);
      break;
    case 3:
      deadNode(core, { type: 'dead', incarnation: n.incarnation, node: n.name, from: n.name });
      break;
    default:
      // A remote "dead" is only a suspicion here: we let our own timers decide.
      suspectNode(core, { type: 'suspect', incarnation: n.incarnation, node: n.name, from: core.name });
  }
}

/** memberlist pushPullScale: the periodic interval grows with log2(n) above 32 nodes. */
export function pushPullScale(intervalMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const mult = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return mult * intervalMs;
}
