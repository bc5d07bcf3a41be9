// memberlist 0.2.2 message codecs: `[type byte][go-msgpack body]` (SERF-PROTOCOL.md §2.1-2.2).
// Struct keys come out sorted (encodeGo sorts plain objects), []byte fields use
// string headers, and integers take the smallest unsigned form, so a message we
// build is byte-identical to the one Go would build from the same values.
import { AgentError } from '../../errors.ts';
import {
  asBool, asBytes, asMap, asOptBytes, asStr, asUint, decodeGo, encodeGoWithPrefix,
  type DecodedMap, type GoValue,
} from './msgpack.ts';

/**
 * memberlist MetaMaxSize: node meta (serf's encoded tags, magic byte included)
 * must fit in 512 bytes. memberlist checks it only when a node sets its own
 * meta; serf and discovery keep within it, and we refuse peers beyond it.
 */
export const META_MAX_SIZE = 512;

/** memberlist message type bytes (must match memberlist/net.go). */
export const MessageType = {
  ping: 0,
  indirectPing: 1,
  ackResp: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nackResp: 11,
  hasCrc: 12,
  err: 13,
} as const;

const U32 = 0xffffffff;
const U16 = 0xffff;

export interface PingMessage {
  type: 'ping';
  seqNo: number;
  /** Intended recipient's name ('' = anyone). */
  node: string;
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}
export interface IndirectPingMessage {
  type: 'indirectPing';
  seqNo: number;
  target: Uint8Array;
  port: number;
  node: string;
  nack: boolean;
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}
export interface AckMessage { type: 'ack'; seqNo: number; payload: Uint8Array | null }
export interface NackMessage { type: 'nack'; seqNo: number }
export interface ErrMessage { type: 'err'; error: string }
export interface SuspectMessage { type: 'suspect'; incarnation: number; node: string; from: string }
export interface AliveMessage {
  type: 'alive';
  incarnation: number;
  node: string;
  addr: Uint8Array;
  port: number;
  meta: Uint8Array;
  /** [pmin, pmax, pcur, dmin, dmax, dcur] */
  vsn: Uint8Array;
}
export interface DeadMessage { type: 'dead'; incarnation: number; node: string; from: string }
/** UDP user message: the payload (serf message) follows the type byte raw. */
export interface UserMessage { type: 'user'; payload: Uint8Array }

export type MemberlistMessage =
  | PingMessage | IndirectPingMessage | AckMessage | NackMessage | ErrMessage
  | SuspectMessage | AliveMessage | DeadMessage | UserMessage;

/** Go encodes an empty/nil []byte field as nil (0xc0). */
function bytesOrNil(b: Uint8Array | null | undefined): Uint8Array | null {
  return b && b.length > 0 ? b : null;
}

/** omitempty: zero values leave the key out. */
function omitEmpty<T>(v: T | undefined, empty: (v: T) => boolean): T | undefined {
  return v === undefined || empty(v) ? undefined : v;
}

function sourceFields(m: { sourceAddr?: Uint8Array; sourcePort?: number; sourceNode?: string }): Record<string, GoValue> {
  return {
    SourceAddr: omitEmpty(m.sourceAddr, (b) => b.length === 0),
    SourceNode: omitEmpty(m.sourceNode, (s) => s === ''),
    SourcePort: omitEmpty(m.sourcePort, (p) => p === 0),
  };
}

/** Encodes one memberlist message with its type byte. */
export function encodeMessage(m: MemberlistMessage): Uint8Array {
  switch (m.type) {
    case 'ping':
      return encodeGoWithPrefix([MessageType.ping], { Node: m.node, SeqNo: m.seqNo, ...sourceFields(m) });
    case 'indirectPing':
      return encodeGoWithPrefix([MessageType.indirectPing], {
        Nack: m.nack, Node: m.node, Port: m.port, SeqNo: m.seqNo, ...sourceFields(m), Target: bytesOrNil(m.target),
      });
    case 'ack':
      return encodeGoWithPrefix([MessageType.ackResp], { Payload: bytesOrNil(m.payload), SeqNo: m.seqNo });
    case 'nack':
      return encodeGoWithPrefix([MessageType.nackResp], { SeqNo: m.seqNo });
    case 'err':
      return encodeGoWithPrefix([MessageType.err], { Error: m.error });
    case 'suspect':
      return encodeGoWithPrefix([MessageType.suspect], { From: m.from, Incarnation: m.incarnation, Node: m.node });
    case 'dead':
      return encodeGoWithPrefix([MessageType.dead], { From: m.from, Incarnation: m.incarnation, Node: m.node });
    case 'alive':
      return encodeGoWithPrefix([MessageType.alive], {
        Addr: bytesOrNil(m.addr), Incarnation: m.incarnation, Meta: bytesOrNil(m.meta), Node: m.node,
        Port: m.port, Vsn: bytesOrNil(m.vsn),
      });
    case 'user': {
      const out = new Uint8Array(1 + m.payload.length);
      out[0] = MessageType.user;
      out.set(m.payload, 1);
      return out;
    }
  }
}

function body(buf: Uint8Array, what: string): DecodedMap {
  // Go's decoder reads one object and ignores what follows it.
  return asMap(decodeGo(buf, 1).value, what);
}

function optSource(b: DecodedMap, out: { sourceAddr?: Uint8Array; sourcePort?: number; sourceNode?: string }): void {
  const addr = asBytes(b.SourceAddr, 'SourceAddr');
  if (addr.length > 0) out.sourceAddr = addr;
  const port = asUint(b.SourcePort, 'SourcePort', U16);
  if (port !== 0) out.sourcePort = port;
  const node = asStr(b.SourceNode, 'SourceNode');
  if (node !== '') out.sourceNode = node;
}

/**
 * Decodes one message (type byte + body) of the kinds in MemberlistMessage.
 * Container types (compound, compress, hasCrc, encrypt) and pushPull are handled
 * by packet.ts / stream.ts; here they, and unknown bytes, throw E_DECODE with
 * details.reason 'unknown-type'. Malformed bodies throw E_DECODE.
 */
export function decodeMessage(buf: Uint8Array): MemberlistMessage {
  if (buf.length === 0) throw new AgentError('E_DECODE', 'missing message type byte', { reason: 'empty' });
  const t = buf[0]!;
  switch (t) {
    case MessageType.ping: {
      const b = body(buf, 'ping');
      const m: PingMessage = { type: 'ping', seqNo: asUint(b.SeqNo, 'SeqNo', U32), node: asStr(b.Node, 'Node') };
      optSource(b, m);
      return m;
    }
    case MessageType.indirectPing: {
      const b = body(buf, 'indirectPing');
      const m: IndirectPingMessage = {
        type: 'indirectPing', seqNo: asUint(b.SeqNo, 'SeqNo', U32), target: asBytes(b.Target, 'Target'),
        port: asUint(b.Port, 'Port', U16), node: asStr(b.Node, 'Node'), nack: asBool(b.Nack, 'Nack'),
      };
      optSource(b, m);
      return m;
    }
    case MessageType.ackResp: {
      const b = body(buf, 'ackResp');
      return { type: 'ack', seqNo: asUint(b.SeqNo, 'SeqNo', U32), payload: asOptBytes(b.Payload, 'Payload') };
    }
    case MessageType.nackResp:
      return { type: 'nack', seqNo: asUint(body(buf, 'nackResp').SeqNo, 'SeqNo', U32) };
    case MessageType.err:
      return { type: 'err', error: asStr(body(buf, 'errResp').Error, 'Error') };
    case MessageType.suspect:
    case MessageType.dead: {
      const b = body(buf, t === MessageType.dead ? 'dead' : 'suspect');
      return {
        type: t === MessageType.dead ? 'dead' : 'suspect',
        incarnation: asUint(b.Incarnation, 'Incarnation', U32), node: asStr(b.Node, 'Node'), from: asStr(b.From, 'From'),
      };
    }
    case MessageType.alive: {
      const b = body(buf, 'alive');
      return {
        type: 'alive', incarnation: asUint(b.Incarnation, 'Incarnation', U32), node: asStr(b.Node, 'Node'),
        addr: asBytes(b.Addr, 'Addr'), port: asUint(b.Port, 'Port', U16), meta: asBytes(b.Meta, 'Meta'),
        vsn: asBytes(b.Vsn, 'Vsn'),
      };
    }
    case MessageType.user:
      return { type: 'user', payload: buf.slice(1) };
    default:
      throw new AgentError('E_DECODE', `msg type (${t}) not supported`, { reason: 'unknown-type', msgType: t });
  }
}

/** Parses an IPv4 (4 bytes) or IPv6 (16 bytes) literal. Throws E_INVALID otherwise. */
export function ipToBytes(ip: string): Uint8Array {
  const s = ip.trim();
  const v4 = parseV4(s);
  if (v4) return v4;
  const v6 = parseV6(s.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  if (v6) return v6;
  throw new AgentError('E_INVALID', `not an IP address: ${ip}`);
}

function parseV4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const g = items[i]!;
      if (i === items.length - 1 && g.includes('.')) {
        const v4 = parseV4(g);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 0xff; });
  return out;
}

/** 4 or 16 bytes to text; v4-mapped v6 (::ffff:a.b.c.d) becomes dotted v4. Other lengths throw E_DECODE. */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new AgentError('E_DECODE', `IP address of ${b.length} bytes`);
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  // RFC 5952: compress the longest run (>= 2) of zero groups.
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hx = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hx(g);
  return `${hx(g.slice(0, bestStart))}::${hx(g.slice(bestStart + bestLen))}`;
}

