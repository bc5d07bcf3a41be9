// bzip2 for Cloudy's `services` tag, pure JS (no native module, so it runs on
// every box the agent targets).
//
// Real Cloudy nodes run `bzip2` with its default block size, -9, so every tag
// value starts with "BZh9" (base64 "QlpoOT"). Decoding uses compressjs.
// Encoding uses bzip2-encoder.ts (compressjs's BWT, bzip2's own table choice
// plus a search for smaller tables): compressjs's own encoder makes small
// inputs 10-20% larger than `bzip2`, ours is never larger than `bzip2 -9` and
// about 4.5% smaller on service lists, which lets a node announce more
// services in the 512-byte tag. Both directions are tested against the real
// `bzip2` (test/discovery/bzip2.test.ts, bzip2-corpus.real.test.ts).
import Bzip2 from 'compressjs/lib/Bzip2.js';
import { AgentError, errorMessage } from '../errors.ts';
import { bzip2Encode } from './bzip2-encoder.ts';

export function bzip2Compress(data: Uint8Array): Uint8Array {
  return bzip2Encode(data);
}

/** Thrown from inside the decoder to stop a bzip2 bomb early. */
class OutputLimitReached extends Error {}

/**
 * Decompresses one bzip2 stream (plus concatenated streams, as `bunzip2` does).
 * Output is capped at `maxBytes`: a tag of a few hundred bytes can expand to
 * many megabytes (bzip2's run-length stages), and the tag comes off the network.
 * Throws AgentError E_DECODE (not bzip2, corrupt, CRC) or E_TOO_LARGE (over cap).
 */
export function bzip2Decompress(data: Uint8Array, maxBytes: number): Uint8Array {
  if (data.length < 4 || data[0] !== 0x42 || data[1] !== 0x5a || data[2] !== 0x68) {
    throw new AgentError('E_DECODE', 'not bzip2 data (no "BZh" header)');
  }
  const chunks: Uint8Array[] = [];
  let current = new Uint8Array(Math.min(4096, Math.max(1, maxBytes)));
  let pos = 0;
  let total = 0;
  const out = {
    writeByte(b: number): void {
      if (total >= maxBytes) throw new OutputLimitReached();
      if (pos === current.length) {
        chunks.push(current);
        current = new Uint8Array(Math.min(65536, current.length * 2));
        pos = 0;
      }
      current[pos++] = b;
      total++;
    },
    flush(): void {},
  };
  try {
    Bzip2.decompressFile(data, out, true);
  } catch (e) {
    if (e instanceof OutputLimitReached) {
      throw new AgentError('E_TOO_LARGE', `bzip2 data expands beyond ${maxBytes} bytes`, { maxBytes });
    }
    throw new AgentError('E_DECODE', `bad bzip2 data: ${errorMessage(e)}`);
  }
  const result = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) { result.set(c, off); off += c.length; }
  result.set(current.subarray(0, pos), off);
  return result;
}
