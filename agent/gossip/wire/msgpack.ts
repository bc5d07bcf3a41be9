// msgpack exactly as hashicorp/go-msgpack 0.5.5 writes it (SERF-PROTOCOL.md §1).
//
// Why not a library encoder: go-msgpack's gossip handle writes []byte with *string*
// headers and never emits str8, while its RPC handle emits str8 and bin; struct
// fields come out sorted by name; Go maps in insertion order; floats stay floats
// even when integral (coordinates). No JS encoder has these switches, so the
// encoder is written here (~100 lines). The decoder is written here too because
// memberlist streams mix msgpack objects with raw bytes (push/pull user state):
// we need the exact end offset of each object, both str and bin decoded to raw
// bytes (a []byte may come either way), and hard caps against length bombs.
// The RPC server reads its request stream with @msgpack/msgpack (see rpc/).
import { AgentError } from '../../errors.ts';

/** A float64 that must be encoded as 0xcb even when integral. */
export class Float64 {
  constructor(readonly value: number) {}
}

/**
 * Value tree for encoding.
 * - plain object = Go struct: keys sorted byte-wise; `undefined` fields omitted (omitempty)
 * - Map = Go map: entries in insertion order
 * - string = Go string; Uint8Array = Go []byte
 * - number: integer -> smallest int form (unsigned if >= 0); non-integer -> float64
 */
export type GoValue =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Float64
  | GoValue[]
  | Map<string, GoValue>
  | { [k: string]: GoValue };

/** gossip: go-msgpack MsgpackHandle{} (memberlist/serf port). rpc: RawToString+WriteExt (agent RPC). */
export type MsgpackMode = 'gossip' | 'rpc';

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: false });

// Gossip strings are mostly short ASCII (struct keys, node names): converting those
// by hand avoids the TextEncoder/TextDecoder call overhead that dominates small messages.
const SHORT = 64;

function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT) {
    let out = '';
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return td.decode(buf.subarray(start, end));
      out += String.fromCharCode(c);
    }
    return out;
  }
  return td.decode(buf.subarray(start, end));
}

function isShortAscii(s: string): boolean {
  if (s.length > SHORT) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

class Writer {
  buf: Uint8Array;
  view: DataView;
  len = 0;
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
    this.view = new DataView(nb.buffer);
  }
  u8(b: number): void { this.ensure(1); this.buf[this.len++] = b; }
  u16(v: number): void { this.ensure(2); this.view.setUint16(this.len, v); this.len += 2; }
  u32(v: number): void { this.ensure(4); this.view.setUint32(this.len, v); this.len += 4; }
  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; }
}

function writeStrHeader(w: Writer, n: number, mode: MsgpackMode): void {
  if (n < 32) w.u8(0xa0 | n);
  else if (n < 256 && mode === 'rpc') { w.u8(0xd9); w.u8(n); }
  else if (n < 65536) { w.u8(0xda); w.u16(n); }
  else { w.u8(0xdb); w.u32(n); }
}

function writeBinHeader(w: Writer, n: number): void {
  if (n < 256) { w.u8(0xc4); w.u8(n); }
  else if (n < 65536) { w.u8(0xc5); w.u16(n); }
  else { w.u8(0xc6); w.u32(n); }
}

function writeInt(w: Writer, v: number | bigint): void {
  if (typeof v === 'bigint') {
    if (v >= 0n) {
      if (v <= 0xffffffffn) return writeInt(w, Number(v));
      w.u8(0xcf); w.ensure(8); w.view.setBigUint64(w.len, v); w.len += 8; return;
    }
    if (v >= -0x80000000n) return writeInt(w, Number(v));
    w.u8(0xd3); w.ensure(8); w.view.setBigInt64(w.len, v); w.len += 8; return;
  }
  if (v >= 0) {
    if (v < 0x80) w.u8(v);
    else if (v < 0x100) { w.u8(0xcc); w.u8(v); }
    else if (v < 0x10000) { w.u8(0xcd); w.u16(v); }
    else if (v < 0x100000000) { w.u8(0xce); w.u32(v); }
    else { w.u8(0xcf); w.ensure(8); w.view.setBigUint64(w.len, BigInt(v)); w.len += 8; }
  } else {
    if (v >= -32) w.u8(v & 0xff);
    else if (v >= -128) { w.u8(0xd0); w.ensure(1); w.view.setInt8(w.len, v); w.len += 1; }
    else if (v >= -32768) { w.u8(0xd1); w.ensure(2); w.view.setInt16(w.len, v); w.len += 2; }
    else if (v >= -2147483648) { w.u8(0xd2); w.ensure(4); w.view.setInt32(w.len, v); w.len += 4; }
    else { w.u8(0xd3); w.ensure(8); w.view.setBigInt64(w.len, BigInt(v)); w.len += 8; }
  }
}

function writeFloat(w: Writer, v: number): void {
  w.u8(0xcb); w.ensure(8); w.view.setFloat64(w.len, v); w.len += 8;
}

function writeArrayHeader(w: Writer, n: number): void {
  if (n < 16) w.u8(0x90 | n);
  else if (n < 65536) { w.u8(0xdc); w.u16(n); }
  else { w.u8(0xdd); w.u32(n); }
}

function writeMapHeader(w: Writer, n: number): void {
  if (n < 16) w.u8(0x80 | n);
  else if (n < 65536) { w.u8(0xde); w.u16(n); }
  else { w.u8(0xdf); w.u32(n); }
}

function byteCompare(a: string, b: string): number {
  // Go sorts struct field names byte-wise; field names here are ASCII.
  return a < b ? -1 : a > b ? 1 : 0;
}

function writeValue(w: Writer, v: GoValue, mode: MsgpackMode): void {
  if (v === null || v === undefined) { w.u8(0xc0); return; }
  switch (typeof v) {
    case 'boolean': w.u8(v ? 0xc3 : 0xc2); return;
    case 'number':
      if (Number.isInteger(v)) writeInt(w, v); else writeFloat(w, v);
      return;
    case 'bigint': writeInt(w, v); return;
    case 'string': {
      if (isShortAscii(v)) {
        writeStrHeader(w, v.length, mode);
        w.ensure(v.length);
        for (let i = 0; i < v.length; i++) w.buf[w.len++] = v.charCodeAt(i);
        return;
      }
      const b = te.encode(v);
      writeStrHeader(w, b.length, mode);
      w.bytes(b);
      return;
    }
  }
  if (v instanceof Uint8Array) {
    if (mode === 'rpc') writeBinHeader(w, v.length); else writeStrHeader(w, v.length, mode);
    w.bytes(v);
    return;
  }
  if (v instanceof Float64) { writeFloat(w, v.value); return; }
  if (Array.isArray(v)) {
    writeArrayHeader(w, v.length);
    for (const x of v) writeValue(w, x, mode);
    return;
  }
  if (v instanceof Map) {
    writeMapHeader(w, v.size);
    for (const [k, x] of v) { writeValue(w, k, mode); writeValue(w, x, mode); }
    return;
  }
  // Defined keys in go-msgpack's order (byte-wise sorted). Callers on hot paths
  // build their literals already sorted, so the sort is skipped after one pass.
  const rec = v as Record<string, GoValue>;
  const keys: string[] = [];
  let sorted = true;
  for (const k of Object.keys(rec)) {
    if (rec[k] === undefined) continue;
    if (sorted && keys.length > 0 && byteCompare(keys[keys.length - 1]!, k) > 0) sorted = false;
    keys.push(k);
  }
  if (!sorted) keys.sort(byteCompare);
  writeMapHeader(w, keys.length);
  for (const k of keys) {
    writeValue(w, k, mode);
    writeValue(w, (v as Record<string, GoValue>)[k], mode);
  }
}

/** Encodes one value as go-msgpack would. */
export function encodeGo(v: GoValue, mode: MsgpackMode = 'gossip'): Uint8Array {
  const w = new Writer();
  writeValue(w, v, mode);
  return w.buf.slice(0, w.len);
}

/** Encodes `[prefix bytes...] msgpack(v)` in one buffer (e.g. a message type byte). */
export function encodeGoWithPrefix(prefix: readonly number[], v: GoValue, mode: MsgpackMode = 'gossip'): Uint8Array {
  const w = new Writer();
  for (const b of prefix) w.u8(b);
  writeValue(w, v, mode);
  return w.buf.slice(0, w.len);
}

// ---------------------------------------------------------------------------
// Decoding

/** Decoded value: str and bin both become Uint8Array (copies); maps become null-prototype objects with string keys. */
export type Decoded = null | boolean | number | Uint8Array | Decoded[] | DecodedMap;
export interface DecodedMap { [k: string]: Decoded }

export const MAX_DEPTH = 32;

export class NeedMoreData extends AgentError {
  constructor() { super('E_DECODE', 'msgpack: truncated object'); }
}

function fail(msg: string): never {
  throw new AgentError('E_DECODE', `msgpack: ${msg}`);
}

class Reader {
  pos: number;
  private dv: DataView | null = null;
  constructor(readonly buf: Uint8Array, offset: number, readonly end: number) {
    this.pos = offset;
  }
  /** Only floats and 64-bit integers need a DataView: made on first use (most objects never do). */
  get view(): DataView {
    return (this.dv ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }
  need(n: number): void { if (this.pos + n > this.end) throw new NeedMoreData(); }
  u8(): number { this.need(1); return this.buf[this.pos++]!; }
  u16(): number { this.need(2); const b = this.buf, p = this.pos; this.pos += 2; return (b[p]! << 8) | b[p + 1]!; }
  u32(): number { this.need(4); const b = this.buf, p = this.pos; this.pos += 4; return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!); }
  bytes(n: number): Uint8Array { this.need(n); const b = this.buf.slice(this.pos, this.pos + n); this.pos += n; return b; }
}

function readValue(r: Reader, depth: number): Decoded {
  if (depth > MAX_DEPTH) fail('nesting too deep');
  const b = r.u8();
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 256;
  if ((b & 0xf0) === 0x80) return readMap(r, b & 0x0f, depth);
  if ((b & 0xf0) === 0x90) return readArray(r, b & 0x0f, depth);
  if ((b & 0xe0) === 0xa0) return r.bytes(b & 0x1f);
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: case 0xd9: return r.bytes(r.u8());
    case 0xc5: case 0xda: return r.bytes(r.u16());
    case 0xc6: case 0xdb: return r.bytes(r.u32());
    case 0xca: { r.need(4); const v = r.view.getFloat32(r.pos); r.pos += 4; return v; }
    case 0xcb: { r.need(8); const v = r.view.getFloat64(r.pos); r.pos += 8; return v; }
    case 0xcc: return r.u8();
    case 0xcd: return r.u16();
    case 0xce: return r.u32();
    case 0xcf: { r.need(8); const v = Number(r.view.getBigUint64(r.pos)); r.pos += 8; return v; }
    case 0xd0: { r.need(1); const v = r.view.getInt8(r.pos); r.pos += 1; return v; }
    case 0xd1: { r.need(2); const v = r.view.getInt16(r.pos); r.pos += 2; return v; }
    case 0xd2: { r.need(4); const v = r.view.getInt32(r.pos); r.pos += 4; return v; }
    case 0xd3: { r.need(8); const v = Number(r.view.getBigInt64(r.pos)); r.pos += 8; return v; }
    case 0xdc: return readArray(r, r.u16(), depth);
    case 0xdd: return readArray(r, r.u32(), depth);
    case 0xde: return readMap(r, r.u16(), depth);
    case 0xdf: return readMap(r, r.u32(), depth);
    default: return fail(`unsupported type byte 0x${b.toString(16)}`);
  }
}

function readArray(r: Reader, n: number, depth: number): Decoded[] {
  // Every element takes at least one byte: a length larger than what remains is
  // truncated (or a length bomb) - never allocate for it.
  if (n > r.end - r.pos) throw new NeedMoreData();
  const out: Decoded[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = readValue(r, depth + 1);
  return out;
}

function readMap(r: Reader, n: number, depth: number): DecodedMap {
  if (n * 2 > r.end - r.pos) throw new NeedMoreData();
  const out: DecodedMap = Object.create(null) as DecodedMap;
  for (let i = 0; i < n; i++) {
    out[readKey(r, depth)] = readValue(r, depth + 1);
  }
  return out;
}

/** A map key: str/bin decoded in place (no copy); integers as their decimal text. */
function readKey(r: Reader, depth: number): string {
  const b = r.buf[r.pos];
  let n = -1;
  if (b !== undefined && (b & 0xe0) === 0xa0) { r.pos++; n = b & 0x1f; }
  else if (b === 0xd9 || b === 0xc4) { r.pos++; n = r.u8(); }
  else if (b === 0xda || b === 0xc5) { r.pos++; n = r.u16(); }
  if (n >= 0) {
    r.need(n);
    const key = decodeUtf8(r.buf, r.pos, r.pos + n);
    r.pos += n;
    return key;
  }
  const k = readValue(r, depth + 1);
  if (k instanceof Uint8Array) return td.decode(k);
  if (typeof k === 'number') return String(k);
  return fail('map key is not a string');
}

/**
 * Decodes one object starting at `offset`. Returns the value and the offset
 * just past it. Throws NeedMoreData (code E_DECODE) if the buffer ends inside
 * the object, AgentError E_DECODE for malformed data.
 */
export function decodeGo(buf: Uint8Array, offset = 0, end = buf.length): { value: Decoded; end: number } {
  const r = new Reader(buf, offset, end);
  const value = readValue(r, 0);
  return { value, end: r.pos };
}

/**
 * Returns the offset just past the object starting at `offset`, without building
 * it (no allocation): used to find where a large stream object ends before it is
 * decoded. Throws NeedMoreData if the buffer ends inside it, E_DECODE if malformed.
 */
export function skipGo(buf: Uint8Array, offset = 0, end = buf.length): number {
  let pos = offset;
  // Number of objects still to skip at the current position (iterative, no recursion).
  let pending = 1;
  const need = (n: number): void => { if (pos + n > end) throw new NeedMoreData(); };
  const be = (n: number): number => {
    need(n);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + buf[pos + i]!;
    pos += n;
    return v;
  };
  while (pending > 0) {
    pending--;
    need(1);
    const b = buf[pos++]!;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    let add = 0;
    if ((b & 0xf0) === 0x80) add = (b & 0x0f) * 2;
    else if ((b & 0xf0) === 0x90) add = b & 0x0f;
    else if ((b & 0xe0) === 0xa0) { need(b & 0x1f); pos += b & 0x1f; continue; }
    else {
      switch (b) {
        case 0xc4: case 0xd9: { const n = be(1); need(n); pos += n; continue; }
        case 0xc5: case 0xda: { const n = be(2); need(n); pos += n; continue; }
        case 0xc6: case 0xdb: { const n = be(4); need(n); pos += n; continue; }
        case 0xca: case 0xce: case 0xd2: need(4); pos += 4; continue;
        case 0xcb: case 0xcf: case 0xd3: need(8); pos += 8; continue;
        case 0xcc: case 0xd0: need(1); pos += 1; continue;
        case 0xcd: case 0xd1: need(2); pos += 2; continue;
        case 0xdc: add = be(2); break;
        case 0xdd: add = be(4); break;
        case 0xde: add = be(2) * 2; break;
        case 0xdf: add = be(4) * 2; break;
        default: return fail(`unsupported type byte 0x${b.toString(16)}`);
      }
    }
    // Each pending object needs at least one byte: more than what remains is
    // truncated (or a length bomb). Every iteration consumes a byte, so this terminates.
    if (pending + add > end - pos) throw new NeedMoreData();
    pending += add;
  }
  return pos;
}

/** Decodes exactly one object filling the whole buffer (trailing bytes are an error). */
export function decodeGoExact(buf: Uint8Array): Decoded {
  const { value, end } = decodeGo(buf);
  if (end !== buf.length) fail(`${buf.length - end} trailing bytes`);
  return value;
}

// ---------------------------------------------------------------------------
// Typed field access with Go's decoding tolerance (§1.2). Each throws E_DECODE.

export function asMap(v: Decoded | undefined, what = 'value'): DecodedMap {
  if (v === null || v === undefined || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    return fail(`${what}: expected a map`);
  }
  return v;
}

/** Go string: a str header; nil/missing decodes to "". */
export function asStr(v: Decoded | undefined, what = 'value'): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Uint8Array) return decodeUtf8(v, 0, v.length);
  return fail(`${what}: expected a string`);
}

/** Go []byte: str or bin; nil/missing/empty decodes to an empty array. */
export function asBytes(v: Decoded | undefined, what = 'value'): Uint8Array {
  if (v === null || v === undefined) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  return fail(`${what}: expected bytes`);
}

export function asOptBytes(v: Decoded | undefined, what = 'value'): Uint8Array | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return v.length === 0 ? null : v;
  return fail(`${what}: expected bytes`);
}

/** Unsigned integer field (uint8..uint64); missing/nil = 0; max checks overflow. */
export function asUint(v: Decoded | undefined, what = 'value', max = Number.MAX_SAFE_INTEGER): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'boolean') return fail(`${what}: expected an integer`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) return fail(`${what}: expected an unsigned integer <= ${max}`);
  return v;
}

export function asInt(v: Decoded | undefined, what = 'value'): number {
  if (v === null || v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v)) return fail(`${what}: expected an integer`);
  return v;
}

export function asFloat(v: Decoded | undefined, what = 'value'): number {
  if (v === null || v === undefined) return 0;
  if (typeof v !== 'number') return fail(`${what}: expected a number`);
  return v;
}

/** Go bool: also accepts fixint 0/1. */
export function asBool(v: Decoded | undefined, what = 'value'): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  return fail(`${what}: expected a bool`);
}

export function asArray(v: Decoded | undefined, what = 'value'): Decoded[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) return fail(`${what}: expected an array`);
  return v;
}

/** map[string]string */
export function asStringMap(v: Decoded | undefined, what = 'value'): Record<string, string> {
  if (v === null || v === undefined) return {};
  const m = asMap(v, what);
  const out: Record<string, string> = {};
  for (const k of Object.keys(m)) {
    const v = asStr(m[k], `${what}.${k}`);
    // A plain assignment to "__proto__" would be silently dropped (or change the prototype).
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

export function utf8(s: string): Uint8Array { return te.encode(s); }
