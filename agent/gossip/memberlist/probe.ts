// Failure detection (memberlist state.go probe/probeNode, SERF-PROTOCOL.md
// §2.12): round-robin probing of one node per ProbeInterval, direct ping, then
// IndirectChecks indirect pings (with nacks toward PMax ≥ 4) plus a TCP
// fallback ping (toward PMax ≥ 3), Lifeguard awareness updates, and
// suspicion of nodes that answered none of them.

import type { Addr } from '../transport/types.ts';
import { encodeMessage, type PingMessage } from '../wire/memberlist-messages.ts';
import type { Core } from './core.ts';
import type { TimerHandle } from '../clock.ts';
import { publicView, isDeadOrLeft, type NodeEntry } from './node-table.ts';
import { suspectNode } from './state.ts';
import { tcpPing } from './stream-client.ts';

/** Picks the next node to probe, resetting the order after a full pass. */
export function nextProbeTarget(core: Core): NodeEntry | undefined {
  const t = core.table;
  let numCheck = 0;
  for (let guard = 0; guard < t.size() * 2 + 4; guard++) {
    const order = t.probeOrder();
    if (numCheck >= order.length) return undefined;
    if (t.probeIndex >= order.length) {
      const removed = t.resetProbeOrder(core.clock.now(), core.profile.gossipToTheDeadMs);
      for (const r of removed) {
        core.suspicions.get(r.name)?.cancel();
        core.suspicions.delete(r.name);
      }
      numCheck++;
      continue;
    }
    const n = t.get(order[t.probeIndex]!);
    t.probeIndex++;
    if (!n || n.name === core.name || isDeadOrLeft(n.state)) { numCheck++; continue; }
    return n;
  }
  return undefined;
}

interface AckResult { complete: boolean; payload: Uint8Array | null; at: number }

/** Probes one node; resolves when the probe is over (ack, or suspicion raised). */
export async function probeNode(core: Core, node: NodeEntry): Promise<void> {
  const probeInterval = core.awareness.scaleTimeout(core.profile.probeIntervalMs);
  const self = core.advertise();
  const ping: PingMessage = {
    type: 'ping', seqNo: core.nextSeqNo(), node: node.name,
    sourceAddr: self.addrBytes, sourcePort: self.port, sourceNode: core.name,
  };
  let nacks = 0;
  let resolveAck: (r: AckResult) => void = () => {};
  const ackPromise = new Promise<AckResult>((r) => { resolveAck = r; });
  core.setAckHandler(
    ping.seqNo,
    (payload, at) => resolveAck({ complete: true, payload, at }),
    () => { nacks++; },
    probeInterval,
    () => resolveAck({ complete: false, payload: null, at: core.clock.now() }),
  );
  const sent = core.clock.now();
  const deadline = sent + probeInterval;
  const to: Addr = { addr: node.addr, port: node.port };
  core.counters.inc('probe.sent');
  if (node.state === 'alive') {
    core.sendMsg(to, ping);
  } else {
    // Tell a suspect it is suspected, so it can refute at once.
    core.rawSend(to, [encodeMessage(ping), encodeMessage({ type: 'suspect', incarnation: node.incarnation, node: node.name, from: core.name })], node);
  }

  let awarenessDelta = 0;
  try {
    // The probe-timeout timer is cancelled as soon as the ack arrives: an idle
    // agent should not wake up for timers whose outcome is already known.
    let timeout: TimerHandle | undefined;
    const first = await Promise.race([
      ackPromise,
      new Promise<undefined>((r) => { timeout = core.clock.after(core.profile.probeTimeoutMs, () => r(undefined)); }),
    ]);
    timeout?.cancel();
    if (first && first.complete) {
      completePing(core, node, first, sent);
      awarenessDelta = -1;
      return;
    }
    if (core.stopped) return;

    // Indirect probes through random alive peers.
    const peers = core.table.randomNodes(core.profile.indirectChecks, (n) => n.name !== core.name && n.name !== node.name && n.state === 'alive');
    let expectedNacks = 0;
    for (const peer of peers) {
      const nack = peer.pMax >= 4;
      if (nack) expectedNacks++;
      core.sendMsg({ addr: peer.addr, port: peer.port }, {
        type: 'indirectPing', seqNo: ping.seqNo, target: node.addrBytes, port: node.port, node: node.name, nack,
        sourceAddr: self.addrBytes, sourcePort: self.port, sourceNode: core.name,
      });
    }
    core.counters.inc('probe.indirect', peers.length);

    // TCP fallback toward peers that understand it, until the probe deadline.
    const fallback = !core.profile.disableTcpPings && node.pMax >= 3
      ? tcpPing(core, to, ping, deadline).catch((e: Error) => {
        core.log.debug(`TCP fallback ping to ${node.name} failed: ${e.message}`);
        return false;
      })
      : Promise.resolve(false);

    const second = await ackPromise; // resolves on ack or at probeInterval
    if (second.complete) {
      awarenessDelta = -1;
      return;
    }
    if (await fallback) {
      core.counters.inc('probe.tcp-fallback-ok');
      core.log.warn(`was able to connect to ${node.name} over TCP but UDP probes failed, network may be misconfigured`);
      return;
    }
    awarenessDelta = expectedNacks > 0 ? Math.max(0, expectedNacks - nacks) : 1;
    if (core.stopped) return;
    core.counters.inc('probe.failed');
    core.log.info(`suspect ${node.name} has failed, no acks received`);
    const current = core.table.get(node.name);
    if (current) suspectNode(core, { type: 'suspect', incarnation: current.incarnation, node: node.name, from: core.name });
  } finally {
    core.awareness.applyDelta(awarenessDelta);
  }
}

function completePing(core: Core, node: NodeEntry, r: AckResult, sent: number): void {
  core.counters.inc('probe.ok');
  const p = core.cfg.ping;
  if (!p) return;
  try { p.notifyPingComplete(publicView(node), Math.max(0, r.at - sent), r.payload ?? new Uint8Array(0)); } catch {
    core.counters.inc('error.delegate');
  }
}

export function sleep(core: Core, ms: number): Promise<undefined> {
  return new Promise((r) => { core.clock.after(ms, () => r(undefined)); });
}
