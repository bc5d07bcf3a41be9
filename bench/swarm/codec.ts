// The memberlist messages a swarm member sends and understands, built on the
// project's wire codecs (agent/gossip/wire: go-msgpack encoder/decoder, Go LZW,
// CRC-32). Only the swarm's needs are covered: ping/ack/nack/indirect ping,
// alive/suspect/dead gossip, compound/compress/CRC unwrapping, TCP push/pull
// and TCP ping. Layouts: SERF-PROTOCOL.md §2.2-2.9.
import {
  encodeGo, encodeGoWithPrefix, decodeGo, asMap, asStr, asBytes, asUint, asBool,
  Float64, type Decoded, type GoValue,
} from '../../agent/gossip/wire/msgpack.ts';
import { lzwDecompress } from '../../agent/gossip/wire/lzw.ts';
import { crc32 } from '../../agent/gossip/wire/crc32.ts';

/** memberlist message type bytes (§2.1). */
export const MSG = {
  ping: 0, indirectPing: 1, ack: 2, suspect: 3, alive: 4, dead: 5, pushPull: 6,
  compound: 7, user: 8, compress: 9, encrypt: 10, nack: 11, hasCrc: 12, err: 13,
} as const;

/** Vsn of a serf 0.9.4 agent: memberlist 1..5 speaking 2, serf delegate 2..5 speaking 5 (§2.10). */
export const SERF_VSN = Uint8Array.from([1, 5, 2, 2, 5, 5]);

/** pushNodeState.State values (§2.2). */
export const STATE = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;

/** Ceiling for any decompressed message or stream the swarm accepts (serf's own push/pull cap is 20 MiB). */
export const MAX_DECOMPRESSED = 32 * 1024 * 1024;

export interface NodeState {
  name: string;
  addr: Uint8Array;
  port: number;
  incarnation: number;
  meta: Uint8Array;
  state: number;
  vsn: Uint8Array;
}

export interface Ping { seqNo: number; node: string; sourceAddr?: Uint8Array; sourcePort?: number; sourceNode?: string }
export interface IndirectPing { seqNo: number; target: Uint8Array; port: number; node: string; nack: boolean; sourceAddr?: Uint8Array; sourcePort?: number; sourceNode?: string }
export interface Gossip { node: string; incarnation: number; from: string }

// --- encoders ---------------------------------------------------------------

export function encodePing(p: Ping): Uint8Array {
  return encodeGoWithPrefix([MSG.ping], {
    Node: p.node, SeqNo: p.seqNo,
    SourceAddr: p.sourceAddr, SourceNode: p.sourceNode || undefined, SourcePort: p.sourcePort || undefined,
  });
}

export function encodeIndirectPing(p: IndirectPing): Uint8Array {
  return encodeGoWithPrefix([MSG.indirectPing], {
    Nack: p.nack, Node: p.node, Port: p.port, SeqNo: p.seqNo, Target: p.target,
    SourceAddr: p.sourceAddr, SourceNode: p.sourceNode || undefined, SourcePort: p.sourcePort || undefined,
  });
}

export function encodeAck(seqNo: number, payload: Uint8Array | null): Uint8Array {
  return encodeGoWithPrefix([MSG.ack], { Payload: payload, SeqNo: seqNo });
}

export function encodeNack(seqNo: number): Uint8Array {
  return encodeGoWithPrefix([MSG.nack], { SeqNo: seqNo });
}

export function encodeAlive(n: NodeState): Uint8Array {
  return encodeGoWithPrefix([MSG.alive], {
    Addr: n.addr, Incarnation: n.incarnation, Meta: n.meta, Node: n.name, Port: n.port, Vsn: n.vsn,
  });
}

/** `[7][n][len16...][msgs...]` (§2.4). */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length > 255) throw new RangeError('compound: at most 255 parts');
  const size = 2 + parts.length * 2 + parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = MSG.compound;
  out[1] = parts.length;
  let o = 2;
  for (const p of parts) { view.setUint16(o, p.length); o += 2; }
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** `[12][crc32 BE][inner]` (§2.5), used by serf toward peers with PMax >= 5. */
export function withCrc(inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + inner.length);
  out[0] = MSG.hasCrc;
  new DataView(out.buffer).setUint32(1, crc32(inner));
  out.set(inner, 5);
  return out;
}

function nodeStateValue(n: NodeState): GoValue {
  return { Addr: n.addr, Incarnation: n.incarnation, Meta: n.meta, Name: n.name, Port: n.port, State: n.state, Vsn: n.vsn };
}

/** A complete uncompressed push/pull stream: header, node states, user state (§2.9). */
export function encodePushPull(join: boolean, nodes: readonly NodeState[], userState: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [encodeGoWithPrefix([MSG.pushPull], { Join: join, Nodes: nodes.length, UserStateLen: userState.length })];
  for (const n of nodes) parts.push(encodeGo(nodeStateValue(n)));
  parts.push(userState);
  return concat(parts);
}

/**
 * Serf's push/pull user state `[2] msgpack(messagePushPull)` (§3.8): every member
 * with a status LTime, no left members, an empty event buffer.
 */
export function encodeSerfPushPullState(clock: number, members: readonly string[]): Uint8Array {
  const status = new Map<string, GoValue>();
  for (const m of members) status.set(m, 1);
  return encodeGoWithPrefix([2], {
    EventLTime: 1, Events: [], LTime: clock, LeftMembers: [], QueryLTime: 1, StatusLTimes: status,
  });
}

/** Serf's ack payload: `[1]` + msgpack(initial Vivaldi coordinate) (§3.12). */
export function serfAckPayload(): Uint8Array {
  const vec: GoValue[] = [];
  for (let i = 0; i < 8; i++) vec.push(new Float64(0));
  return encodeGoWithPrefix([1], { Adjustment: new Float64(0), Error: new Float64(1.5), Height: new Float64(1e-5), Vec: vec });
}

/** Meta for serf protocol >= 3: 0xFF + msgpack(map[string]string) (§3.3). */
export function encodeTags(tags: Record<string, string>): Uint8Array {
  return encodeGoWithPrefix([0xff], new Map(Object.entries(tags)));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// --- decoders ---------------------------------------------------------------

export type Inbound =
  | { kind: 'ping'; msg: Ping }
  | { kind: 'indirectPing'; msg: IndirectPing }
  | { kind: 'ack'; seqNo: number }
  | { kind: 'nack'; seqNo: number }
  | { kind: 'alive'; msg: NodeState }
  | { kind: 'suspect'; msg: Gossip }
  | { kind: 'dead'; msg: Gossip }
  | { kind: 'user'; payload: Uint8Array }
  | { kind: 'other'; type: number };

function optSource(m: Record<string, Decoded>): { sourceAddr?: Uint8Array; sourcePort?: number; sourceNode?: string } {
  const a = asBytes(m.SourceAddr, 'SourceAddr');
  return {
    sourceAddr: a.length ? a : undefined,
    sourcePort: asUint(m.SourcePort, 'SourcePort', 0xffff) || undefined,
    sourceNode: asStr(m.SourceNode, 'SourceNode') || undefined,
  };
}

function decodeBody(buf: Uint8Array): Record<string, Decoded> {
  return asMap(decodeGo(buf, 1).value, 'message');
}

function decodeOne(buf: Uint8Array, out: Inbound[], depth: number): void {
  if (buf.length === 0) return;
  if (depth > 4) throw new RangeError('message nesting too deep');
  const type = buf[0]!;
  switch (type) {
    case MSG.ping: {
      const m = decodeBody(buf);
      out.push({ kind: 'ping', msg: { seqNo: asUint(m.SeqNo, 'SeqNo'), node: asStr(m.Node, 'Node'), ...optSource(m) } });
      return;
    }
    case MSG.indirectPing: {
      const m = decodeBody(buf);
      out.push({ kind: 'indirectPing', msg: {
        seqNo: asUint(m.SeqNo, 'SeqNo'), target: asBytes(m.Target, 'Target'), port: asUint(m.Port, 'Port', 0xffff),
        node: asStr(m.Node, 'Node'), nack: asBool(m.Nack, 'Nack'), ...optSource(m),
      } });
      return;
    }
    case MSG.ack: out.push({ kind: 'ack', seqNo: asUint(decodeBody(buf).SeqNo, 'SeqNo') }); return;
    case MSG.nack: out.push({ kind: 'nack', seqNo: asUint(decodeBody(buf).SeqNo, 'SeqNo') }); return;
    case MSG.alive: {
      const m = decodeBody(buf);
      out.push({ kind: 'alive', msg: {
        name: asStr(m.Node, 'Node'), addr: asBytes(m.Addr, 'Addr'), port: asUint(m.Port, 'Port', 0xffff),
        incarnation: asUint(m.Incarnation, 'Incarnation'), meta: asBytes(m.Meta, 'Meta'), state: STATE.alive, vsn: asBytes(m.Vsn, 'Vsn'),
      } });
      return;
    }
    case MSG.suspect:
    case MSG.dead: {
      const m = decodeBody(buf);
      const msg = { node: asStr(m.Node, 'Node'), incarnation: asUint(m.Incarnation, 'Incarnation'), from: asStr(m.From, 'From') };
      out.push(type === MSG.suspect ? { kind: 'suspect', msg } : { kind: 'dead', msg });
      return;
    }
    case MSG.user: out.push({ kind: 'user', payload: buf.subarray(1) }); return;
    case MSG.compound: {
      const n = buf[1] ?? 0;
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let o = 2 + n * 2;
      for (let i = 0; i < n; i++) {
        if (2 + i * 2 + 2 > buf.length) return;
        const len = view.getUint16(2 + i * 2);
        if (o + len > buf.length) return; // truncated parts are dropped, earlier ones kept
        decodeOne(buf.subarray(o, o + len), out, depth + 1);
        o += len;
      }
      return;
    }
    case MSG.compress: decodeOne(decompressBody(buf, 1).inner, out, depth + 1); return;
    case MSG.hasCrc: {
      if (buf.length < 5) throw new RangeError('short CRC header');
      const inner = buf.subarray(5);
      if (new DataView(buf.buffer, buf.byteOffset).getUint32(1) !== crc32(inner)) throw new RangeError('CRC mismatch');
      decodeOne(inner, out, depth + 1);
      return;
    }
    default: out.push({ kind: 'other', type });
  }
}

/** Decodes one UDP datagram into its messages (CRC, compress and compound unwrapped). Throws on malformed input. */
export function decodePacket(buf: Uint8Array): Inbound[] {
  const out: Inbound[] = [];
  decodeOne(buf, out, 0);
  return out;
}

/** `msgpack({Algo, Buf})` at `offset` -> decompressed bytes and where the compress object ended. */
function decompressBody(buf: Uint8Array, offset: number): { inner: Uint8Array; end: number } {
  const { value, end } = decodeGo(buf, offset);
  const m = asMap(value, 'compress');
  if (asUint(m.Algo, 'Algo') !== 0) throw new RangeError('unknown compression algorithm');
  return { inner: lzwDecompress(asBytes(m.Buf, 'Buf'), MAX_DECOMPRESSED), end };
}

export type StreamRequest =
  | { kind: 'pushPull'; join: boolean; nodes: NodeState[]; userState: Uint8Array }
  | { kind: 'ping'; msg: Ping }
  | { kind: 'other'; type: number };

/**
 * Parses a complete TCP stream message (after an optional `[9]` compress wrapper).
 * Throws NeedMoreData (msgpack.ts) while the bytes so far end inside it.
 */
export function parseStream(buf: Uint8Array): StreamRequest {
  let b = buf;
  if (b.length === 0) throw new RangeError('empty stream');
  if (b[0] === MSG.compress) b = decompressBody(b, 1).inner;
  const type = b[0];
  if (type === MSG.ping) {
    const m = asMap(decodeGo(b, 1).value, 'ping');
    return { kind: 'ping', msg: { seqNo: asUint(m.SeqNo, 'SeqNo'), node: asStr(m.Node, 'Node'), ...optSource(m) } };
  }
  if (type !== MSG.pushPull) return { kind: 'other', type: type ?? -1 };
  const h = decodeGo(b, 1);
  const hdr = asMap(h.value, 'pushPullHeader');
  const count = asUint(hdr.Nodes, 'Nodes');
  const userLen = asUint(hdr.UserStateLen, 'UserStateLen');
  let o = h.end;
  const nodes: NodeState[] = [];
  for (let i = 0; i < count; i++) {
    const r = decodeGo(b, o);
    o = r.end;
    const m = asMap(r.value, 'pushNodeState');
    nodes.push({
      name: asStr(m.Name, 'Name'), addr: asBytes(m.Addr, 'Addr'), port: asUint(m.Port, 'Port', 0xffff),
      incarnation: asUint(m.Incarnation, 'Incarnation'), meta: asBytes(m.Meta, 'Meta'),
      state: asUint(m.State, 'State'), vsn: asBytes(m.Vsn, 'Vsn'),
    });
  }
  if (o + userLen > b.length) {
    // decodeGo's NeedMoreData is what callers wait on; reuse it by decoding past the end.
    decodeGo(b, b.length);
  }
  return { kind: 'pushPull', join: asBool(hdr.Join, 'Join'), nodes, userState: b.subarray(o, o + userLen) };
}

/** Decodes a push/pull *reply* stream (what an agent answers to our push/pull). */
export function parsePushPullReply(buf: Uint8Array): { nodes: NodeState[] } | { error: string } {
  let b = buf;
  if (b[0] === MSG.compress) b = decompressBody(b, 1).inner;
  if (b[0] === MSG.err) return { error: asStr(asMap(decodeGo(b, 1).value).Error) };
  const r = parseStream(b);
  if (r.kind !== 'pushPull') throw new RangeError(`unexpected reply type ${r.kind}`);
  return { nodes: r.nodes };
}
