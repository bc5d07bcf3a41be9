// DNS messages (RFC 1035) as mDNS uses them (RFC 6762): header, questions and
// the record types serf's discovery exchanges (PTR, SRV, TXT, A, AAAA); other
// record types are kept as raw data. Names are decoded with compression
// pointers (miekg/dns compresses responses); we encode without compression,
// which every decoder accepts. Pure: no sockets here.
import { AgentError } from '../../errors.ts';

// Wire constants (RFC 1035 / 3596 / 2782); must match miekg/dns.
export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_TXT = 16;
export const TYPE_AAAA = 28;
export const TYPE_SRV = 33;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;
/** Top bit of qclass: "unicast response wanted" (RFC 6762 §18.12); of rrclass: cache flush. */
export const CLASS_TOP_BIT = 0x8000;

export interface DnsQuestion { name: string; type: number; cls: number }

export type DnsRecord =
  | { name: string; type: typeof TYPE_PTR; cls: number; ttl: number; ptr: string }
  | { name: string; type: typeof TYPE_SRV; cls: number; ttl: number; priority: number; weight: number; port: number; target: string }
  | { name: string; type: typeof TYPE_TXT; cls: number; ttl: number; txt: string[] }
  | { name: string; type: typeof TYPE_A; cls: number; ttl: number; address: string }
  | { name: string; type: typeof TYPE_AAAA; cls: number; ttl: number; address: string }
  | { name: string; type: number; cls: number; ttl: number; raw: Uint8Array };

export interface DnsMessage {
  id: number;
  /** QR bit. */
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  recursionDesired: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

export function emptyMessage(over: Partial<DnsMessage> = {}): DnsMessage {
  return {
    id: 0, response: false, opcode: 0, authoritative: false, truncated: false, recursionDesired: false, rcode: 0,
    questions: [], answers: [], authorities: [], additionals: [], ...over,
  };
}

/** Lower-cased, always ending in '.' (DNS names compare case-insensitively). */
export function canonicalName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

// --- encoding ---------------------------------------------------------------

class Writer {
  private buf = Buffer.alloc(512);
  private len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void { this.ensure(1); this.buf.writeUInt8(v, this.len); this.len += 1; }
  u16(v: number): void { this.ensure(2); this.buf.writeUInt16BE(v, this.len); this.len += 2; }
  u32(v: number): void { this.ensure(4); this.buf.writeUInt32BE(v >>> 0, this.len); this.len += 4; }
  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; }
  get offset(): number { return this.len; }
  patchU16(at: number, v: number): void { this.buf.writeUInt16BE(v, at); }
  done(): Buffer { return this.buf.subarray(0, this.len); }
}

function writeName(w: Writer, name: string): void {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed !== '') {
    for (const label of trimmed.split('.')) {
      const b = Buffer.from(label, 'utf8');
      if (b.length === 0 || b.length > 63) throw new AgentError('E_INVALID', `DNS label of ${b.length} bytes in ${JSON.stringify(name)}`);
      w.u8(b.length);
      w.bytes(b);
    }
  }
  w.u8(0);
}

function ipv4Bytes(a: string): Uint8Array {
  const p = a.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new AgentError('E_INVALID', `not an IPv4 address: ${a}`);
  return Uint8Array.from(p);
}

function ipv6Bytes(a: string): Uint8Array {
  const [head, tail] = a.includes('::') ? a.split('::') as [string, string] : [a, null];
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === null || tail === '' ? [] : tail.split(':');
  const groups = tail === null ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts];
  if (groups.length !== 8) throw new AgentError('E_INVALID', `not an IPv6 address: ${a}`);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { const v = parseInt(g, 16); out[i * 2] = v >> 8; out[i * 2 + 1] = v & 0xff; });
  return out;
}

function writeRecord(w: Writer, r: DnsRecord): void {
  writeName(w, r.name);
  w.u16(r.type);
  w.u16(r.cls);
  w.u32(r.ttl);
  const lenAt = w.offset;
  w.u16(0);
  const start = w.offset;
  if ('ptr' in r) writeName(w, r.ptr);
  else if ('target' in r) { w.u16(r.priority); w.u16(r.weight); w.u16(r.port); writeName(w, r.target); }
  else if ('txt' in r) for (const s of r.txt) { const b = Buffer.from(s, 'utf8'); w.u8(b.length); w.bytes(b); }
  else if ('address' in r) w.bytes(r.type === TYPE_A ? ipv4Bytes(r.address) : ipv6Bytes(r.address));
  else w.bytes(r.raw);
  w.patchU16(lenAt, w.offset - start);
}

export function encodeMessage(m: DnsMessage): Buffer {
  const w = new Writer();
  w.u16(m.id);
  w.u16((m.response ? 0x8000 : 0) | ((m.opcode & 0xf) << 11) | (m.authoritative ? 0x400 : 0) | (m.truncated ? 0x200 : 0)
    | (m.recursionDesired ? 0x100 : 0) | (m.rcode & 0xf));
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authorities.length);
  w.u16(m.additionals.length);
  for (const q of m.questions) { writeName(w, q.name); w.u16(q.type); w.u16(q.cls); }
  for (const r of [...m.answers, ...m.authorities, ...m.additionals]) writeRecord(w, r);
  return w.done();
}

// --- decoding ---------------------------------------------------------------

function fail(msg: string): never {
  throw new AgentError('E_DECODE', `dns: ${msg}`);
}

/** Reads a possibly compressed name at `off`; returns the name (with trailing dot) and the offset after it. */
function readName(b: Uint8Array, off: number): [string, number] {
  const labels: string[] = [];
  let pos = off;
  let end = -1;
  let jumps = 0;
  for (;;) {
    if (pos >= b.length) fail('name runs past the message');
    const len = b[pos]!;
    if (len === 0) { pos += 1; break; }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= b.length) fail('truncated compression pointer');
      if (++jumps > 32) fail('compression pointer loop');
      if (end < 0) end = pos + 2;
      pos = ((len & 0x3f) << 8) | b[pos + 1]!;
      continue;
    }
    if (len & 0xc0) fail('bad label type');
    if (pos + 1 + len > b.length) fail('label runs past the message');
    labels.push(Buffer.from(b.subarray(pos + 1, pos + 1 + len)).toString('utf8'));
    pos += 1 + len;
  }
  return [labels.length ? `${labels.join('.')}.` : '.', end >= 0 ? end : pos];
}

function formatIpv6(b: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

export function decodeMessage(data: Uint8Array): DnsMessage {
  if (data.length < 12) fail('message shorter than its header');
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const flags = v.getUint16(2);
  const counts = [v.getUint16(4), v.getUint16(6), v.getUint16(8), v.getUint16(10)] as const;
  let off = 12;
  const need = (n: number) => { if (off + n > data.length) fail('record runs past the message'); };
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const [name, next] = readName(data, off);
    off = next;
    need(4);
    questions.push({ name, type: v.getUint16(off), cls: v.getUint16(off + 2) });
    off += 4;
  }
  const readRecords = (n: number): DnsRecord[] => {
    const out: DnsRecord[] = [];
    for (let i = 0; i < n; i++) {
      const [name, next] = readName(data, off);
      off = next;
      need(10);
      const type = v.getUint16(off);
      const cls = v.getUint16(off + 2);
      const ttl = v.getUint32(off + 4);
      const rdlen = v.getUint16(off + 8);
      off += 10;
      need(rdlen);
      const rd = off;
      const rdEnd = off + rdlen;
      if (type === TYPE_PTR) out.push({ name, type, cls, ttl, ptr: readName(data, rd)[0] });
      else if (type === TYPE_SRV && rdlen >= 7) {
        out.push({ name, type, cls, ttl, priority: v.getUint16(rd), weight: v.getUint16(rd + 2), port: v.getUint16(rd + 4), target: readName(data, rd + 6)[0] });
      } else if (type === TYPE_TXT) {
        const txt: string[] = [];
        let p = rd;
        while (p < rdEnd) {
          const l = data[p]!;
          if (p + 1 + l > rdEnd) fail('TXT string runs past its record');
          txt.push(Buffer.from(data.subarray(p + 1, p + 1 + l)).toString('utf8'));
          p += 1 + l;
        }
        out.push({ name, type, cls, ttl, txt });
      } else if (type === TYPE_A && rdlen === 4) out.push({ name, type, cls, ttl, address: Array.from(data.subarray(rd, rdEnd)).join('.') });
      else if (type === TYPE_AAAA && rdlen === 16) out.push({ name, type, cls, ttl, address: formatIpv6(data.subarray(rd, rdEnd)) });
      else out.push({ name, type, cls, ttl, raw: data.slice(rd, rdEnd) });
      off = rdEnd;
    }
    return out;
  };
  const answers = readRecords(counts[1]);
  const authorities = readRecords(counts[2]);
  const additionals = readRecords(counts[3]);
  return {
    id: v.getUint16(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x400) !== 0,
    truncated: (flags & 0x200) !== 0,
    recursionDesired: (flags & 0x100) !== 0,
    rcode: flags & 0xf,
    questions, answers, authorities, additionals,
  };
}
