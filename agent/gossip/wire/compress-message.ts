// The compress message (type 9): `[9] msgpack({Algo: uint8, Buf: []byte})`, Algo 0 = LZW
// (SERF-PROTOCOL.md §2.6). Shared by the UDP packet and TCP stream codecs.
import { AgentError } from '../../errors.ts';
import { lzwCompress, lzwDecompress, lzwError } from './lzw.ts';
import { asBytes, asMap, asUint, encodeGoWithPrefix, type Decoded } from './msgpack.ts';
import { MessageType } from './memberlist-messages.ts';

/** memberlist's only compression algorithm (lzwAlgo). */
export const LZW_ALGO = 0;

/** Wraps a complete message `[type][body]` into a compress message. */
export function encodeCompressMessage(msg: Uint8Array): Uint8Array {
  return encodeGoWithPrefix([MessageType.compress], { Algo: LZW_ALGO, Buf: lzwCompress(msg) });
}

/**
 * Decompresses the decoded msgpack body of a compress message into the inner
 * message. Throws E_DECODE with details.reason 'compress' (bad algo, bad LZW)
 * or 'msgpack' (bad body), E_TOO_LARGE with reason 'too-large' (beyond maxOut).
 */
export function decompressBody(body: Decoded, maxOut: number): Uint8Array {
  let algo: number;
  let buf: Uint8Array;
  try {
    const m = asMap(body, 'compress');
    algo = asUint(m.Algo, 'Algo', 0xff);
    buf = asBytes(m.Buf, 'Buf');
  } catch (e) {
    throw new AgentError('E_DECODE', (e as Error).message, { reason: 'msgpack' });
  }
  if (algo !== LZW_ALGO) throw new AgentError('E_DECODE', `Cannot decompress unknown algorithm ${algo}`, { reason: 'compress' });
  try {
    return lzwDecompress(buf, maxOut);
  } catch (e) {
    throw lzwError(e, 'decompressed message', maxOut);
  }
}
