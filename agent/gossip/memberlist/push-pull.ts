// Push/pull state exchange (memberlist net.go sendLocalState/readRemoteState/
// mergeRemoteState, state.go mergeState/verifyProtocol; SERF-PROTOCOL.md §2.9,
// §2.10, §2.11). Remote node states are processed one at a time from the
// bounded buffer: pass 1 computes the protocol-version bounds, pass 2 asks the
// MergeDelegate in batches, pass 3 merges. The whole remote list is never
// materialised, so a 50,000-member state costs O(1) decoded objects.

import { AgentError } from '../../errors.ts';
import { encodePushPull, encodeStreamMessage, type PushNodeState } from '../wire/stream.ts';
import { bytesToIp } from '../wire/memberlist-messages.ts';
import type { Core } from './core.ts';
import { PUSH_PULL_SCALE_THRESHOLD } from './config.ts';
import { STATE_CODE, type NodeEntry } from './node-table.ts';
import { aliveNode, deadNode, suspectNode } from './state.ts';
import type { MemberNode } from './types.ts';
import { nodeStates, type PushPullFrame } from './stream-io.ts';

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
  reset(): void {
    this.maxPMin = 0; this.minPMax = 255; this.maxDMin = 0; this.minDMax = 255;
    this.minPCur = 255; this.maxPCur = 0; this.minDCur = 255; this.maxDCur = 0;
    this.count = 0;
  }
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
 * Verifies and merges a complete remote push/pull. Rejects E_INVALID when
 * refused (protocol versions, MergeDelegate). Three lazy passes over the
 * encoded states (versions, delegate, merge), in batches with a yield to the
 * event loop between them, so a huge state never stops us answering probes.
 */
export async function mergeRemoteState(core: Core, f: PushPullFrame): Promise<void> {
  const check = new RemoteVersionCheck();
  let i = 0;
  for (const n of nodeStates(f)) {
    check.add(n);
    if (++i % VERIFY_BATCH === 0) await yieldToEventLoop();
  }
  const refusal = check.verify(core);
  if (refusal) {
    core.counters.inc('pushpull.refused.version');
    throw new AgentError('E_INVALID', refusal);
  }
  const md = core.cfg.merge;
  if (md) {
    let batch: MemberNode[] = [];
    let reason: string | null = null;
    for (const n of nodeStates(f)) {
      const m = toMemberNode(n);
      if (m) batch.push(m);
      if (batch.length >= MERGE_BATCH) {
        try { reason = md.notifyMerge(batch); } catch (e) { reason = (e as Error).message; }
        batch = [];
        if (reason !== null) break;
        await yieldToEventLoop();
      }
    }
    if (reason === null && batch.length) {
      try { reason = md.notifyMerge(batch); } catch (e) { reason = (e as Error).message; }
    }
    if (reason !== null) {
      core.counters.inc('pushpull.refused.merge-delegate');
      throw new AgentError('E_INVALID', `merge canceled: ${reason}`);
    }
  }
  core.clusterSizeHint = f.nodeCount;
  let processed = 0;
  for (const n of nodeStates(f)) {
    if (core.stopped) return;
    if (processed >= core.limits.maxPushPullNodes) {
      core.counters.inc('drop.pushpull.node-limit', f.nodeCount - processed);
      break;
    }
    processed++;
    mergeOne(core, n);
    if (processed % MERGE_BATCH === 0) await yieldToEventLoop();
  }
  const d = core.cfg.delegate;
  if (d && f.userState.length > 0) {
    try { d.mergeRemoteState(f.userState, f.join); } catch (e) {
      core.counters.inc('error.delegate');
      core.log.error(`delegate mergeRemoteState failed: ${(e as Error).message}`);
    }
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
