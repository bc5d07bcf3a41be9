// LZW exactly as Go 1.19 `compress/lzw` with order LSB and literal width 8, the
// only algorithm memberlist's compress message uses (Algo 0, SERF-PROTOCOL.md §2.6).
//
// No npm LZW package reproduces Go's variant bit for bit (LSB packing, GIF-style
// Clear 256 / EOF 257, 9..12-bit codes, the "early change" point and the Go 1.19
// leading Clear), and the captured vectors must round-trip byte-identically, so
// both directions are written here.
import { AgentError } from '../../errors.ts';

// Literal width 8 (memberlist: lzwLitWidth = 8).
const LIT_WIDTH = 8;
/** Clear code: resets the dictionary (1 << litWidth). */
const CLEAR = 1 << LIT_WIDTH; // 256
/** End of stream code. */
const EOF = CLEAR + 1; // 257
/** Codes are at most 12 bits wide. */
const MAX_WIDTH = 12;
/** Go's writer resets (Clear) when its next code would be this value. */
const MAX_CODE = (1 << MAX_WIDTH) - 1; // 4095
// Encoder dictionary: open-addressing hash table of (prefixCode << 8 | byte) -> code.
// Go always uses 4 << 12 entries; the codes emitted do not depend on the table's
// size (it is only a dictionary), so small inputs get a smaller table - at most one
// entry is added per input byte - keeping the load factor <= 1/2 either way.
const MAX_TABLE_SIZE = 4 * (1 << MAX_WIDTH);

function tableSizeFor(inputLen: number): number {
  let size = 256;
  while (size < 2 * inputLen && size < MAX_TABLE_SIZE) size *= 2;
  return size;
}

class BitWriter {
  out: Uint8Array;
  len = 0;
  private bits = 0;
  private nBits = 0;
  constructor(sizeHint: number) {
    this.out = new Uint8Array(Math.max(16, sizeHint));
  }
  private pushByte(b: number): void {
    if (this.len === this.out.length) {
      const nb = new Uint8Array(this.out.length * 2);
      nb.set(this.out);
      this.out = nb;
    }
    this.out[this.len++] = b;
  }
  /** LSB-first packing: the code's low bits go into the lowest free bits. */
  write(code: number, width: number): void {
    this.bits |= code << this.nBits;
    this.nBits += width;
    while (this.nBits >= 8) {
      this.pushByte(this.bits & 0xff);
      this.bits >>>= 8;
      this.nBits -= 8;
    }
  }
  /** Flushes the partial last byte, zero-padded. */
  finish(): Uint8Array {
    if (this.nBits > 0) this.pushByte(this.bits & 0xff);
    this.bits = 0;
    this.nBits = 0;
    return this.out.slice(0, this.len);
  }
}

/** Compresses `data` into exactly the bytes Go 1.19 lzw.NewWriter(w, lzw.LSB, 8) writes. */
export function lzwCompress(data: Uint8Array): Uint8Array {
  const w = new BitWriter((data.length >> 1) + 16);
  // Key is (code << 8 | literal) < 2^20; stored as key << 12 | code (fits in 32 bits
  // unsigned); 0 means empty (a real entry always has code >= 258).
  const table = new Uint32Array(tableSizeFor(data.length));
  const TABLE_MASK = table.length - 1;
  let width = LIT_WIDTH + 1;
  let hi = EOF; // last implied code
  let overflow = 1 << width;

  // Go's incHi: returns true when the code space ran out and a Clear was emitted.
  const incHi = (): boolean => {
    hi++;
    if (hi === overflow) {
      width++;
      overflow *= 2;
    }
    if (hi === MAX_CODE) {
      w.write(CLEAR, width);
      width = LIT_WIDTH + 1;
      hi = EOF;
      overflow = 1 << width;
      table.fill(0);
      return true;
    }
    return false;
  };

  // Go 1.19 starts every stream with a Clear code (GIF89a appendix F advice).
  w.write(CLEAR, width);
  if (data.length === 0) {
    w.write(EOF, width);
    return w.finish();
  }
  let code = data[0]!;
  outer: for (let i = 1; i < data.length; i++) {
    const literal = data[i]!;
    const key = ((code << 8) | literal) >>> 0;
    let hash = ((key >>> 12) ^ key) & TABLE_MASK;
    for (let h = hash, t = table[hash]!; t !== 0; ) {
      if (key === t >>> 12) {
        code = t & MAX_CODE;
        continue outer;
      }
      h = (h + 1) & TABLE_MASK;
      t = table[h]!;
    }
    w.write(code, width);
    code = literal;
    if (incHi()) continue;
    for (;;) {
      if (table[hash] === 0) {
        table[hash] = ((key << 12) | hi) >>> 0;
        break;
      }
      hash = (hash + 1) & TABLE_MASK;
    }
  }
  w.write(code, width);
  incHi();
  w.write(EOF, width);
  return w.finish();
}

function bad(msg: string, reason: 'invalid' | 'too-large' = 'invalid'): never {
  throw new AgentError('E_DECODE', `lzw: ${msg}`, { reason });
}

/** Output is handed on in pieces of about this size (plus one code's expansion, at most 4096 bytes). */
const DECODE_CHUNK = 32 * 1024;

/**
 * Incremental Go LSB/8 LZW decoder: compressed bytes go in as they arrive,
 * decompressed pieces come out through `emit` (fresh arrays, at most
 * DECODE_CHUNK + 4096 bytes each), so a large stream is never held whole.
 * Throws AgentError E_DECODE on an invalid code, when the total output would
 * exceed `maxOut` (decompression bomb: details.reason 'too-large'), or from
 * `finish()` when the stream ended before the EOF code. Bytes after the EOF
 * code are ignored, as Go's reader does.
 */
export class LzwDecoder {
  private readonly prefix = new Uint16Array(1 << MAX_WIDTH);
  private readonly suffix = new Uint8Array(1 << MAX_WIDTH);
  /** Expansion length of each defined code. */
  private readonly lengths = new Uint16Array(1 << MAX_WIDTH);
  private width = LIT_WIDTH + 1;
  private hi = EOF;
  private overflow = 1 << (LIT_WIDTH + 1);
  /** -1 = no previous code (after Clear or when the table is full). */
  private last = -1;
  private bits = 0;
  private nBits = 0;
  private total = 0;
  private ended = false;

  constructor(private readonly maxOut: number, private readonly emit: (piece: Uint8Array) => void) {}

  /** True once the EOF code was read. */
  get done(): boolean { return this.ended; }

  /** Total bytes produced so far. */
  get produced(): number { return this.total; }

  push(data: Uint8Array): void {
    if (this.ended) return;
    const { prefix, suffix, lengths } = this;
    let { width, hi, overflow, last, bits, nBits } = this;
    let out = new Uint8Array(Math.min(DECODE_CHUNK + (1 << MAX_WIDTH), Math.max(64, data.length * 4)));
    let o = 0;
    const flush = (): void => {
      if (o === 0) return;
      this.emit(out.slice(0, o));
      o = 0;
    };
    const ensure = (n: number): void => {
      if (this.total + o + n > this.maxOut) bad(`output exceeds ${this.maxOut} bytes`, 'too-large');
      if (o + n <= out.length) return;
      if (o >= DECODE_CHUNK) { this.total += o; flush(); }
      if (o + n > out.length) {
        const nb = new Uint8Array(Math.min(DECODE_CHUNK + (1 << MAX_WIDTH), Math.max(out.length * 2, o + n)));
        nb.set(out.subarray(0, o));
        out = nb;
      }
    };
    let pos = 0;
    try {
      for (;;) {
        while (nBits < width) {
          if (pos >= data.length) return;
          bits |= data[pos++]! << nBits;
          nBits += 8;
        }
        const code = bits & ((1 << width) - 1);
        bits >>>= width;
        nBits -= width;

        if (code === CLEAR) {
          width = LIT_WIDTH + 1;
          hi = EOF;
          overflow = 1 << width;
          last = -1;
          continue;
        }
        if (code === EOF) { this.ended = true; return; }
        if (code < CLEAR) {
          ensure(1);
          out[o++] = code;
          if (last !== -1) {
            suffix[hi] = code;
            prefix[hi] = last;
            lengths[hi] = (last < CLEAR ? 1 : lengths[last]!) + 1;
          }
        } else if (code <= hi) {
          // code == hi is the KwKwK case: string(last) + first byte of string(last).
          // With no previous code it would read an undefined entry: invalid.
          if (code === hi && last === -1) bad(`invalid code ${code}`);
          const kwk = code === hi;
          const base = kwk ? last : code;
          const baseLen = base < CLEAR ? 1 : lengths[base]!;
          const n = baseLen + (kwk ? 1 : 0);
          ensure(n);
          // Write the chain of `base` backwards.
          let i = o + baseLen - 1;
          let c = base;
          while (c >= CLEAR) {
            out[i--] = suffix[c]!;
            c = prefix[c]!;
          }
          out[i] = c; // first byte (a literal)
          const first = c;
          if (kwk) out[o + baseLen] = first;
          o += n;
          if (last !== -1) {
            suffix[hi] = first;
            prefix[hi] = last;
            lengths[hi] = (last < CLEAR ? 1 : lengths[last]!) + 1;
          }
        } else {
          bad(`invalid code ${code}`);
        }
        last = code;
        hi++;
        if (hi >= overflow) {
          if (width === MAX_WIDTH) {
            // Table full: no more definitions until the next Clear (Go's reader).
            last = -1;
            hi--;
          } else {
            width++;
            overflow = 1 << width;
          }
        }
      }
    } finally {
      this.width = width; this.hi = hi; this.overflow = overflow; this.last = last;
      this.bits = bits; this.nBits = nBits;
      this.total += o;
      flush();
    }
  }

  /** The compressed input is over: it must have ended with the EOF code. */
  finish(): void {
    if (!this.ended) bad('unexpected end of stream (no EOF code)');
  }
}

/**
 * Decompresses a whole Go LSB/8 LZW stream (the UDP path; streams use
 * LzwDecoder as bytes arrive). The stream must end with the EOF code. Throws
 * AgentError E_DECODE on an invalid code, a stream without EOF, or when the
 * output would exceed `maxOut` bytes (decompression bomb).
 */
export function lzwDecompress(data: Uint8Array, maxOut: number): Uint8Array {
  const pieces: Uint8Array[] = [];
  const dec = new LzwDecoder(maxOut, (p) => pieces.push(p));
  dec.push(data);
  dec.finish();
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(dec.produced);
  let o = 0;
  for (const p of pieces) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * The one mapping of an LZW decoder failure, for packets and streams alike: a
 * decompression bomb (output past `maxOut`) is E_TOO_LARGE, a bad code or a
 * missing EOF code E_DECODE; details.reason is 'too-large' / 'compress' (the
 * packet decoder counts by it). Anything not from the decoder passes through.
 */
export function lzwError(e: unknown, what: string, maxOut: number): unknown {
  if (!(e instanceof AgentError)) return e;
  if (e.details?.reason === 'too-large') return new AgentError('E_TOO_LARGE', `${what} over ${maxOut} bytes`, { reason: 'too-large' });
  return new AgentError('E_DECODE', e.message, { reason: 'compress' });
}
