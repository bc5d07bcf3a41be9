// Outbound gossip TCP exchanges (memberlist net.go): the TCP fallback ping,
// push/pull with a peer (join and periodic), and reliable user messages.
// One exchange per connection, bounded by the profile's TCPTimeout (or the
// probe deadline) and limits.maxPushPullBytes.

import { AgentError, isAgentError } from '../../errors.ts';
import type { Addr } from '../transport/types.ts';
import { encodeMessage, type PingMessage } from '../wire/memberlist-messages.ts';
import { encodeStreamMessage, encodeStreamUserMessage } from '../wire/stream.ts';
import type { Core } from './core.ts';
import { encodeLocalState, mergeRemoteState } from './push-pull.ts';
import { readStreamMessage } from '../wire/stream-reader.ts';

function wrap(core: Core, msg: Uint8Array): Uint8Array {
  const keyring = core.keyring();
  return encodeStreamMessage(msg, { compress: core.cfg.compression, ...(keyring ? { keyring } : {}) });
}

/** TCP ping/ack; resolves true if the node answered with our sequence number before `deadline`. */
export async function tcpPing(core: Core, to: Addr, ping: PingMessage, deadline: number): Promise<boolean> {
  const left = deadline - Date.now();
  if (left <= 0) return false;
  let stream;
  try { stream = await core.transport.dial(to, left); } catch { return false; }
  try {
    stream.setDeadline(deadline);
    await stream.write(wrap(core, encodeMessage(ping)));
    const msg = await readStreamMessage(stream, { limits: core.limits, keyring: core.keyring() });
    if (msg.type !== 'ack') throw new AgentError('E_DECODE', `unexpected message type ${msg.type} in reply to a TCP ping`);
    if (msg.seqNo !== ping.seqNo) throw new AgentError('E_DECODE', `sequence number from ack (${msg.seqNo}) doesn't match ping (${ping.seqNo})`);
    return true;
  } finally {
    stream.close();
  }
}

/** Push/pull with the node at `to`; merges its reply. Rejects on any failure. */
export async function pushPullWith(core: Core, to: Addr, join: boolean): Promise<void> {
  const timeout = core.profile.tcpTimeoutMs;
  const stream = await core.transport.dial(to, timeout);
  core.counters.inc(join ? 'pushpull.join.out' : 'pushpull.periodic.out');
  try {
    stream.setDeadline(Date.now() + timeout);
    await stream.write(encodeLocalState(core, join));
    let msg;
    try {
      msg = await readStreamMessage(stream, { limits: core.limits, keyring: core.keyring() });
    } catch (e) {
      countStreamError(core, e);
      throw e;
    }
    if (msg.type === 'err') throw new AgentError('E_IO', `remote error: ${msg.error}`);
    if (msg.type !== 'pushPull') throw new AgentError('E_DECODE', `received invalid msgType (${msg.type}), expected pushPull`);
    try {
      await mergeRemoteState(core, msg);
    } catch (e) {
      if (!isAgentError(e, 'E_INVALID')) countStreamError(core, e);
      throw e;
    }
  } finally {
    stream.close();
  }
}

/** A user message over TCP: `[8] {UserMsgLen} payload`. */
export async function sendUserStream(core: Core, to: Addr, payload: Uint8Array): Promise<void> {
  const stream = await core.transport.dial(to, core.profile.tcpTimeoutMs);
  try {
    stream.setDeadline(Date.now() + core.profile.tcpTimeoutMs);
    await stream.write(wrap(core, encodeStreamUserMessage(payload)));
  } finally {
    stream.close();
  }
}

export function countStreamError(core: Core, e: unknown): void {
  if (isAgentError(e, 'E_TOO_LARGE')) core.counters.inc('drop.pushpull.too-large');
  else if (isAgentError(e, 'E_DECRYPT')) core.counters.inc('decode.tcp.decrypt');
  else if (isAgentError(e, 'E_DECODE')) core.counters.inc('decode.tcp.malformed');
  else if (isAgentError(e, 'E_TIMEOUT')) core.counters.inc('tcp.timeout');
}
