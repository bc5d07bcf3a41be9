// Reading one framed message from a gossip TCP stream (memberlist readStream):
// bytes are accumulated up to limits.maxPushPullBytes (beyond: E_TOO_LARGE,
// the caller counts it and closes) until the message is complete.
//
// Push/pull gets a dedicated path so that a 50,000-member state never blocks
// the event loop or becomes an array: completeness is checked by skipping
// msgpack objects (no decoding), the state is decrypted/decompressed once, and
// node states are decoded lazily by `nodeStates` while merging in batches.
// Small messages (ping, ack, user, err) go through wire/stream.ts parseStream.

import { AgentError } from '../../errors.ts';
import type { Stream } from '../transport/types.ts';
import {
  ERR_LOCAL_NOT_ENCRYPTED, ERR_REMOTE_NOT_ENCRYPTED, MAX_PUSH_STATE_BYTES, parseStream, STREAM_ENCRYPT_HEADER,
  type PushNodeState, type StreamMessage,
} from '../wire/stream.ts';
import { decompressBody } from '../wire/compress-message.ts';
import { MessageType } from '../wire/memberlist-messages.ts';
import { asBool, asBytes, asInt, asMap, asStr, asUint, decodeGo, NeedMoreData, skipGo } from '../wire/msgpack.ts';
import type { Core } from './core.ts';

/** Re-check a partial buffer only after it grew by this factor (small buffers: every chunk). */
const REPARSE_GROWTH = 1.5;
const SMALL_STREAM = 64 * 1024;

/** A complete push/pull, still encoded: `plain` is the `[6]…` message after decryption/decompression. */
export interface PushPullFrame {
  type: 'pushPull';
  join: boolean;
  nodeCount: number;
  userState: Uint8Array;
  plain: Uint8Array;
  /** Offset of the first node state in `plain`. */
  nodesStart: number;
}

export type StreamRead = PushPullFrame | Exclude<StreamMessage, { type: 'pushPull' }>;

class Incomplete extends Error {}

function needMore(complete: boolean): never {
  if (complete) throw new AgentError('E_DECODE', 'stream truncated', { reason: 'truncated' });
  throw new Incomplete();
}

function skip(buf: Uint8Array, off: number, complete: boolean): number {
  try { return skipGo(buf, off); } catch (e) {
    if (e instanceof NeedMoreData) needMore(complete);
    throw e;
  }
}

/** Frames a push/pull or returns null for other messages (parsed by parseStream). Throws Incomplete. */
function framePushPull(core: Core, buf: Uint8Array, eof: boolean): PushPullFrame | null {
  const max = core.limits.maxPushPullBytes;
  const keyring = core.keyring();
  let plain = buf;
  let complete = eof;
  if (buf[0] === MessageType.encrypt) {
    if (!keyring) throw new AgentError('E_DECRYPT', ERR_LOCAL_NOT_ENCRYPTED);
    if (buf.length < STREAM_ENCRYPT_HEADER) needMore(complete);
    const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(1);
    if (len > Math.min(max, MAX_PUSH_STATE_BYTES)) throw new AgentError('E_TOO_LARGE', `encrypted stream of ${len} bytes`);
    if (buf.length < STREAM_ENCRYPT_HEADER + len) needMore(complete);
    plain = keyring.decrypt(buf.subarray(STREAM_ENCRYPT_HEADER, STREAM_ENCRYPT_HEADER + len), buf.subarray(0, STREAM_ENCRYPT_HEADER));
    complete = true;
  } else if (keyring) {
    throw new AgentError('E_DECRYPT', ERR_REMOTE_NOT_ENCRYPTED);
  }
  if (plain.length === 0) needMore(complete);
  if (plain[0] === MessageType.compress) {
    const end = skip(plain, 1, complete);
    try {
      plain = decompressBody(decodeGo(plain, 1, end).value, max);
    } catch (e) {
      if (e instanceof AgentError && e.details?.reason === 'too-large') throw new AgentError('E_TOO_LARGE', `decompressed stream over ${max} bytes`);
      throw e;
    }
    complete = true;
    if (plain.length === 0) throw new AgentError('E_DECODE', 'empty decompressed message');
  }
  if (plain[0] !== MessageType.pushPull) return null;
  const headEnd = skip(plain, 1, complete);
  const h = asMap(decodeGo(plain, 1, headEnd).value, 'pushPullHeader');
  const join = asBool(h.Join, 'Join');
  const nodeCount = asUint(h.Nodes, 'Nodes');
  const userLen = asUint(h.UserStateLen, 'UserStateLen');
  if (userLen > max || nodeCount > max) throw new AgentError('E_TOO_LARGE', 'push/pull header over the size limit');
  let off = headEnd;
  for (let i = 0; i < nodeCount; i++) off = skip(plain, off, complete);
  if (plain.length < off + userLen) needMore(complete);
  return { type: 'pushPull', join, nodeCount, userState: plain.slice(off, off + userLen), plain, nodesStart: headEnd };
}

function attempt(core: Core, buf: Uint8Array, eof: boolean): StreamRead | null {
  try {
    const pp = framePushPull(core, buf, eof);
    if (pp) return pp;
  } catch (e) {
    if (e instanceof Incomplete) return null;
    if (e instanceof AgentError) throw e;
    throw new AgentError('E_DECODE', `stream: ${(e as Error).message}`);
  }
  const keyring = core.keyring();
  const r = parseStream(buf, { ...(keyring ? { keyring } : {}), maxBytes: core.limits.maxPushPullBytes });
  if (r.status === 'done') {
    if (r.msg.type === 'pushPull') throw new AgentError('E_DECODE', 'unexpected push/pull framing');
    return r.msg;
  }
  if (eof) throw new AgentError('E_DECODE', 'stream ended inside a message', { reason: 'truncated' });
  return null;
}

export async function readStreamMessage(core: Core, stream: Stream): Promise<StreamRead> {
  const max = core.limits.maxPushPullBytes;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let lastAttempt = 0;
  const joined = (): Uint8Array => {
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) { out.set(c, off); off += c.length; }
    chunks.length = 0;
    chunks.push(out);
    return out;
  };
  for (;;) {
    const c = await stream.read();
    if (c === null) {
      if (total === 0) throw new AgentError('E_IO', 'EOF', { eof: true });
      const msg = attempt(core, joined(), true);
      if (msg) return msg;
      throw new AgentError('E_DECODE', 'stream ended inside a message', { reason: 'truncated' });
    }
    if (c.length === 0) continue;
    total += c.length;
    if (total > max) throw new AgentError('E_TOO_LARGE', `stream larger than ${max} bytes`);
    chunks.push(c);
    if (total <= SMALL_STREAM || total >= lastAttempt * REPARSE_GROWTH) {
      lastAttempt = total;
      const msg = attempt(core, joined(), false);
      if (msg) return msg;
    }
  }
}

/** Node states of a framed push/pull, decoded one at a time (only the current one is alive). */
export function* nodeStates(f: PushPullFrame): Generator<PushNodeState> {
  let off = f.nodesStart;
  for (let i = 0; i < f.nodeCount; i++) {
    const { value, end } = decodeGo(f.plain, off);
    off = end;
    const v = asMap(value, 'pushNodeState');
    const state = asInt(v.State, 'State');
    if (state < 0 || state > 3) throw new AgentError('E_DECODE', `push/pull node state ${state} unknown`);
    yield {
      name: asStr(v.Name, 'Name'), addr: asBytes(v.Addr, 'Addr'), port: asUint(v.Port, 'Port', 0xffff),
      meta: asBytes(v.Meta, 'Meta'), incarnation: asUint(v.Incarnation, 'Incarnation', 0xffffffff),
      state: state as PushNodeState['state'], vsn: asBytes(v.Vsn, 'Vsn'),
    };
  }
}
