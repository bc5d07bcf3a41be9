// Reading one framed message from a gossip TCP stream (memberlist readStream):
// bytes are accumulated up to limits.maxPushPullBytes (beyond: E_TOO_LARGE,
// the caller counts it and closes), and wire/stream.ts's parseStream is asked
// whether the message is complete. Parsing is retried only when the buffer has
// grown enough (geometric), so a large push/pull costs O(size) parse work.
//
// Node states are never collected into an array here: parseStream reports them
// one by one through `onNodeState`, and the caller makes two passes over the
// (bounded) buffer - one to verify protocol versions, one to merge.

import { AgentError } from '../../errors.ts';
import type { Stream } from '../transport/types.ts';
import { parseStream, type PushNodeState, type StreamMessage } from '../wire/stream.ts';
import type { Core } from './core.ts';

/** Re-parse a partial buffer only after it grew by this factor (small buffers: every chunk). */
const REPARSE_GROWTH = 1.5;
const SMALL_STREAM = 64 * 1024;

export interface ReadResult { msg: StreamMessage; buf: Uint8Array }

export async function readStreamMessage(
  core: Core,
  stream: Stream,
  onNodeState?: (n: PushNodeState) => void,
  beginAttempt?: () => void,
): Promise<ReadResult> {
  const max = core.limits.maxPushPullBytes;
  const keyring = core.keyring();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let lastAttempt = 0;
  let joined: Uint8Array | null = null;
  const join = (): Uint8Array => {
    if (joined && joined.length === total) return joined;
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) { out.set(c, off); off += c.length; }
    chunks.length = 0;
    chunks.push(out);
    joined = out;
    return out;
  };
  const attempt = (): StreamMessage | null => {
    lastAttempt = total;
    beginAttempt?.();
    const buf = join();
    const r = parseStream(buf, { ...(keyring ? { keyring } : {}), maxBytes: max, ...(onNodeState ? { onNodeState } : {}) });
    return r.status === 'done' ? r.msg : null;
  };
  for (;;) {
    const c = await stream.read();
    if (c === null) {
      if (total === 0) throw new AgentError('E_IO', 'EOF', { eof: true });
      const msg = attempt();
      if (msg) return { msg, buf: join() };
      throw new AgentError('E_DECODE', 'stream ended inside a message', { reason: 'truncated' });
    }
    if (c.length === 0) continue;
    total += c.length;
    if (total > max) throw new AgentError('E_TOO_LARGE', `stream larger than ${max} bytes`);
    chunks.push(c);
    if (total <= SMALL_STREAM || total >= lastAttempt * REPARSE_GROWTH) {
      const msg = attempt();
      if (msg) return { msg, buf: join() };
    }
  }
}

/** Re-parses a complete buffer (second pass over a push/pull). */
export function reparse(core: Core, buf: Uint8Array, onNodeState: (n: PushNodeState) => void): StreamMessage {
  const keyring = core.keyring();
  const r = parseStream(buf, { ...(keyring ? { keyring } : {}), maxBytes: core.limits.maxPushPullBytes, onNodeState });
  if (r.status !== 'done') throw new AgentError('E_DECODE', 'push/pull changed between passes');
  return r.msg;
}

/** Writes and ends nothing: the caller closes. */
export async function writeAll(stream: Stream, buf: Uint8Array): Promise<void> {
  await stream.write(buf);
}
