// Reading the one message of a gossip TCP stream (memberlist readStream) as
// its bytes arrive, through a ByteCursor (wire/byte-cursor.ts):
//
//   [10][len u32][AES-GCM blob]   encrypted: the blob is read whole (GCM
//                                 authenticates only at its end), bounded by
//                                 limits.maxHeldStreamBytes (<= 20 MiB)
//   [9] {Algo, Buf}               compressed: Buf is LZW-decoded while it streams
//   [type] body                   ping / ack / err / user: read whole (small)
//   [6] header, nodes, userState  push/pull: only the header is read here; the
//                                 caller merges the node states and the user
//                                 state from `body` as they arrive (push-pull.ts)
//
// Every byte count is bounded: the stream and its decompressed form by
// limits.maxPushPullBytes, one msgpack object by limits.maxStreamObjectBytes.

import { AgentError } from '../../errors.ts';
import type { Stream } from '../transport/types.ts';
import { ERR_LOCAL_NOT_ENCRYPTED, ERR_REMOTE_NOT_ENCRYPTED, MAX_PUSH_STATE_BYTES, STREAM_ENCRYPT_HEADER, type StreamMessage } from '../wire/stream.ts';
import { ByteCursor, lzwSource } from '../wire/byte-cursor.ts';
import { LZW_ALGO } from '../wire/compress-message.ts';
import { decodeMessage, MessageType } from '../wire/memberlist-messages.ts';
import { asBool, asMap, asStr, asUint } from '../wire/msgpack.ts';
import type { Core } from './core.ts';

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

export type StreamRead = IncomingPushPull | Exclude<StreamMessage, { type: 'pushPull' }>;

function asDecodeError(e: unknown): never {
  if (e instanceof AgentError) throw e;
  throw new AgentError('E_DECODE', `stream: ${(e as Error).message}`, { reason: 'msgpack' });
}

export async function readStreamMessage(core: Core, stream: Stream): Promise<StreamRead> {
  const max = core.limits.maxPushPullBytes;
  const raw = new ByteCursor(stream, max, 'stream');
  if (await raw.atEnd()) throw new AgentError('E_IO', 'EOF', { eof: true });
  const keyring = core.keyring();
  let plain = raw;
  try {
    if ((await raw.peekByte()) === MessageType.encrypt) {
      if (!keyring) throw new AgentError('E_DECRYPT', ERR_LOCAL_NOT_ENCRYPTED);
      const header = await raw.take(STREAM_ENCRYPT_HEADER);
      const len = new DataView(header.buffer).getUint32(1);
      const cap = Math.min(max, core.limits.maxHeldStreamBytes, MAX_PUSH_STATE_BYTES);
      if (len > cap) throw new AgentError('E_TOO_LARGE', `encrypted stream of ${len} bytes exceeds ${cap}`);
      const blob = await raw.take(len);
      plain = ByteCursor.over(keyring.decrypt(blob, header), 'decrypted stream');
      if (await plain.atEnd()) throw new AgentError('E_DECODE', 'empty stream message');
    } else if (keyring) {
      throw new AgentError('E_DECRYPT', ERR_REMOTE_NOT_ENCRYPTED);
    }
    const msg = await readMessage(core, plain, true);
    if (msg.type === 'pushPull') {
      const inner = msg.body;
      // Go reads the whole state within TCPTimeout and merges afterwards; we
      // merge while reading, so only the waits for the peer count.
      stream.excludeReaderTime();
      msg.peakHeld = () => Math.max(raw.peakHeld, plain.peakHeld, inner.peakHeld);
    }
    return msg;
  } catch (e) {
    return asDecodeError(e);
  }
}

async function readMessage(core: Core, cur: ByteCursor, outer: boolean): Promise<StreamRead> {
  const objMax = core.limits.maxStreamObjectBytes;
  const t = await cur.byte();
  switch (t) {
    case MessageType.compress:
      if (!outer) break;
      return readMessage(core, await decompressing(core, cur), false);
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
      if (len > core.limits.maxHeldStreamBytes) throw new AgentError('E_TOO_LARGE', `user message of ${len} bytes exceeds ${core.limits.maxHeldStreamBytes}`);
      return { type: 'user', payload: await cur.take(len) };
    }
    case MessageType.pushPull: {
      const h = asMap((await cur.object(objMax)).value, 'pushPullHeader');
      const join = asBool(h.Join, 'Join');
      const nodeCount = asUint(h.Nodes, 'Nodes');
      const userStateLen = asUint(h.UserStateLen, 'UserStateLen');
      const max = core.limits.maxPushPullBytes;
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
async function decompressing(core: Core, cur: ByteCursor): Promise<ByteCursor> {
  const max = core.limits.maxPushPullBytes;
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
    const { value } = await cur.object(core.limits.maxStreamObjectBytes);
    if (key === 'Algo') {
      const algo = asUint(value, 'Algo', 0xff);
      if (algo !== LZW_ALGO) throw new AgentError('E_DECODE', `Cannot decompress unknown algorithm ${algo}`, { reason: 'compress' });
    }
  }
  throw new AgentError('E_DECODE', 'compress message without Buf', { reason: 'msgpack' });
}
