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

/**
 * Decompresses a Go LSB/8 LZW stream. The stream must end with the EOF code.
 * Throws AgentError E_DECODE on an invalid code, a stream without EOF, or when
 * the output would exceed `maxOut` bytes (decompression bomb); the output buffer
 * grows on demand, so memory stays proportional to the real output.
 */
export function lzwDecompress(data: Uint8Array, maxOut: number): Uint8Array {
  const prefix = new Uint16Array(1 << MAX_WIDTH);
  const suffix = new Uint8Array(1 << MAX_WIDTH);
  const lengths = new Uint16Array(1 << MAX_WIDTH); // expansion length of each defined code
  let out = new Uint8Array(Math.min(maxOut, Math.max(64, data.length * 3)));
  let o = 0;
  const ensure = (n: number): void => {
    if (o + n > maxOut) bad(`output exceeds ${maxOut} bytes`, 'too-large');
    if (o + n <= out.length) return;
    let size = out.length * 2;
    while (size < o + n) size *= 2;
    const nb = new Uint8Array(Math.min(size, maxOut));
    nb.set(out.subarray(0, o));
    out = nb;
  };

  let width = LIT_WIDTH + 1;
  let hi = EOF;
  let overflow = 1 << width;
  let last = -1; // -1 = no previous code (after Clear or when the table is full)
  let bits = 0;
  let nBits = 0;
  let pos = 0;
  for (;;) {
    while (nBits < width) {
      if (pos >= data.length) bad('unexpected end of stream (no EOF code)');
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
    if (code === EOF) break;
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
  return out.slice(0, o);
}
