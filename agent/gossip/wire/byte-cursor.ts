// Reading a gossip TCP stream as its bytes arrive. memberlist streams carry one
// message with no length prefix (SERF-PROTOCOL.md §2.7, §2.9): a push/pull is a
// header, N msgpack node states and a raw user state, possibly wrapped in LZW
// and/or AES-GCM. A ByteCursor hands out msgpack objects and raw byte runs from
// the chunks it pulls, holding only the unread rest of the current chunk — plus,
// while one object spans chunks, that object's bytes (bounded by the caller).
// So a 50,000-member state passes through in chunk-sized pieces instead of
// being buffered whole. `peakHeld` records the most it ever held.
import { AgentError } from '../../errors.ts';
import { LzwDecoder, lzwError } from './lzw.ts';
import { decodeGo, NeedMoreData, type Decoded } from './msgpack.ts';

/** Anything that yields chunks until null (a transport Stream, a decoder). */
export interface ChunkSource {
  read(): Promise<Uint8Array | null>;
}

/** A msgpack container header: its element count follows (map: count key/value pairs). */
export interface ContainerHeader { kind: 'map' | 'array'; count: number }

const EMPTY = new Uint8Array(0);
/**
 * Compressed input handed to the LZW decoder at a time. LZW output per input
 * byte is bounded only by the dictionary, so slicing the input keeps the
 * decoded pieces waiting to be read small (at most ~250 KiB for 1 KiB of codes)
 * even for a decompression bomb; the total is bounded by `maxOut` anyway.
 */
const LZW_INPUT_SLICE = 1024;

export function truncated(what = 'stream'): never {
  throw new AgentError('E_DECODE', `${what} truncated`, { reason: 'truncated' });
}

export class ByteCursor {
  private buf: Uint8Array = EMPTY;
  private off = 0;
  private ended = false;
  /** Bytes pulled from the source so far. */
  private received = 0;
  /** The most bytes held at once (unread rest of a chunk plus a spanning object). */
  peakHeld = 0;

  /**
   * @param maxTotal the stream may carry at most this many bytes: E_TOO_LARGE beyond.
   * @param what     named in errors ("stream", "decompressed stream").
   */
  constructor(private readonly src: ChunkSource, private readonly maxTotal: number, private readonly what = 'stream') {}

  /** A cursor over bytes already in memory (a decrypted state). */
  static over(bytes: Uint8Array, what: string): ByteCursor {
    let given = false;
    const c = new ByteCursor({ read: async () => { if (given) return null; given = true; return bytes; } }, bytes.length, what);
    return c;
  }

  /** Bytes consumed so far (handed out or skipped). */
  get position(): number {
    return this.received - (this.buf.length - this.off);
  }

  /** Pulls one more chunk; false at the end of the source. */
  private async more(): Promise<boolean> {
    for (;;) {
      if (this.ended) return false;
      const c = await this.src.read();
      if (c === null) { this.ended = true; return false; }
      if (c.length === 0) continue;
      this.received += c.length;
      if (this.received > this.maxTotal) throw new AgentError('E_TOO_LARGE', `${this.what} larger than ${this.maxTotal} bytes`);
      const rest = this.buf.length - this.off;
      if (rest === 0) {
        this.buf = c;
      } else {
        const nb = new Uint8Array(rest + c.length);
        nb.set(this.buf.subarray(this.off));
        nb.set(c, rest);
        this.buf = nb;
      }
      this.off = 0;
      if (this.buf.length > this.peakHeld) this.peakHeld = this.buf.length;
      return true;
    }
  }

  private async need(n: number): Promise<void> {
    while (this.buf.length - this.off < n) if (!(await this.more())) truncated(this.what);
  }

  /** True when no byte is left (waits for the source to say so). */
  async atEnd(): Promise<boolean> {
    while (this.buf.length - this.off < 1) if (!(await this.more())) return true;
    return false;
  }

  async peekByte(): Promise<number> {
    await this.need(1);
    return this.buf[this.off]!;
  }

  async byte(): Promise<number> {
    await this.need(1);
    return this.buf[this.off++]!;
  }

  /**
   * Decodes the next msgpack object. An object spanning chunks is held until
   * complete: beyond `maxBytes` of it, E_TOO_LARGE. `raw` is its encoding (a
   * view valid until the next read).
   */
  async object(maxBytes: number): Promise<{ value: Decoded; raw: Uint8Array }> {
    for (;;) {
      try {
        const { value, end } = decodeGo(this.buf, this.off);
        const raw = this.buf.subarray(this.off, end);
        this.off = end;
        return { value, raw };
      } catch (e) {
        if (!(e instanceof NeedMoreData)) throw e;
        if (this.buf.length - this.off > maxBytes) {
          throw new AgentError('E_TOO_LARGE', `a msgpack object in the ${this.what} is larger than ${maxBytes} bytes`);
        }
        if (!(await this.more())) truncated(this.what);
      }
    }
  }

  /**
   * Decodes `count` msgpack objects and hands each to `fn` as soon as it is
   * complete — synchronously while they are buffered (no promise per object),
   * waiting only for chunks. A promise `fn` returns is awaited before the next.
   */
  async forEach(count: number, maxBytes: number, fn: (value: Decoded, raw: Uint8Array, index: number) => void | Promise<void>): Promise<void> {
    let i = 0;
    while (i < count) {
      let value: Decoded;
      let end: number;
      try {
        ({ value, end } = decodeGo(this.buf, this.off));
      } catch (e) {
        if (!(e instanceof NeedMoreData)) throw e;
        if (this.buf.length - this.off > maxBytes) {
          throw new AgentError('E_TOO_LARGE', `a msgpack object in the ${this.what} is larger than ${maxBytes} bytes`);
        }
        if (!(await this.more())) truncated(this.what);
        continue;
      }
      const raw = this.buf.subarray(this.off, end);
      this.off = end;
      const r = fn(value, raw, i++);
      if (r) await r;
    }
  }

  /** Reads a map or array header (its elements follow); null for nil. Anything else: E_DECODE. */
  async containerHeader(): Promise<ContainerHeader | null> {
    const b = await this.peekByte();
    if (b === 0xc0) { this.off++; return null; }
    if (b >= 0x80 && b <= 0x8f) { this.off++; return { kind: 'map', count: b & 0x0f }; }
    if (b >= 0x90 && b <= 0x9f) { this.off++; return { kind: 'array', count: b & 0x0f }; }
    const wide: Record<number, [ContainerHeader['kind'], number]> = { 0xdc: ['array', 2], 0xdd: ['array', 4], 0xde: ['map', 2], 0xdf: ['map', 4] };
    const w = wide[b];
    if (!w) throw new AgentError('E_DECODE', `expected a map or an array, got byte 0x${b.toString(16)}`, { reason: 'msgpack' });
    await this.need(1 + w[1]);
    const count = this.uintAt(this.off + 1, w[1]);
    this.off += 1 + w[1];
    return { kind: w[0], count };
  }

  /** Reads a str or bin header and returns the length of the bytes that follow (nil: 0). */
  async bytesHeader(): Promise<number> {
    const b = await this.peekByte();
    if (b === 0xc0) { this.off++; return 0; }
    if (b >= 0xa0 && b <= 0xbf) { this.off++; return b & 0x1f; }
    const widths: Record<number, number> = { 0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4 };
    const w = widths[b];
    if (!w) throw new AgentError('E_DECODE', `expected bytes, got byte 0x${b.toString(16)}`, { reason: 'msgpack' });
    await this.need(1 + w);
    const n = this.uintAt(this.off + 1, w);
    this.off += 1 + w;
    return n;
  }

  private uintAt(p: number, width: number): number {
    let v = 0;
    for (let i = 0; i < width; i++) v = v * 256 + this.buf[p + i]!;
    return v;
  }

  /** Passes the next `n` bytes on in the pieces they arrive in (views valid during the call). */
  async stream(n: number, sink: (piece: Uint8Array) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.off >= this.buf.length && !(await this.more())) truncated(this.what);
      const take = Math.min(left, this.buf.length - this.off);
      const piece = this.buf.subarray(this.off, this.off + take);
      this.off += take;
      left -= take;
      await sink(piece);
    }
  }

  /** The next `n` bytes as one new array (the caller bounds `n`). */
  async take(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let o = 0;
    await this.stream(n, (p) => { out.set(p, o); o += p.length; });
    return out;
  }

  async skip(n: number): Promise<void> {
    await this.stream(n, () => {});
  }

  /** A source of exactly the next `n` bytes of this cursor, in arrival-sized pieces. */
  slice(n: number): ChunkSource {
    let left = n;
    return {
      read: async () => {
        if (left === 0) return null;
        if (this.off >= this.buf.length && !(await this.more())) truncated(this.what);
        const take = Math.min(left, this.buf.length - this.off);
        const piece = this.buf.subarray(this.off, this.off + take);
        this.off += take;
        left -= take;
        return piece;
      },
    };
  }
}

/**
 * LZW-decompresses a source as it is read (memberlist's compress message, Algo 0).
 * More than `maxOut` decompressed bytes: E_TOO_LARGE; bad codes or a missing EOF
 * code: E_DECODE (reason 'compress').
 */
export function lzwSource(input: ChunkSource, maxOut: number): ChunkSource {
  const ready: Uint8Array[] = [];
  const dec = new LzwDecoder(maxOut, (p) => ready.push(p));
  let pending: Uint8Array = EMPTY;
  let inputDone = false;
  const wrap = (f: () => void): void => {
    try { f(); } catch (e) {
      throw lzwError(e, 'decompressed stream', maxOut);
    }
  };
  return {
    read: async () => {
      for (;;) {
        if (ready.length > 0) return ready.shift()!;
        if (dec.done) return null;
        if (pending.length > 0) {
          const s = pending.subarray(0, LZW_INPUT_SLICE);
          pending = pending.subarray(s.length);
          wrap(() => dec.push(s));
          continue;
        }
        if (inputDone) { wrap(() => dec.finish()); return null; }
        const c = await input.read();
        if (c === null) inputDone = true; else pending = c;
      }
    },
  };
}
