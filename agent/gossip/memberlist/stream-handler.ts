// Inbound gossip TCP streams (memberlist net.go handleConn): push/pull (we
// answer with our state, then merge theirs), TCP ping (ack), user message.
// Decode/decrypt failures are answered with an errResp like memberlist does;
// an oversized state is refused (counted) and the connection closed cleanly.

import { errorMessage, isAgentError } from '../../errors.ts';
import type { Stream } from '../transport/types.ts';
import { encodeMessage } from '../wire/memberlist-messages.ts';
import { encodeStreamMessage } from '../wire/stream.ts';
import { MAX_PUSH_PULL_REQUESTS } from './config.ts';
import type { Core } from './core.ts';
import { encodeLocalState, mergeRemoteState } from './push-pull.ts';
import { countStreamError } from './stream-client.ts';
import { readStreamMessage } from '../wire/stream-reader.ts';

function wrap(core: Core, msg: Uint8Array): Uint8Array {
  const keyring = core.keyring();
  return encodeStreamMessage(msg, { compress: core.cfg.compression, ...(keyring ? { keyring } : {}) });
}

export function handleStream(core: Core, stream: Stream): void {
  serve(core, stream).catch((e) => {
    core.log.debug(`stream from ${stream.remote.addr}:${stream.remote.port}: ${errorMessage(e)}`);
  }).finally(() => stream.close());
}

async function serve(core: Core, stream: Stream): Promise<void> {
  if (core.stopped) return;
  stream.setDeadline(Date.now() + core.profile.tcpTimeoutMs);
  let msg;
  try {
    msg = await readStreamMessage(stream, { limits: core.limits, keyring: core.keyring() });
  } catch (e) {
    if (isAgentError(e, 'E_IO') && e.details?.eof) return; // connected and closed: silent like Go
    countStreamError(core, e);
    core.log.warn(`failed to receive stream from ${stream.remote.addr}:${stream.remote.port}: ${errorMessage(e)}`);
    if (isAgentError(e, 'E_DECODE') || isAgentError(e, 'E_DECRYPT') || isAgentError(e, 'E_TOO_LARGE')) {
      try { await stream.write(wrap(core, encodeMessage({ type: 'err', error: errorMessage(e) }))); } catch { /* peer gone */ }
    }
    return;
  }
  switch (msg.type) {
    case 'pushPull': {
      core.inboundPushPulls++;
      try {
        if (core.inboundPushPulls > MAX_PUSH_PULL_REQUESTS) {
          core.counters.inc('drop.pushpull.too-many');
          return;
        }
        core.counters.inc(msg.join ? 'pushpull.join.in' : 'pushpull.periodic.in');
        // memberlist reads the whole remote state, answers with ours, then
        // merges. We merge while reading (the state is never held whole), then
        // answer; a refused state is still answered (it was read completely).
        let refused: unknown = null;
        try {
          await mergeRemoteState(core, msg, { drainOnRefusal: true });
        } catch (e) {
          if (!isAgentError(e, 'E_INVALID')) {
            countStreamError(core, e);
            core.log.warn(`failed to receive remote state from ${stream.remote.addr}:${stream.remote.port}: ${errorMessage(e)}`);
            if (isAgentError(e, 'E_DECODE') || isAgentError(e, 'E_TOO_LARGE')) {
              try { await stream.write(wrap(core, encodeMessage({ type: 'err', error: errorMessage(e) }))); } catch { /* peer gone */ }
            }
            return;
          }
          refused = e;
        }
        await stream.write(encodeLocalState(core, msg.join));
        if (refused) core.log.warn(`failed to merge remote state from ${stream.remote.addr}: ${errorMessage(refused)}`);
      } finally {
        core.inboundPushPulls--;
      }
      return;
    }
    case 'ping': {
      if (msg.node !== '' && msg.node !== core.name) {
        core.counters.inc('drop.ping.wrong-node');
        return;
      }
      core.counters.inc('probe.answered.tcp');
      await stream.write(wrap(core, encodeMessage({ type: 'ack', seqNo: msg.seqNo, payload: null })));
      return;
    }
    case 'user': {
      const d = core.cfg.delegate;
      if (d) {
        try { d.notifyMsg(msg.payload); } catch { core.counters.inc('error.delegate'); }
      }
      return;
    }
    default:
      core.counters.inc('decode.tcp.unexpected-type');
      core.log.warn(`received invalid msgType (${msg.type}) on a stream from ${stream.remote.addr}`);
  }
}
