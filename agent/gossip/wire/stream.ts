// memberlist 0.2.2 TCP stream format (SERF-PROTOCOL.md §2.7, §2.9): one exchange per
// connection, no length prefix except the encryption frame. This file writes it;
// stream-reader.ts reads it as bytes arrive.
//
// Stream layout:  [10][len u32 BE][AES-GCM blob, AAD = the 5 header bytes]   (if encrypting)
//   plaintext:    [9] msgpack({Algo, Buf})                                   (if compressing)
//   message:      [type][body]: ping/ack/err = msgpack struct; user = msgpack({UserMsgLen}) + raw;
//                 pushPull = msgpack(header) + Nodes x msgpack(pushNodeState) + UserStateLen raw bytes.
import { AgentError } from '../../errors.ts';
import type { Keyring } from './keyring.ts';
import { asBytes, asInt, asUint, asStr, encodeGo, encodeGoWithPrefix, type DecodedMap, type GoValue } from './msgpack.ts';
import { MessageType } from './memberlist-messages.ts';
import { encodeCompressMessage } from './compress-message.ts';

/** [10][len u32]: the encryption frame header, also the GCM additional data. */
export const STREAM_ENCRYPT_HEADER = 5;
/** memberlist refuses encrypted remote states larger than this (maxPushStateBytes, 20 MiB). */
export const MAX_PUSH_STATE_BYTES = 20 * 1024 * 1024;

/** memberlist node states in push/pull (StateAlive..StateLeft). */
export type NodeStateCode = 0 | 1 | 2 | 3;

export interface PushNodeState {
  name: string;
  addr: Uint8Array;
  port: number;
  meta: Uint8Array;
  incarnation: number;
  state: NodeStateCode;
  vsn: Uint8Array;
}

export interface PushPullHeader { join: boolean; userState: Uint8Array }

export interface StreamEncodeOptions { compress: boolean; keyring?: Keyring }
export const ERR_REMOTE_NOT_ENCRYPTED = 'Encryption is configured but remote state is not encrypted';
export const ERR_LOCAL_NOT_ENCRYPTED = 'Remote state is encrypted and encryption is not configured';

/** Wraps a complete message for a stream: compress (always, when on), then encrypt. */
export function encodeStreamMessage(msg: Uint8Array, opts: StreamEncodeOptions): Uint8Array {
  let out = opts.compress ? encodeCompressMessage(msg) : msg;
  if (opts.keyring?.isEnabled()) {
    const blobLen = out.length + 29; // version 1 overhead (keyring.encryptionOverhead())
    const header = new Uint8Array(STREAM_ENCRYPT_HEADER);
    header[0] = MessageType.encrypt;
    new DataView(header.buffer).setUint32(1, blobLen);
    const blob = opts.keyring.encrypt(out, header);
    if (blob.length !== blobLen) throw new AgentError('E_INVALID', 'unexpected encrypted length');
    const framed = new Uint8Array(STREAM_ENCRYPT_HEADER + blob.length);
    framed.set(header);
    framed.set(blob, STREAM_ENCRYPT_HEADER);
    out = framed;
  }
  return out;
}

function nodeStateValue(n: PushNodeState): Record<string, GoValue> {
  const nil = (b: Uint8Array): Uint8Array | null => (b.length > 0 ? b : null);
  return {
    Name: n.name, Addr: nil(n.addr), Port: n.port, Meta: nil(n.meta), Incarnation: n.incarnation, State: n.state, Vsn: nil(n.vsn),
  };
}

/** The push/pull message `[6] header nodes... userState` (before compression/encryption). */
export function encodePushPull(header: PushPullHeader, nodes: PushNodeState[]): Uint8Array {
  const parts: Uint8Array[] = [
    encodeGoWithPrefix([MessageType.pushPull], { Join: header.join, Nodes: nodes.length, UserStateLen: header.userState.length }),
  ];
  for (const n of nodes) parts.push(encodeGo(nodeStateValue(n)));
  parts.push(header.userState);
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/** A TCP user message: `[8] msgpack({UserMsgLen}) payload`. */
export function encodeStreamUserMessage(payload: Uint8Array): Uint8Array {
  const head = encodeGoWithPrefix([MessageType.user], { UserMsgLen: payload.length });
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/** One push/pull node state from its decoded msgpack map (E_DECODE when malformed). */
export function decodeNodeState(v: DecodedMap): PushNodeState {
  const state = asInt(v.State, 'State');
  if (state < 0 || state > 3) throw new AgentError('E_DECODE', `push/pull node state ${state} unknown`);
  return {
    name: asStr(v.Name, 'Name'), addr: asBytes(v.Addr, 'Addr'), port: asUint(v.Port, 'Port', 0xffff),
    meta: asBytes(v.Meta, 'Meta'), incarnation: asUint(v.Incarnation, 'Incarnation', 0xffffffff),
    state: state as NodeStateCode, vsn: asBytes(v.Vsn, 'Vsn'),
  };
}
