// What a swarm member sends and understands, expressed with the project's wire
// codecs (agent/gossip/wire: memberlist-messages.ts, packet.ts, stream.ts, and the
// agent's own stream reader, stream-reader.ts, on top of the go-msgpack codec). Only the serf-side payloads the swarm needs (ack
// payload coordinate, push/pull user state, tags) are composed here with encodeGo,
// following SERF-PROTOCOL.md §3.3, §3.8 and §3.12.
import { encodeGoWithPrefix, Float64, type GoValue } from '../../agent/gossip/wire/msgpack.ts';
import { encodeMessage, type MemberlistMessage, type PingMessage, type IndirectPingMessage } from '../../agent/gossip/wire/memberlist-messages.ts';
import { encodePacket, decodePacket as decodeWirePacket } from '../../agent/gossip/wire/packet.ts';
import { encodePushPull as encodeWirePushPull, type PushNodeState } from '../../agent/gossip/wire/stream.ts';
import { readStreamBytes, type StreamMessage } from '../../agent/gossip/wire/stream-reader.ts';
import { isAgentError } from '../../agent/errors.ts';

export type NodeState = PushNodeState;
export type Ping = Omit<PingMessage, 'type'>;
export type IndirectPing = Omit<IndirectPingMessage, 'type'>;

/** Vsn of a serf 0.9.4 agent: memberlist 1..5 speaking 2, serf delegate 2..5 speaking 5 (§2.10). */
export const SERF_VSN = Uint8Array.from([1, 5, 2, 2, 5, 5]);

/** pushNodeState.State values (§2.2). */
export const STATE = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;

/** Ceiling for one inbound stream or decompressed packet (serf's own push/pull cap is 20 MiB). */
export const MAX_STREAM_BYTES = 24 * 1024 * 1024;

export function encodePing(p: Ping): Uint8Array { return encodeMessage({ type: 'ping', ...p }); }
export function encodeAck(seqNo: number, payload: Uint8Array | null): Uint8Array { return encodeMessage({ type: 'ack', seqNo, payload }); }
export function encodeNack(seqNo: number): Uint8Array { return encodeMessage({ type: 'nack', seqNo }); }
export function encodeAlive(n: NodeState): Uint8Array {
  return encodeMessage({ type: 'alive', incarnation: n.incarnation, node: n.name, addr: n.addr, port: n.port, meta: n.meta, vsn: n.vsn });
}

/** One datagram as memberlist gossips it to a PMax >= 5 peer: compound when several, CRC header, no compression. */
export function gossipPacket(parts: Uint8Array[]): Uint8Array {
  return encodePacket(parts, { compress: false, crc: true });
}

/** Decodes one UDP datagram into its messages (CRC, compress and compound unwrapped); never throws. */
export function decodePacket(buf: Uint8Array): { messages: MemberlistMessage[]; errors: number } {
  const r = decodeWirePacket(buf, { maxDecompressed: MAX_STREAM_BYTES });
  return { messages: r.messages, errors: r.errors.length };
}

/** A complete uncompressed push/pull stream: header, node states, user state (§2.9). */
export function encodePushPull(join: boolean, nodes: NodeState[], userState: Uint8Array): Uint8Array {
  return encodeWirePushPull({ join, userState }, nodes);
}

/** Reads what arrived so far on a stream with the agent's reader; null = need more bytes. Throws AgentError on garbage. */
export async function parseStream(buf: Uint8Array): Promise<StreamMessage | null> {
  try {
    return await readStreamBytes(buf, { maxBytes: MAX_STREAM_BYTES });
  } catch (e) {
    if (isAgentError(e, 'E_DECODE') && e.details?.reason === 'truncated') return null;
    throw e;
  }
}

/**
 * Serf's push/pull user state `[2] msgpack(messagePushPull)` (§3.8): every member
 * with a status LTime, no left members, an empty event buffer.
 */
export function encodeSerfPushPullState(clock: number, members: readonly string[]): Uint8Array {
  const status = new Map<string, GoValue>();
  for (const m of members) status.set(m, 1);
  return encodeGoWithPrefix([2], {
    EventLTime: 1, Events: [], LTime: clock, LeftMembers: [], QueryLTime: 1, StatusLTimes: status,
  });
}

/** Serf's ack payload: `[1]` + msgpack(initial Vivaldi coordinate) (§3.12). */
export function serfAckPayload(): Uint8Array {
  const vec: GoValue[] = [];
  for (let i = 0; i < 8; i++) vec.push(new Float64(0));
  return encodeGoWithPrefix([1], { Adjustment: new Float64(0), Error: new Float64(1.5), Height: new Float64(1e-5), Vec: vec });
}

/** Meta for serf protocol >= 3: 0xFF + msgpack(map[string]string) (§3.3). */
export function encodeTags(tags: Record<string, string>): Uint8Array {
  return encodeGoWithPrefix([0xff], new Map(Object.entries(tags)));
}
