// memberlist 0.2.2 TCP stream codec (SERF-PROTOCOL.md §2.7, §2.9): one exchange per
// connection, no length prefix except the encryption frame, so the reader parses
// msgpack objects as bytes arrive.
//
// Stream layout:  [10][len u32 BE][AES-GCM blob, AAD = the 5 header bytes]   (if encrypting)
//   plaintext:    [9] msgpack({Algo, Buf})                                   (if compressing)
//   message:      [type][body]: ping/ack/err = msgpack struct; user = msgpack({UserMsgLen}) + raw;
//                 pushPull = msgpack(header) + Nodes x msgpack(pushNodeState) + UserStateLen raw bytes.
import { AgentError, isAgentError } from '../../errors.ts';
import { Keyring } from './keyring.ts';
import {
  asBool, asBytes, asInt, asMap, asUint, asStr, decodeGo, encodeGo, encodeGoWithPrefix, NeedMoreData, skipGo,
  type DecodedMap,
} from './msgpack.ts';
import { decodeMessage, MessageType, type AckMessage, type PingMessage } from './memberlist-messages.ts';
import { decompressBody, encodeCompressMessage } from './compress-message.ts';

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

export interface StreamPushPull {
  type: 'pushPull';
  join: boolean;
  /** Empty when onNodeState was given (each node was passed to it instead). */
  nodes: PushNodeState[];
  nodeCount: number;
  userState: Uint8Array;
}

export type StreamMessage =
  | PingMessage
  | AckMessage
  | StreamPushPull
  | { type: 'user'; payload: Uint8Array }
  | { type: 'err'; error: string };

export interface StreamEncodeOptions { compress: boolean; keyring?: Keyring }
export interface ParseStreamOptions {
  keyring?: Keyring;
  /** Largest stream (and decompressed / decrypted state) accepted; beyond it E_TOO_LARGE. */
  maxBytes: number;
  onNodeState?: (n: PushNodeState) => void;
}
export type ParseStreamResult = { status: 'need-more' } | { status: 'done'; msg: StreamMessage };

const NEED_MORE: ParseStreamResult = Object.freeze({ status: 'need-more' });

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

function nodeStateValue(n: PushNodeState): Record<string, import('./msgpack.ts').GoValue> {
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

function tooLarge(what: string, n: number, max: number): never {
  throw new AgentError('E_TOO_LARGE', `${what} of ${n} bytes exceeds ${max}`);
}

/** Thrown internally when more bytes are needed; turned into E_DECODE when the buffer is complete. */
class Incomplete extends Error {}

/**
 * Parses the message starting at body[0] (type byte). `complete` = no more bytes
 * will come (decrypted/decompressed buffer): truncation is then E_DECODE.
 */
/** How far a previous call scanned a plain push/pull on the same (grown) buffer. */
interface ScanCheckpoint { nodesScanned: number; offset: number }

function parseMessage(body: Uint8Array, complete: boolean, opts: ParseStreamOptions, cp?: ScanCheckpoint): StreamMessage {
  const needMore = (): never => {
    if (complete) throw new AgentError('E_DECODE', 'stream truncated');
    throw new Incomplete();
  };
  const objEnd = (off: number): number => {
    try {
      return skipGo(body, off);
    } catch (e) {
      if (e instanceof NeedMoreData) return needMore();
      throw e;
    }
  };
  if (body.length === 0) return needMore();
  const t = body[0]!;
  switch (t) {
    case MessageType.ping:
    case MessageType.ackResp:
    case MessageType.err: {
      objEnd(1);
      const m = decodeMessage(body);
      if (m.type === 'ping' || m.type === 'ack' || m.type === 'err') return m;
      throw new AgentError('E_DECODE', 'unexpected message');
    }
    case MessageType.user: {
      const end = objEnd(1);
      const len = asUint(asMap(decodeGo(body, 1).value, 'userMsgHeader').UserMsgLen, 'UserMsgLen');
      if (len > opts.maxBytes) tooLarge('user message', len, opts.maxBytes);
      if (body.length < end + len) return needMore();
      return { type: 'user', payload: body.slice(end, end + len) };
    }
    case MessageType.pushPull: {
      let off = objEnd(1);
      const h = asMap(decodeGo(body, 1).value, 'pushPullHeader');
      const join = asBool(h.Join, 'Join');
      const nodeCount = asUint(h.Nodes, 'Nodes');
      const userLen = asUint(h.UserStateLen, 'UserStateLen');
      if (userLen > opts.maxBytes) tooLarge('push/pull user state', userLen, opts.maxBytes);
      // Each node state is a msgpack map of at least one byte.
      if (nodeCount > opts.maxBytes) tooLarge('push/pull node count', nodeCount, opts.maxBytes);
      // Pass 1: find the end without building anything, so nothing is delivered
      // before the whole message is here (callbacks fire exactly once per node).
      const nodesStart = off;
      let first = 0;
      if (cp && cp.nodesScanned > 0) { first = cp.nodesScanned; off = cp.offset; }
      for (let i = first; i < nodeCount; i++) {
        if (cp) { cp.nodesScanned = i; cp.offset = off; }
        off = objEnd(off);
      }
      if (cp) { cp.nodesScanned = nodeCount; cp.offset = off; }
      if (body.length < off + userLen) return needMore();
      // With a callback, validate every node first (decoded and dropped), so a bad
      // node rejects the whole state before any node is delivered - as Go, which
      // decodes the full remote state before merging any of it.
      if (opts.onNodeState) {
        let q = nodesStart;
        for (let i = 0; i < nodeCount; i++) {
          const { value, end } = decodeGo(body, q);
          q = end;
          decodeNodeState(asMap(value, 'pushNodeState'));
        }
      }
      // Pass 2: decode and deliver.
      const nodes: PushNodeState[] = [];
      let p = nodesStart;
      for (let i = 0; i < nodeCount; i++) {
        const { value, end } = decodeGo(body, p);
        p = end;
        const n = decodeNodeState(asMap(value, 'pushNodeState'));
        if (opts.onNodeState) opts.onNodeState(n); else nodes.push(n);
      }
      return { type: 'pushPull', join, nodes, nodeCount, userState: body.slice(off, off + userLen) };
    }
    default:
      throw new AgentError('E_DECODE', `unexpected stream message type ${t}`, { reason: 'unknown-type', msgType: t });
  }
}

function parseAfterEncryption(body: Uint8Array, complete: boolean, opts: ParseStreamOptions, cp?: ScanCheckpoint): StreamMessage {
  if (body.length === 0) {
    if (complete) throw new AgentError('E_DECODE', 'empty stream message');
    throw new Incomplete();
  }
  if (body[0] !== MessageType.compress) return parseMessage(body, complete, opts, cp);
  let value;
  try {
    value = decodeGo(body, 1).value;
  } catch (e) {
    if (e instanceof NeedMoreData && !complete) throw new Incomplete();
    throw e;
  }
  let inner: Uint8Array;
  try {
    inner = decompressBody(value, opts.maxBytes);
  } catch (e) {
    if (isAgentError(e) && e.details?.reason === 'too-large') tooLarge('decompressed stream', opts.maxBytes + 1, opts.maxBytes);
    throw e;
  }
  if (inner.length === 0) throw new AgentError('E_DECODE', 'empty decompressed message');
  return parseMessage(inner, true, opts);
}

/**
 * Parses a stream from its first byte. Call again with the grown buffer after
 * 'need-more'. Throws E_DECODE (malformed), E_DECRYPT (encryption mismatch or no
 * key opens it), E_TOO_LARGE (beyond opts.maxBytes). onNodeState is only called
 * once the whole message has arrived, exactly once per node.
 */
export function parseStream(buf: Uint8Array, opts: ParseStreamOptions): ParseStreamResult {
  return parseStreamFrom(buf, opts);
}

function parseStreamFrom(buf: Uint8Array, opts: ParseStreamOptions, cp?: ScanCheckpoint): ParseStreamResult {
  if (buf.length === 0) return NEED_MORE;
  const encrypted = opts.keyring?.isEnabled() === true;
  try {
    if (buf[0] === MessageType.encrypt) {
      if (!encrypted) throw new AgentError('E_DECRYPT', ERR_LOCAL_NOT_ENCRYPTED);
      if (buf.length < STREAM_ENCRYPT_HEADER) return NEED_MORE;
      const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(1);
      const max = Math.min(opts.maxBytes, MAX_PUSH_STATE_BYTES);
      if (len > max) tooLarge('encrypted stream', len, max);
      if (buf.length < STREAM_ENCRYPT_HEADER + len) return NEED_MORE;
      const plain = opts.keyring!.decrypt(buf.subarray(STREAM_ENCRYPT_HEADER, STREAM_ENCRYPT_HEADER + len), buf.subarray(0, STREAM_ENCRYPT_HEADER));
      return { status: 'done', msg: parseAfterEncryption(plain, true, opts) };
    }
    if (encrypted) throw new AgentError('E_DECRYPT', ERR_REMOTE_NOT_ENCRYPTED);
    return { status: 'done', msg: parseAfterEncryption(buf, false, opts, cp) };
  } catch (e) {
    if (e instanceof Incomplete) {
      if (buf.length >= opts.maxBytes) tooLarge('stream', buf.length, opts.maxBytes);
      return NEED_MORE;
    }
    if (e instanceof AgentError) throw e;
    throw new AgentError('E_DECODE', `stream: ${(e as Error).message}`);
  }
}

/**
 * Accumulates a stream's chunks as they arrive and parses them. Same results and
 * errors as parseStream on the concatenated bytes, but linear in the stream size:
 * the buffer grows by doubling (never past maxBytes + 1) and a plain push/pull is
 * scanned from where the previous chunk left off instead of from the start.
 */
export class StreamReader {
  private buf: Uint8Array;
  private len = 0;
  private readonly checkpoint: ScanCheckpoint = { nodesScanned: 0, offset: 0 };
  private result: ParseStreamResult | null = null;

  constructor(private readonly opts: ParseStreamOptions) {
    this.buf = new Uint8Array(Math.min(4096, opts.maxBytes + 1));
  }

  /** Bytes held so far. */
  get bufferedBytes(): number {
    return this.len;
  }

  /** Appends a chunk and parses; after 'done', further chunks are ignored (one exchange per connection). */
  push(chunk: Uint8Array): ParseStreamResult {
    if (this.result) return this.result;
    // Keep at most maxBytes + 1 bytes: enough to decide between 'done' and E_TOO_LARGE.
    const room = this.opts.maxBytes + 1 - this.len;
    const take = chunk.length > room ? chunk.subarray(0, Math.max(0, room)) : chunk;
    if (this.len + take.length > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + take.length) size *= 2;
      const nb = new Uint8Array(Math.min(size, this.opts.maxBytes + 1));
      nb.set(this.buf.subarray(0, this.len));
      this.buf = nb;
    }
    this.buf.set(take, this.len);
    this.len += take.length;
    const r = parseStreamFrom(this.buf.subarray(0, this.len), this.opts, this.checkpoint);
    if (r.status === 'done') this.result = r;
    return r;
  }
}
