// UDP packet pipeline of memberlist 0.2.2 (SERF-PROTOCOL.md §2.3-2.7).
// Send:    message(s) -> compound -> compress (only if shorter) -> hasCrc -> encrypt.
// Receive: decrypt -> hasCrc (outermost only) -> compress/compound recursion.
// decodePacket never throws: network garbage becomes entries in `errors` with a
// stable code the caller counts in stats.
import { AgentError } from '../../errors.ts';
import { EDGE_LIMITS } from '../../config/limits.ts';
import { crc32 } from './crc32.ts';
import { decodeGo } from './msgpack.ts';
import { Keyring } from './keyring.ts';
import { decodeMessage, MessageType, type MemberlistMessage } from './memberlist-messages.ts';
import { decompressBody, encodeCompressMessage } from './compress-message.ts';

/** Compound header: type byte + part count (uint8); then a uint16 length per part. */
export const COMPOUND_HEADER_OVERHEAD = 2;
export const COMPOUND_OVERHEAD_PER_PART = 2;
/** At most 255 parts: the count is one byte. */
export const MAX_COMPOUND_PARTS = 255;
/** [12][crc32 u32] */
export const CRC_HEADER_SIZE = 5;
/** Receive buffer size memberlist uses; larger datagrams cannot arrive from Go. */
export const UDP_RECV_BUFFER = 65536;
/** Containers (compound / compress) nested deeper than this are dropped. Go builds at most compress(compound(...)). */
export const MAX_PACKET_NESTING = 8;

/** Every error code decodePacket reports (e.g. to pre-register stats counters). */
export const PACKET_ERROR_CODES = ['decrypt', 'crc', 'truncated', 'unknown-type', 'msgpack', 'compress', 'too-large', 'empty', 'nesting'] as const;
export type PacketErrorCode = (typeof PACKET_ERROR_CODES)[number];

export interface PacketError { code: PacketErrorCode; detail: string }

export interface EncodePacketOptions { compress: boolean; crc: boolean; keyring?: Keyring }
export interface DecodePacketOptions { keyring?: Keyring; maxDecompressed?: number }

/** `[7][n][len_1 u16]...[len_n u16][msg_1]...[msg_n]`. Throws E_INVALID for > 255 parts or a part > 65535 bytes. */
export function makeCompound(parts: Uint8Array[]): Uint8Array {
  if (parts.length > MAX_COMPOUND_PARTS) throw new AgentError('E_INVALID', `compound of ${parts.length} parts (max 255)`);
  let total = COMPOUND_HEADER_OVERHEAD + COMPOUND_OVERHEAD_PER_PART * parts.length;
  for (const p of parts) {
    if (p.length > 0xffff) throw new AgentError('E_INVALID', `compound part of ${p.length} bytes (max 65535)`);
    total += p.length;
  }
  const out = new Uint8Array(total);
  out[0] = MessageType.compound;
  out[1] = parts.length;
  let off = 2;
  for (const p of parts) { out[off++] = p.length >> 8; out[off++] = p.length & 0xff; }
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/** Builds one datagram from one or more complete messages. */
export function encodePacket(parts: Uint8Array[], opts: EncodePacketOptions): Uint8Array {
  if (parts.length === 0) throw new AgentError('E_INVALID', 'packet without messages');
  let msg = parts.length === 1 ? parts[0]! : makeCompound(parts);
  if (opts.compress) {
    const c = encodeCompressMessage(msg);
    if (c.length < msg.length) msg = c; // memberlist keeps the compressed form only if strictly shorter
  }
  if (opts.crc) {
    const out = new Uint8Array(CRC_HEADER_SIZE + msg.length);
    out[0] = MessageType.hasCrc;
    new DataView(out.buffer).setUint32(1, crc32(msg));
    out.set(msg, CRC_HEADER_SIZE);
    msg = out;
  }
  if (opts.keyring?.isEnabled()) msg = opts.keyring.encrypt(msg, new Uint8Array(0)); // UDP: empty AAD
  return msg;
}

class PacketDecoder {
  readonly messages: MemberlistMessage[] = [];
  readonly errors: PacketError[] = [];
  constructor(private budget: number) {}

  err(code: PacketErrorCode, detail: string): void {
    this.errors.push({ code, detail });
  }

  handle(buf: Uint8Array, depth: number): void {
    if (buf.length === 0) return this.err('empty', 'missing message type byte');
    const t = buf[0]!;
    if (t === MessageType.compound || t === MessageType.compress) {
      if (depth >= MAX_PACKET_NESTING) return this.err('nesting', `containers nested deeper than ${MAX_PACKET_NESTING}`);
      return t === MessageType.compound ? this.compound(buf, depth) : this.compressed(buf, depth);
    }
    // errResp exists only on TCP streams: memberlist's UDP handler does not know it.
    if (t === MessageType.err) return this.err('unknown-type', `msg type (${t}) not supported`);
    try {
      this.messages.push(decodeMessage(buf));
    } catch (e) {
      const reason = e instanceof AgentError ? e.details?.reason : undefined;
      const code: PacketErrorCode = reason === 'unknown-type' ? 'unknown-type' : reason === 'empty' ? 'empty' : 'msgpack';
      this.err(code, (e as Error).message);
    }
  }

  compound(buf: Uint8Array, depth: number): void {
    if (buf.length < 2) return this.err('truncated', 'missing compound length byte');
    const n = buf[1]!;
    let off = 2;
    if (buf.length - off < n * 2) return this.err('truncated', 'truncated len slice');
    const lengths: number[] = [];
    for (let i = 0; i < n; i++) { lengths.push((buf[off]! << 8) | buf[off + 1]!); off += 2; }
    for (let i = 0; i < n; i++) {
      const len = lengths[i]!;
      if (buf.length - off < len) {
        // memberlist drops this and every following part, counting each as truncated.
        for (let j = i; j < n; j++) this.err('truncated', `compound part ${j + 1}/${n} truncated`);
        return;
      }
      this.handle(buf.subarray(off, off + len), depth + 1);
      off += len;
    }
  }

  compressed(buf: Uint8Array, depth: number): void {
    let inner: Uint8Array;
    try {
      inner = decompressBody(decodeGo(buf, 1).value, this.budget);
    } catch (e) {
      const reason = e instanceof AgentError ? e.details?.reason : undefined;
      const code: PacketErrorCode = reason === 'too-large' ? 'too-large' : reason === 'compress' ? 'compress' : 'msgpack';
      return this.err(code, (e as Error).message);
    }
    this.budget -= inner.length; // one budget for the whole packet, across nesting levels
    this.handle(inner, depth + 1);
  }
}

/**
 * Decodes one datagram into its messages. With an enabled keyring, the datagram
 * must decrypt (plaintext is rejected like serf's GossipVerifyIncoming). Never throws.
 */
export function decodePacket(data: Uint8Array, opts: DecodePacketOptions = {}): { messages: MemberlistMessage[]; errors: PacketError[] } {
  const d = new PacketDecoder(opts.maxDecompressed ?? EDGE_LIMITS.maxDecompressedPacketBytes);
  let buf = data;
  if (opts.keyring?.isEnabled()) {
    try {
      buf = opts.keyring.decrypt(buf, new Uint8Array(0));
    } catch (e) {
      d.err('decrypt', (e as Error).message);
      return d;
    }
  }
  if (buf.length >= CRC_HEADER_SIZE && buf[0] === MessageType.hasCrc) {
    const want = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(1);
    const inner = buf.subarray(CRC_HEADER_SIZE);
    const got = crc32(inner);
    if (got !== want) {
      d.err('crc', `CRC mismatch: header ${want.toString(16)}, computed ${got.toString(16)}`);
      return d;
    }
    buf = inner;
  }
  try {
    d.handle(buf, 0);
  } catch (e) {
    // Defensive: the decoder above should not throw; a bug must not kill the receive loop.
    d.err('msgpack', `internal: ${(e as Error).message}`);
  }
  return { messages: d.messages, errors: d.errors };
}
