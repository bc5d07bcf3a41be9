// The one reader of a gossip TCP stream (memberlist readStream), run by the
// agent on every stream and by the tests, fuzzers and bench swarm through
// readStreamBytes. It decodes the message as its bytes arrive, through a
// ByteCursor (byte-cursor.ts):
//
//   [10][len u32][AES-GCM blob]   encrypted: the blob is read whole (GCM
//                                 authenticates only at its end), bounded by
//                                 limits.maxHeldStreamBytes (<= 20 MiB)
//   [9] {Algo, Buf}               compressed: Buf is LZW-decoded while it streams
//   [type] body                   ping / ack / err / user: read whole (small)
//   [6] header, nodes, userState  push/pull: only the header is read here; the
//                                 caller merges the node states and the user
//                                 state from `body` as they arrive
//                                 (memberlist/push-pull.ts)
//
// Every byte count is bounded: the stream and its decompressed form by
// limits.maxPushPullBytes, one msgpack object by limits.maxStreamObjectBytes.

import { AgentError } from '../../errors.ts';
import { ByteCursor, lzwSource, type ChunkSource } from './byte-cursor.ts';
import { LZW_ALGO } from './compress-message.ts';
import type { Keyring } from './keyring.ts';
import { decodeMessage, MessageType, type AckMessage, type PingMessage } from './memberlist-messages.ts';
import { asBool, asMap, asStr, asUint } from './msgpack.ts';
import { decodeNodeState, ERR_LOCAL_NOT_ENCRYPTED, ERR_REMOTE_NOT_ENCRYPTED, MAX_PUSH_STATE_BYTES, STREAM_ENCRYPT_HEADER, type PushNodeState } from './stream.ts';

/** The bounds the reader applies (a subset of config/limits.ts's Limits). */
export interface StreamLimits {
  /** The stream, and its decompressed form, at most this many bytes. */
  maxPushPullBytes: number;
  /** An encrypted blob or a user message is held whole: at most this many bytes. */
  maxHeldStreamBytes: number;
  /** One msgpack object (a header, a node state) at most this many bytes. */
  maxStreamObjectBytes: number;
}

export interface StreamReaderOptions {
  limits: StreamLimits;
  /** Our keyring when encryption is on; a plaintext stream is then refused. */
  keyring: Keyring | null | undefined;
}

/** A source of stream chunks; a transport Stream also lets the reader's own time off its deadline. */
export interface StreamSource extends ChunkSource {
  excludeReaderTime?(): void;
}

/** A push/pull whose header has been read; its node states and user state follow in `body`. */
export interface IncomingPushPull {
  type: 'pushPull';
  join: boolean;
  nodeCount: number;
  userStateLen: number;
  /** Positioned at the first node state. */
  body: ByteCursor;
  /** The most bytes held at once by every layer of the stream (raw, decrypted, decompressed). */
  peakHeld(): number;
}

/** The messages other than push/pull, read whole. */
export type SmallStreamMessage =
  | PingMessage
  | AckMessage
  | { type: 'user'; payload: Uint8Array }
  | { type: 'err'; error: string };

export type StreamRead = IncomingPushPull | SmallStreamMessage;

/** A push/pull read to its end (readStreamBytes). */
export interface StreamPushPull {
  type: 'pushPull';
  join: boolean;
  nodes: PushNodeState[];
  nodeCount: number;
  userState: Uint8Array;
}

export type StreamMessage = StreamPushPull | SmallStreamMessage;

function asDecodeError(e: unknown): never {
  if (e instanceof AgentError) throw e;
  throw new AgentError('E_DECODE', `stream: ${(e as Error).message}`, { reason: 'msgpack' });
}

/**
 * Reads the one message of a stream. Rejects E_IO {eof} on an empty stream,
 * E_DECRYPT (encryption mismatch, no key opens it), E_TOO_LARGE (over a bound),
 * E_DECODE (malformed or truncated).
 */
export async function readStreamMessage(source: StreamSource, opts: StreamReaderOptions): Promise<StreamRead> {
  const { limits, keyring } = opts;
  const max = limits.maxPushPullBytes;
  const raw = new ByteCursor(source, max, 'stream');
  if (await raw.atEnd()) throw new AgentError('E_IO', 'EOF', { eof: true });
  let plain = raw;
  try {
    if ((await raw.peekByte()) === MessageType.encrypt) {
      if (!keyring) throw new AgentError('E_DECRYPT', ERR_LOCAL_NOT_ENCRYPTED);
      const header = await raw.take(STREAM_ENCRYPT_HEADER);
      const len = new DataView(header.buffer).getUint32(1);
      const cap = Math.min(max, limits.maxHeldStreamBytes, MAX_PUSH_STATE_BYTES);
      if (len > cap) throw new AgentError('E_TOO_LARGE', `encrypted stream of ${len} bytes exceeds ${cap}`);
      const blob = await raw.take(len);
      plain = ByteCursor.over(keyring.decrypt(blob, header), 'decrypted stream');
      if (await plain.atEnd()) throw new AgentError('E_DECODE', 'empty stream message');
    } else if (keyring) {
      throw new AgentError('E_DECRYPT', ERR_REMOTE_NOT_ENCRYPTED);
    }
    const msg = await readMessage(limits, plain, true);
    if (msg.type === 'pushPull') {
      const inner = msg.body;
      // Go reads the whole state within TCPTimeout and merges afterwards; we
      // merge while reading, so only the waits for the peer count.
      source.excludeReaderTime?.();
      msg.peakHeld = () => Math.max(raw.peakHeld, plain.peakHeld, inner.peakHeld);
    }
    return msg;
  } catch (e) {
    return asDecodeError(e);
  }
}

async function readMessage(limits: StreamLimits, cur: ByteCursor, outer: boolean): Promise<StreamRead> {
  const objMax = limits.maxStreamObjectBytes;
  const t = await cur.byte();
  switch (t) {
    case MessageType.compress:
      if (!outer) break;
      return readMessage(limits, await decompressing(limits, cur), false);
    case MessageType.ping:
    case MessageType.ackResp:
    case MessageType.err: {
      const { raw } = await cur.object(objMax);
      const framed = new Uint8Array(raw.length + 1);
      framed[0] = t;
      framed.set(raw, 1);
      const m = decodeMessage(framed);
      if (m.type === 'ping' || m.type === 'ack' || m.type === 'err') return m;
      break;
    }
    case MessageType.user: {
      const len = asUint(asMap((await cur.object(objMax)).value, 'userMsgHeader').UserMsgLen, 'UserMsgLen');
      if (len > limits.maxHeldStreamBytes) throw new AgentError('E_TOO_LARGE', `user message of ${len} bytes exceeds ${limits.maxHeldStreamBytes}`);
      return { type: 'user', payload: await cur.take(len) };
    }
    case MessageType.pushPull: {
      const h = asMap((await cur.object(objMax)).value, 'pushPullHeader');
      const join = asBool(h.Join, 'Join');
      const nodeCount = asUint(h.Nodes, 'Nodes');
      const userStateLen = asUint(h.UserStateLen, 'UserStateLen');
      const max = limits.maxPushPullBytes;
      // Each node state takes at least one byte of the stream.
      if (userStateLen > max || nodeCount > max) throw new AgentError('E_TOO_LARGE', 'push/pull header over the size limit');
      return { type: 'pushPull', join, nodeCount, userStateLen, body: cur, peakHeld: () => cur.peakHeld };
    }
    default:
      break;
  }
  throw new AgentError('E_DECODE', `unexpected stream message type ${t}`, { reason: 'unknown-type', msgType: t });
}

/**
 * The compress message `[9] {Algo, Buf}` (keys sorted by Go's encoder: Algo
 * first). Returns a cursor over the decompressed message, decoded as Buf's
 * bytes arrive. A Buf before any Algo is taken as LZW, the only algorithm.
 */
async function decompressing(limits: StreamLimits, cur: ByteCursor): Promise<ByteCursor> {
  const max = limits.maxPushPullBytes;
  const h = await cur.containerHeader();
  if (!h || h.kind !== 'map') throw new AgentError('E_DECODE', 'compress message is not a map', { reason: 'msgpack' });
  for (let i = 0; i < h.count; i++) {
    const key = asStr((await cur.object(64)).value, 'compress key');
    if (key === 'Buf') {
      const n = await cur.bytesHeader();
      const inner = new ByteCursor(lzwSource(cur.slice(n), max), max, 'decompressed stream');
      if (await inner.atEnd()) throw new AgentError('E_DECODE', 'empty decompressed message', { reason: 'compress' });
      return inner;
    }
    const { value } = await cur.object(limits.maxStreamObjectBytes);
    if (key === 'Algo') {
      const algo = asUint(value, 'Algo', 0xff);
      if (algo !== LZW_ALGO) throw new AgentError('E_DECODE', `Cannot decompress unknown algorithm ${algo}`, { reason: 'compress' });
    }
  }
  throw new AgentError('E_DECODE', 'compress message without Buf', { reason: 'msgpack' });
}

/** Options of readStreamBytes: `maxBytes` bounds every limit (default 32 MiB, like the edge limits). */
export interface StreamBytesOptions {
  keyring?: Keyring | null;
  maxBytes?: number;
  limits?: StreamLimits;
}

/**
 * Reads a stream already in memory — whole, or as the chunks given (to
 * exercise every split) — through the same reader, then the push/pull's node
 * states and user state to their end. For tests, fuzzers and the bench swarm.
 */
export function readStreamBytes(bytes: Uint8Array | readonly Uint8Array[], opts: StreamBytesOptions = {}): Promise<StreamMessage> {
  const chunks = bytes instanceof Uint8Array ? [bytes] : [...bytes];
  let i = 0;
  return readWholeStream({ read: async () => (i < chunks.length ? chunks[i++]! : null) }, opts);
}

/** readStreamBytes on any chunk source (a test's socket). */
export async function readWholeStream(source: ChunkSource, opts: StreamBytesOptions = {}): Promise<StreamMessage> {
  const maxBytes = opts.maxBytes ?? 32 * 1024 * 1024;
  const limits = opts.limits ?? { maxPushPullBytes: maxBytes, maxHeldStreamBytes: maxBytes, maxStreamObjectBytes: maxBytes };
  const msg = await readStreamMessage(source, { limits, keyring: opts.keyring?.isEnabled() ? opts.keyring : null });
  if (msg.type !== 'pushPull') return msg;
  const nodes: PushNodeState[] = [];
  try {
    await msg.body.forEach(msg.nodeCount, limits.maxStreamObjectBytes, (value) => { nodes.push(decodeNodeState(asMap(value, 'pushNodeState'))); });
    const userState = await msg.body.take(msg.userStateLen);
    return { type: 'pushPull', join: msg.join, nodes, nodeCount: msg.nodeCount, userState };
  } catch (e) {
    return asDecodeError(e);
  }
}
