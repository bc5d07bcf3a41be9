// Inbound UDP (memberlist net.go ingestPacket/handleCommand): decrypt → CRC →
// compound/compress via wire/packet.ts, then ping / indirect ping / ack / nack
// are handled at once (probes of us are always answered) and alive, suspect,
// dead and user messages go through the bounded LIFO handoff queue. Garbage is
// counted (`decode.<code>`), never thrown.

import type { Addr } from '../transport/types.ts';
import {
  bytesToIp, type AckMessage, type IndirectPingMessage, type MemberlistMessage, type NackMessage, type PingMessage,
} from '../wire/memberlist-messages.ts';
import { decodePacket } from '../wire/packet.ts';
import type { Core, InboundGossip } from './core.ts';
import { aliveNode, deadNode, suspectNode } from './state.ts';

export function handlePacket(core: Core, buf: Uint8Array, from: Addr, at: number): void {
  if (core.stopped) return;
  const keyring = core.keyring();
  const { messages, errors } = decodePacket(buf, {
    ...(keyring ? { keyring } : {}),
    maxDecompressed: core.limits.maxDecompressedPacketBytes,
  });
  for (const e of errors) core.counters.inc(`decode.udp.${e.code}`);
  if (errors.length && core.log.enabled('DEBUG')) core.log.debug(`packet from ${from.addr}:${from.port}: ${errors[0]!.detail}`);
  for (const m of messages) handleMessage(core, m, from, at);
}

function handleMessage(core: Core, m: MemberlistMessage, from: Addr, at: number): void {
  switch (m.type) {
    case 'ping': return handlePing(core, m, from);
    case 'indirectPing': return handleIndirectPing(core, m, from);
    case 'ack': return handleAck(core, m, at);
    case 'nack': return handleNack(core, m);
    case 'alive':
      core.handoff.push({ msg: m, from }, true);
      return;
    case 'suspect':
    case 'dead':
    case 'user':
      core.handoff.push({ msg: m, from }, false);
      return;
    case 'err':
      core.counters.inc('decode.udp.unexpected-err');
      return;
  }
}

/** Runs a queued gossip message (from the handoff queue). */
export function handleGossip(core: Core, g: InboundGossip): void {
  if (core.stopped) return;
  const m = g.msg;
  switch (m.type) {
    case 'alive': aliveNode(core, m, undefined, false); break;
    case 'suspect': suspectNode(core, m); break;
    case 'dead': deadNode(core, m); break;
    case 'user': {
      const d = core.cfg.delegate;
      if (d && m.payload.length > 0) {
        try { d.notifyMsg(m.payload); } catch (e) {
          core.counters.inc('error.delegate');
          core.log.error(`delegate notifyMsg failed: ${(e as Error).message}`);
        }
      }
      break;
    }
    default: break;
  }
}

/** Where to answer: the Source* fields when present, else the datagram's source. */
function replyAddr(m: { sourceAddr?: Uint8Array; sourcePort?: number }, from: Addr): Addr {
  // (a zero SourcePort is omitted on the wire, so sourcePort here is 1..65535)
  if (m.sourceAddr && m.sourceAddr.length > 0 && m.sourcePort) {
    try { return { addr: bytesToIp(m.sourceAddr), port: m.sourcePort }; } catch { /* fall back */ }
  }
  return from;
}

function handlePing(core: Core, p: PingMessage, from: Addr): void {
  if (p.node !== '' && p.node !== core.name) {
    core.counters.inc('drop.ping.wrong-node');
    core.log.warn(`got ping for unexpected node '${p.node}' from ${from.addr}:${from.port}`);
    return;
  }
  let payload: Uint8Array | null = null;
  const pd = core.cfg.ping;
  if (pd) {
    try { payload = pd.ackPayload(); } catch { core.counters.inc('error.delegate'); }
  }
  core.counters.inc('probe.answered');
  core.sendMsg(replyAddr(p, from), { type: 'ack', seqNo: p.seqNo, payload });
}

function handleIndirectPing(core: Core, ind: IndirectPingMessage, from: Addr): void {
  let target: string;
  try { target = bytesToIp(ind.target); } catch {
    core.counters.inc('drop.indirect-ping.bad-addr');
    return;
  }
  if (ind.port === 0) {
    core.counters.inc('drop.indirect-ping.bad-addr');
    return;
  }
  if (core.ackHandlers.size >= core.limits.pendingAcks) {
    // Bounded state: a flood of indirect-ping requests cannot grow our ack table.
    core.counters.inc('drop.indirect-ping.too-many-pending');
    return;
  }
  const requester = replyAddr(ind, from);
  const self = core.advertise();
  const localSeq = core.nextSeqNo();
  let answered = false;
  core.setAckHandler(
    localSeq,
    () => {
      answered = true;
      core.sendMsg(requester, { type: 'ack', seqNo: ind.seqNo, payload: null });
    },
    () => {},
    core.profile.probeTimeoutMs,
    () => {
      if (ind.nack && !answered) core.sendMsg(requester, { type: 'nack', seqNo: ind.seqNo });
    },
  );
  core.counters.inc('probe.indirect-relayed');
  core.sendMsg({ addr: target, port: ind.port }, {
    type: 'ping', seqNo: localSeq, node: ind.node,
    sourceAddr: self.addrBytes, sourcePort: self.port, sourceNode: core.name,
  });
}

function handleAck(core: Core, a: AckMessage, at: number): void {
  const h = core.ackHandlers.get(a.seqNo);
  if (!h) {
    core.counters.inc('drop.ack.unknown-seq');
    return;
  }
  core.ackHandlers.delete(a.seqNo);
  h.timer.cancel();
  h.onAck(a.payload, at);
}

function handleNack(core: Core, n: NackMessage): void {
  const h = core.ackHandlers.get(n.seqNo);
  if (!h) {
    core.counters.inc('drop.nack.unknown-seq');
    return;
  }
  h.onNack();
}
