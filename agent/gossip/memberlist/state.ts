// The node state machine (memberlist state.go aliveNode/suspectNode/deadNode/
// refute, SERF-PROTOCOL.md §2.11): incarnation ordering, refutation of
// accusations about ourselves, Lifeguard suspicion timers, and the edge-mode
// rule that gossip about nodes we cannot keep is still relayed.

import { bytesToIp, type AliveMessage, type DeadMessage, type SuspectMessage } from '../wire/memberlist-messages.ts';
import type { Core } from './core.ts';
import { publicView, isDeadOrLeft, type NodeEntry } from './node-table.ts';
import { Suspicion, suspicionTimeout } from './suspicion.ts';

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function applyVsn(n: NodeEntry, vsn: Uint8Array): void {
  if (vsn.length < 6) return;
  n.pMin = vsn[0]!; n.pMax = vsn[1]!; n.pCur = vsn[2]!;
  n.dMin = vsn[3]!; n.dMax = vsn[4]!; n.dCur = vsn[5]!;
}

function nodeVsn(n: NodeEntry): Uint8Array {
  return Uint8Array.of(n.pMin, n.pMax, n.pCur, n.dMin, n.dMax, n.dCur);
}

/**
 * alive(a) received or generated. `bootstrap` = our own initial alive / meta
 * update (no refutation); `onDone` fires when its broadcast left the queue.
 */
export function aliveNode(core: Core, a: AliveMessage, onDone: (() => void) | undefined, bootstrap: boolean): void {
  const isSelf = a.node === core.name;
  if (core.leaving && isSelf) return;
  if (a.vsn.length >= 3) {
    const pMin = a.vsn[0]!, pMax = a.vsn[1]!;
    if (pMin === 0 || pMax === 0 || pMin > pMax) {
      core.counters.inc('drop.alive.bad-vsn');
      core.log.warn(`ignoring alive for ${a.node}: invalid protocol versions ${pMin}..${pMax}`);
      return;
    }
  }
  let addr: string;
  try { addr = bytesToIp(a.addr); } catch {
    core.counters.inc('drop.alive.bad-addr');
    return;
  }
  // memberlist's AliveDelegate: the upper layer may veto any alive (serf: member validation).
  const md = core.cfg.merge;
  if (md && !bootstrap) {
    let reason: string | null;
    if (a.vsn.length < 6) reason = 'Vsn is not present';
    else {
      try {
        reason = md.notifyMerge([{
          name: a.node, addr, port: a.port, meta: a.meta, state: 'alive', incarnation: a.incarnation,
          pMin: a.vsn[0]!, pMax: a.vsn[1]!, pCur: a.vsn[2]!, dMin: a.vsn[3]!, dMax: a.vsn[4]!, dCur: a.vsn[5]!, stateChange: 0,
        }]);
      } catch (e) { reason = (e as Error).message; }
    }
    if (reason !== null) {
      core.counters.inc('drop.alive.vetoed');
      core.log.warn(`ignoring alive message for '${a.node}': ${reason}`);
      return;
    }
  }

  let state = core.table.get(a.node);
  let updatesNode = false;
  let isNew = false;
  if (!state) {
    // A new node starts as "dead" so the transition to alive fires notifyJoin.
    state = {
      name: a.node, addr, addrBytes: a.addr, port: a.port, meta: a.meta, state: 'dead', incarnation: 0,
      pMin: 0, pMax: 0, pCur: 0, dMin: 0, dMax: 0, dCur: 0, stateChange: core.clock.now(),
    };
    applyVsn(state, a.vsn);
    if (a.incarnation === 0 && !isSelf) return; // would be ignored below (inc <= 0) anyway
    // A newcomer is judged on what it is (stateChange 0: no recency bonus), so a
    // full table does not churn: it only displaces strictly less valuable members.
    if (!isSelf && !core.table.admit({ ...state, state: 'alive', incarnation: a.incarnation, stateChange: 0 }, core.clock.now())) {
      // Edge mode: no room for it, but the rest of the cluster must still hear it.
      if (core.rememberRelay(a.node, a.incarnation)) {
        core.counters.inc('relay.unknown.alive');
        core.broadcast(a.node, a, onDone);
      }
      return;
    }
    core.table.insert(state);
    isNew = true;
  } else if (!bytesEqual(state.addrBytes, a.addr) || state.port !== a.port) {
    const reclaim = core.profile.deadNodeReclaimTimeMs > 0 && core.clock.now() - state.stateChange > core.profile.deadNodeReclaimTimeMs;
    if (state.state === 'left' || (state.state === 'dead' && reclaim)) {
      core.log.info(`updating address for left or failed node ${state.name} from ${state.addr}:${state.port} to ${addr}:${a.port}`);
      updatesNode = true;
    } else {
      core.counters.inc('conflict.name');
      core.log.error(`conflicting address for ${a.node}: mine ${state.addr}:${state.port}, theirs ${addr}:${a.port} (state ${state.state})`);
      const c = core.cfg.conflict;
      if (c) {
        const other = { ...publicView(state), addr, port: a.port, meta: a.meta };
        try { c.notifyConflict(publicView(state), other); } catch { core.counters.inc('error.delegate'); }
      }
      return;
    }
  }

  if (!isNew) {
    if (a.incarnation <= state.incarnation && !isSelf && !updatesNode) return;
    if (a.incarnation < state.incarnation && isSelf) return;
  }

  core.suspicions.get(a.node)?.cancel();
  core.suspicions.delete(a.node);

  const oldState = state.state;
  const oldMeta = state.meta;

  if (!bootstrap && isSelf) {
    if (a.incarnation === state.incarnation && bytesEqual(a.meta, state.meta) && bytesEqual(a.vsn, core.vsn())) return;
    refute(core, state, a.incarnation);
    core.log.warn(`refuting an alive message for ourselves (incarnation ${a.incarnation})`);
  } else {
    core.broadcast(a.node, a, onDone);
    applyVsn(state, a.vsn);
    state.incarnation = a.incarnation;
    state.meta = a.meta;
    state.addr = addr;
    state.addrBytes = a.addr;
    state.port = a.port;
    if (state.state !== 'alive') {
      state.state = 'alive';
      state.stateChange = core.clock.now();
    }
  }

  if (isDeadOrLeft(oldState) && state.state === 'alive') core.notify('join', state);
  else if (!bytesEqual(oldMeta, state.meta)) core.notify('update', state);
}

export function suspectNode(core: Core, s: SuspectMessage): void {
  const state = core.table.get(s.node);
  if (!state) return;
  if (s.incarnation < state.incarnation) return;
  const timer = core.suspicions.get(s.node);
  if (timer) {
    if (timer.confirm(s.from)) core.broadcast(s.node, s);
    return;
  }
  if (state.state !== 'alive') return;
  if (state.name === core.name) {
    refute(core, state, s.incarnation);
    core.log.warn(`refuting a suspect message (from: ${s.from})`);
    return;
  }
  core.broadcast(s.node, s);
  state.incarnation = s.incarnation;
  state.state = 'suspect';
  const changeTime = core.clock.now();
  state.stateChange = changeTime;
  core.counters.inc('gossip.suspect');

  // Lifeguard: expect SuspicionMult-2 independent confirmations (none in tiny clusters).
  const n = core.estimateNumNodes();
  let k = core.profile.suspicionMult - 2;
  if (n - 2 < k) k = 0;
  const min = suspicionTimeout(core.profile.suspicionMult, n, core.profile.probeIntervalMs);
  const max = core.profile.suspicionMaxTimeoutMult * min;
  const sus = new Suspicion(s.from, k, min, max, core.clock, () => {
    const st = core.table.get(s.node);
    if (core.suspicions.get(s.node) === sus) core.suspicions.delete(s.node);
    if (st && st.state === 'suspect' && st.stateChange === changeTime) {
      core.log.info(`marking ${st.name} as failed, suspect timeout reached`);
      deadNode(core, { type: 'dead', incarnation: st.incarnation, node: st.name, from: core.name });
    }
  });
  core.suspicions.set(s.node, sus);
}

export function deadNode(core: Core, d: DeadMessage): void {
  const state = core.table.get(d.node);
  if (!state) {
    // Edge mode: a node we do not keep; pass its death on within the queue limit.
    if (core.relayedUnknown.has(d.node) && core.rememberRelay(d.node, d.incarnation + 0.5)) {
      core.counters.inc('relay.unknown.dead');
      core.broadcast(d.node, d);
    }
    return;
  }
  if (d.incarnation < state.incarnation) return;
  core.suspicions.get(d.node)?.cancel();
  core.suspicions.delete(d.node);
  if (isDeadOrLeft(state.state)) return;

  if (state.name === core.name) {
    if (!core.leaving) {
      refute(core, state, d.incarnation);
      core.log.warn(`refuting a dead message (from: ${d.from})`);
      return;
    }
    core.broadcast(d.node, d, () => core.leaveBroadcastDone?.());
  } else {
    core.broadcast(d.node, d);
  }
  state.incarnation = d.incarnation;
  state.state = d.node === d.from ? 'left' : 'dead';
  state.stateChange = core.clock.now();
  core.counters.inc(state.state === 'left' ? 'gossip.left' : 'gossip.dead');
  core.notify('leave', state);
}

/** Bumps our incarnation above the accusation and broadcasts alive(self). */
export function refute(core: Core, me: NodeEntry, accusedInc: number): void {
  let inc = core.nextIncarnation();
  if (accusedInc >= inc) inc = core.skipIncarnation(accusedInc - inc + 1);
  me.incarnation = inc;
  core.awareness.applyDelta(1);
  core.counters.inc('gossip.refute');
  core.broadcast(me.name, {
    type: 'alive', incarnation: inc, node: me.name, addr: me.addrBytes, port: me.port, meta: me.meta, vsn: nodeVsn(me),
  });
}
