// serf 0.9.4 message codecs (SERF-PROTOCOL.md §3): `[serf type][go-msgpack struct]`,
// carried in memberlist user messages or as push/pull user state; plus the
// payload formats nested inside them (query filters, tags in Meta, internal
// key/conflict query payloads, the ping-ack coordinate).
import { AgentError } from '../../errors.ts';
import {
  asArray, asBool, asBytes, asFloat, asInt, asMap, asStr, asStringMap, asUint, decodeGo,
  encodeGoWithPrefix, Float64, type Decoded, type DecodedMap, type GoValue,
} from './msgpack.ts';

/** serf message type bytes (serf/messages.go). */
export const SerfMessageType = {
  leave: 0,
  join: 1,
  pushPull: 2,
  userEvent: 3,
  query: 4,
  queryResponse: 5,
  conflictResponse: 6,
  keyRequest: 7,
  keyResponse: 8,
  relay: 9,
} as const;

/** Query flag bit 0: receivers send an ack. */
export const QUERY_FLAG_ACK = 1;
/** Query flag bit 1: receivers do not re-gossip the query. */
export const QUERY_FLAG_NO_BROADCAST = 2;

/** Query filter type bytes (filterNodeType, filterTagType). */
export const FilterType = { node: 0, tag: 1 } as const;

/** Internal query names (serf/internal_query.go). */
export const INTERNAL_QUERY_PREFIX = '_serf_';
export const QUERY_PING = '_serf_ping';
export const QUERY_CONFLICT = '_serf_conflict';
export const QUERY_INSTALL_KEY = '_serf_install-key';
export const QUERY_USE_KEY = '_serf_use-key';
export const QUERY_REMOVE_KEY = '_serf_remove-key';
export const QUERY_LIST_KEYS = '_serf_list-keys';

/** Meta starts with this byte when it carries msgpack-encoded tags (serf protocol >= 3). */
export const TAG_MAGIC_BYTE = 0xff;
/** Ping-ack payload version byte (serf PingVersion). */
export const PING_VERSION = 1;

export interface SerfUserEvent { name: string; payload: Uint8Array }
export interface SerfUserEvents { ltime: number; events: SerfUserEvent[] }

export type SerfMessage =
  | { type: 'leave'; ltime: number; node: string; prune: boolean }
  | { type: 'join'; ltime: number; node: string }
  | { type: 'userEvent'; ltime: number; name: string; payload: Uint8Array; cc: boolean }
  | {
    type: 'query'; ltime: number; id: number; addr: Uint8Array; port: number; sourceNode: string;
    filters: Uint8Array[]; flags: number; relayFactor: number; timeoutNs: number; name: string; payload: Uint8Array;
  }
  | { type: 'queryResponse'; ltime: number; id: number; from: string; flags: number; payload: Uint8Array }
  | {
    type: 'pushPull'; ltime: number; statusLTimes: Map<string, number>; leftMembers: string[];
    eventLTime: number; events: (SerfUserEvents | null)[]; queryLTime: number;
  }
  | { type: 'relay'; destAddr: Uint8Array; destPort: number; destName: string; inner: Uint8Array /* the raw inner serf message */ };

const U8 = 0xff;
const U16 = 0xffff;
const U32 = 0xffffffff;

/** Go sends a nil []byte for an empty payload (0xc0); decoders treat nil and empty alike. */
function nilIfEmpty(b: Uint8Array): Uint8Array | null {
  return b.length > 0 ? b : null;
}

function fail(msg: string): never {
  throw new AgentError('E_DECODE', `serf: ${msg}`);
}

export function encodeSerfMessage(m: SerfMessage): Uint8Array {
  const T = SerfMessageType;
  switch (m.type) {
    case 'leave':
      return encodeGoWithPrefix([T.leave], { LTime: m.ltime, Node: m.node, Prune: m.prune });
    case 'join':
      return encodeGoWithPrefix([T.join], { LTime: m.ltime, Node: m.node });
    case 'userEvent':
      return encodeGoWithPrefix([T.userEvent], { LTime: m.ltime, Name: m.name, Payload: nilIfEmpty(m.payload), CC: m.cc });
    case 'query':
      return encodeGoWithPrefix([T.query], {
        LTime: m.ltime, ID: m.id, Addr: nilIfEmpty(m.addr), Port: m.port, SourceNode: m.sourceNode,
        Filters: m.filters.length > 0 ? m.filters : null, Flags: m.flags, RelayFactor: m.relayFactor,
        Timeout: m.timeoutNs, Name: m.name, Payload: nilIfEmpty(m.payload),
      });
    case 'queryResponse':
      return encodeGoWithPrefix([T.queryResponse], { LTime: m.ltime, ID: m.id, From: m.from, Flags: m.flags, Payload: nilIfEmpty(m.payload) });
    case 'pushPull': {
      const status = new Map<string, GoValue>();
      for (const [k, v] of m.statusLTimes) status.set(k, v);
      return encodeGoWithPrefix([T.pushPull], {
        LTime: m.ltime, StatusLTimes: status, LeftMembers: m.leftMembers, EventLTime: m.eventLTime,
        Events: m.events.map((e) => (e === null ? null : {
          LTime: e.ltime, Events: e.events.map((x) => ({ Name: x.name, Payload: nilIfEmpty(x.payload) })),
        })),
        QueryLTime: m.queryLTime,
      });
    }
    case 'relay': {
      // [9] msgpack(relayHeader{DestAddr: net.UDPAddr{IP, Port, Zone}, DestName}) + inner message bytes.
      const head = encodeGoWithPrefix([T.relay], {
        DestAddr: { IP: nilIfEmpty(m.destAddr), Port: m.destPort, Zone: '' }, DestName: m.destName,
      });
      const out = new Uint8Array(head.length + m.inner.length);
      out.set(head);
      out.set(m.inner, head.length);
      return out;
    }
  }
}

function bodyOf(buf: Uint8Array, what: string): { m: DecodedMap; end: number } {
  const { value, end } = decodeGo(buf, 1);
  return { m: asMap(value, what), end };
}

/** Decodes one serf message (type byte + body). Throws AgentError E_DECODE on garbage. */
export function decodeSerfMessage(buf: Uint8Array): SerfMessage {
  if (buf.length === 0) fail('empty message');
  const t = buf[0]!;
  const T = SerfMessageType;
  switch (t) {
    case T.leave: {
      const { m } = bodyOf(buf, 'messageLeave');
      return { type: 'leave', ltime: asUint(m.LTime, 'LTime'), node: asStr(m.Node, 'Node'), prune: asBool(m.Prune, 'Prune') };
    }
    case T.join: {
      const { m } = bodyOf(buf, 'messageJoin');
      return { type: 'join', ltime: asUint(m.LTime, 'LTime'), node: asStr(m.Node, 'Node') };
    }
    case T.userEvent: {
      const { m } = bodyOf(buf, 'messageUserEvent');
      return { type: 'userEvent', ltime: asUint(m.LTime, 'LTime'), name: asStr(m.Name, 'Name'), payload: asBytes(m.Payload, 'Payload'), cc: asBool(m.CC, 'CC') };
    }
    case T.query: {
      const { m } = bodyOf(buf, 'messageQuery');
      return {
        type: 'query', ltime: asUint(m.LTime, 'LTime'), id: asUint(m.ID, 'ID', U32), addr: asBytes(m.Addr, 'Addr'),
        port: asUint(m.Port, 'Port', U16), sourceNode: asStr(m.SourceNode, 'SourceNode'),
        filters: asArray(m.Filters, 'Filters').map((f, i) => asBytes(f, `Filters[${i}]`)),
        flags: asUint(m.Flags, 'Flags', U32), relayFactor: asUint(m.RelayFactor, 'RelayFactor', U8),
        timeoutNs: asInt(m.Timeout, 'Timeout'), name: asStr(m.Name, 'Name'), payload: asBytes(m.Payload, 'Payload'),
      };
    }
    case T.queryResponse: {
      const { m } = bodyOf(buf, 'messageQueryResponse');
      return {
        type: 'queryResponse', ltime: asUint(m.LTime, 'LTime'), id: asUint(m.ID, 'ID', U32), from: asStr(m.From, 'From'),
        flags: asUint(m.Flags, 'Flags', U32), payload: asBytes(m.Payload, 'Payload'),
      };
    }
    case T.pushPull: {
      const { m } = bodyOf(buf, 'messagePushPull');
      const statusLTimes = new Map<string, number>();
      if (m.StatusLTimes !== null && m.StatusLTimes !== undefined) {
        const s = asMap(m.StatusLTimes, 'StatusLTimes');
        for (const k of Object.keys(s)) statusLTimes.set(k, asUint(s[k], `StatusLTimes.${k}`));
      }
      const events = asArray(m.Events, 'Events').map((e, i) => decodeUserEventsSlot(e, i));
      return {
        type: 'pushPull', ltime: asUint(m.LTime, 'LTime'), statusLTimes,
        leftMembers: asArray(m.LeftMembers, 'LeftMembers').map((x) => asStr(x, 'LeftMembers[]')),
        eventLTime: asUint(m.EventLTime, 'EventLTime'), events, queryLTime: asUint(m.QueryLTime, 'QueryLTime'),
      };
    }
    case T.relay: {
      const { m, end } = bodyOf(buf, 'relayHeader');
      const dest = m.DestAddr === null || m.DestAddr === undefined ? ({} as DecodedMap) : asMap(m.DestAddr, 'DestAddr');
      const port = asInt(dest.Port, 'DestAddr.Port');
      if (port < 0 || port > U16) fail(`relay port ${port}`);
      const inner = buf.slice(end);
      if (inner.length === 0) fail('relay without an inner message');
      return { type: 'relay', destAddr: asBytes(dest.IP, 'DestAddr.IP'), destPort: port, destName: asStr(m.DestName, 'DestName'), inner };
    }
    default:
      return fail(`unknown message type ${t}`);
  }
}

// ---------------------------------------------------------------------------
// Query filters: [filter type] msgpack(value)

export type QueryFilter = { kind: 'node'; names: string[] } | { kind: 'tag'; tag: string; expr: string };

/** Node filter: the receiving node's name must be in `names`. */
export function encodeNodeFilter(names: string[]): Uint8Array {
  return encodeGoWithPrefix([FilterType.node], names);
}

/** Tag filter: unanchored RE2 `expr` must match the receiver's tag `tag` (missing = ""). */
export function encodeTagFilter(tag: string, expr: string): Uint8Array {
  return encodeGoWithPrefix([FilterType.tag], { Tag: tag, Expr: expr });
}

/** Throws E_DECODE on a malformed or unknown filter. */
export function decodeFilter(b: Uint8Array): QueryFilter {
  if (b.length === 0) fail('empty filter');
  const v = decodeGo(b, 1).value;
  if (b[0] === FilterType.node) return { kind: 'node', names: asArray(v, 'filterNode').map((x) => asStr(x, 'filterNode[]')) };
  if (b[0] === FilterType.tag) {
    const m = asMap(v, 'filterTag');
    return { kind: 'tag', tag: asStr(m.Tag, 'Tag'), expr: asStr(m.Expr, 'Expr') };
  }
  return fail(`unknown filter type ${b[0]}`);
}

// ---------------------------------------------------------------------------
// Tags in memberlist Meta

/** `0xFF || msgpack(map[string]string)` (keys in insertion order; Go's order is random). */
export function encodeTags(tags: Record<string, string>): Uint8Array {
  const m = new Map<string, GoValue>();
  for (const k of Object.keys(tags)) m.set(k, tags[k]!);
  return encodeGoWithPrefix([TAG_MAGIC_BYTE], m);
}

/**
 * Node meta for our tags: protocol >= 3 is 0xFF + msgpack map; protocol 2 only
 * carries the raw value of tag `role` (§3.3).
 */
export function encodeMeta(tags: Record<string, string>, protocolVersion: number): Uint8Array {
  if (protocolVersion < 3) return new TextEncoder().encode(tags['role'] ?? '');
  return encodeTags(tags);
}

/**
 * Meta to tags, as serf's decodeTags: empty Meta or a first byte other than 0xFF is
 * protocol-2 style `{role: Meta}`. Never throws: malformed tag bytes give `{}`
 * (serf logs and keeps what it decoded); use tryDecodeTags to detect that case.
 */
export function decodeTags(meta: Uint8Array): Record<string, string> {
  return tryDecodeTags(meta).tags;
}

export function tryDecodeTags(meta: Uint8Array): { tags: Record<string, string>; error?: string } {
  if (meta.length === 0 || meta[0] !== TAG_MAGIC_BYTE) return { tags: { role: new TextDecoder().decode(meta) } };
  try {
    return { tags: asStringMap(decodeGo(meta, 1).value, 'tags') };
  } catch (e) {
    return { tags: {}, error: (e as Error).message };
  }
}

// ---------------------------------------------------------------------------
// Internal query payloads

/** `[7] msgpack(keyRequest{Key})`; the key is raw bytes (empty for list-keys: `07 81 a3 "Key" a0`). */
export function encodeKeyRequest(key: Uint8Array): Uint8Array {
  return encodeGoWithPrefix([SerfMessageType.keyRequest], { Key: key });
}

export function decodeKeyRequest(b: Uint8Array): { key: Uint8Array } {
  if (b.length === 0 || b[0] !== SerfMessageType.keyRequest) fail('not a key request');
  return { key: asBytes(asMap(decodeGo(b, 1).value, 'keyRequest').Key, 'Key') };
}

export interface NodeKeyResponse { result: boolean; message: string; keys: string[]; primaryKey: string }

/** `[8] msgpack(nodeKeyResponse{Keys, Message, PrimaryKey, Result})`; no keys = nil list like Go. */
export function encodeNodeKeyResponse(r: NodeKeyResponse): Uint8Array {
  return encodeGoWithPrefix([SerfMessageType.keyResponse], {
    Result: r.result, Message: r.message, Keys: r.keys.length > 0 ? r.keys : null, PrimaryKey: r.primaryKey,
  });
}

export function decodeNodeKeyResponse(b: Uint8Array): NodeKeyResponse {
  if (b.length === 0 || b[0] !== SerfMessageType.keyResponse) fail('Invalid key query response type');
  const m = asMap(decodeGo(b, 1).value, 'nodeKeyResponse');
  return {
    result: asBool(m.Result, 'Result'), message: asStr(m.Message, 'Message'),
    keys: asArray(m.Keys, 'Keys').map((k) => asStr(k, 'Keys[]')), primaryKey: asStr(m.PrimaryKey, 'PrimaryKey'),
  };
}

/** serf MemberStatus numbers as sent in a conflict response. */
export const MemberStatusCode = { none: 0, alive: 1, leaving: 2, left: 3, failed: 4 } as const;

export interface ConflictMember {
  name: string;
  addr: Uint8Array;
  port: number;
  tags: Record<string, string>;
  status: number;
  protocolMin: number; protocolMax: number; protocolCur: number;
  delegateMin: number; delegateMax: number; delegateCur: number;
}

/** `[6] msgpack(Member)` or `[6] nil` when the responder does not know the node. */
export function encodeConflictMember(m: ConflictMember | null): Uint8Array {
  if (m === null) return encodeGoWithPrefix([SerfMessageType.conflictResponse], null);
  const tags = new Map<string, GoValue>();
  for (const k of Object.keys(m.tags)) tags.set(k, m.tags[k]!);
  return encodeGoWithPrefix([SerfMessageType.conflictResponse], {
    Name: m.name, Addr: nilIfEmpty(m.addr), Port: m.port, Tags: tags, Status: m.status,
    ProtocolMin: m.protocolMin, ProtocolMax: m.protocolMax, ProtocolCur: m.protocolCur,
    DelegateMin: m.delegateMin, DelegateMax: m.delegateMax, DelegateCur: m.delegateCur,
  });
}

export function decodeConflictMember(b: Uint8Array): ConflictMember | null {
  if (b.length === 0 || b[0] !== SerfMessageType.conflictResponse) fail('not a conflict response');
  const v: Decoded = decodeGo(b, 1).value;
  if (v === null) return null;
  const m = asMap(v, 'Member');
  return {
    name: asStr(m.Name, 'Name'), addr: asBytes(m.Addr, 'Addr'), port: asUint(m.Port, 'Port', U16),
    tags: asStringMap(m.Tags, 'Tags'), status: asInt(m.Status, 'Status'),
    protocolMin: asUint(m.ProtocolMin, 'ProtocolMin', U8), protocolMax: asUint(m.ProtocolMax, 'ProtocolMax', U8),
    protocolCur: asUint(m.ProtocolCur, 'ProtocolCur', U8), delegateMin: asUint(m.DelegateMin, 'DelegateMin', U8),
    delegateMax: asUint(m.DelegateMax, 'DelegateMax', U8), delegateCur: asUint(m.DelegateCur, 'DelegateCur', U8),
  };
}

// ---------------------------------------------------------------------------
// Ping-ack payload: [PingVersion] msgpack(coordinate.Coordinate)

export interface CoordinatePayload { vec: number[]; error: number; adjustment: number; height: number }

/** Floats are always float64 (0xcb), even when integral, as Go writes them. */
export function encodeCoordinatePayload(c: CoordinatePayload): Uint8Array {
  return encodeGoWithPrefix([PING_VERSION], {
    Vec: c.vec.map((x) => new Float64(x)), Error: new Float64(c.error), Adjustment: new Float64(c.adjustment), Height: new Float64(c.height),
  });
}

/** Throws E_DECODE for an unknown version or a malformed coordinate (callers ignore empty payloads before calling). */
export function decodeCoordinatePayload(b: Uint8Array): CoordinatePayload {
  if (b.length === 0) fail('empty ping payload');
  if (b[0] !== PING_VERSION) fail(`Unsupported ping version: ${b[0]}`);
  const m = asMap(decodeGo(b, 1).value, 'Coordinate');
  return {
    vec: asArray(m.Vec, 'Vec').map((x) => asFloat(x, 'Vec[]')), error: asFloat(m.Error, 'Error'),
    adjustment: asFloat(m.Adjustment, 'Adjustment'), height: asFloat(m.Height, 'Height'),
  };
}

/** One slot of a push/pull's Events (serf userEvents: LTime + the events at it); null slots stay null. */
export function decodeUserEventsSlot(e: Decoded, i: number): SerfUserEvents | null {
  if (e === null) return null;
  const ue = asMap(e, `Events[${i}]`);
  return {
    ltime: asUint(ue.LTime, 'LTime'),
    events: asArray(ue.Events, 'Events').map((x) => {
      const ev = asMap(x, 'userEvent');
      return { name: asStr(ev.Name, 'Name'), payload: asBytes(ev.Payload, 'Payload') };
    }),
  };
}

/** A msgpack reader over a push/pull user state as its bytes arrive (memberlist's RemoteStateReader). */
export interface StreamedStateReader {
  byte(): Promise<number>;
  containerHeader(): Promise<{ kind: 'map' | 'array'; count: number } | null>;
  value(): Promise<Decoded>;
  forEach(count: number, fn: (value: Decoded, index: number) => void | Promise<void>): Promise<void>;
}

/** What a streamed serf push/pull carries, handed out key by key as it is read. */
export interface SerfPushPullVisitor {
  ltime(v: number): void;
  eventLTime(v: number): void;
  queryLTime(v: number): void;
  /** One name of LeftMembers. */
  leftMember(name: string): void;
  /** One StatusLTimes entry; `index` counts the entries (a promise returned is awaited: a yield). */
  statusLTime(name: string, ltime: number, index: number): void | Promise<void>;
  /** One non-empty slot of Events. */
  eventsSlot(slot: SerfUserEvents): void;
}

/**
 * Reads serf's push/pull user state `[2] messagePushPull` (§3.8) as it streams
 * in, key by key, without building the whole map: a 50,000-member state never
 * becomes a 50,000-key object. Go's encoder writes the keys sorted
 * (EventLTime, Events, LTime, LeftMembers, QueryLTime, StatusLTimes), so the
 * clocks and the left members arrive before the status times. Returns false
 * when the type byte is not a push/pull; E_DECODE when malformed (what was
 * handed out before stays handed out).
 */
export async function readSerfPushPull(r: StreamedStateReader, v: SerfPushPullVisitor): Promise<boolean> {
  if ((await r.byte()) !== SerfMessageType.pushPull) return false;
  const h = await r.containerHeader();
  if (!h || h.kind !== 'map') throw new AgentError('E_DECODE', 'push/pull state is not a map');
  for (let i = 0; i < h.count; i++) {
    const key = asStr(await r.value(), 'messagePushPull key');
    switch (key) {
      case 'LTime': v.ltime(asUint(await r.value(), 'LTime')); break;
      case 'EventLTime': v.eventLTime(asUint(await r.value(), 'EventLTime')); break;
      case 'QueryLTime': v.queryLTime(asUint(await r.value(), 'QueryLTime')); break;
      case 'LeftMembers': {
        const a = await r.containerHeader();
        if (a && a.kind !== 'array') throw new AgentError('E_DECODE', 'LeftMembers is not an array');
        await r.forEach(a?.count ?? 0, (x) => v.leftMember(asStr(x, 'LeftMembers[]')));
        break;
      }
      case 'StatusLTimes': {
        const m = await r.containerHeader();
        if (m && m.kind !== 'map') throw new AgentError('E_DECODE', 'StatusLTimes is not a map');
        let name = '';
        await r.forEach(2 * (m?.count ?? 0), (x, j) => {
          if (j % 2 === 0) { name = asStr(x, 'StatusLTimes key'); return undefined; }
          return v.statusLTime(name, asUint(x, `StatusLTimes.${name}`), (j - 1) / 2);
        });
        break;
      }
      case 'Events': {
        const a = await r.containerHeader();
        if (a && a.kind !== 'array') throw new AgentError('E_DECODE', 'Events is not an array');
        for (let j = 0; j < (a?.count ?? 0); j++) {
          const slot = decodeUserEventsSlot(await r.value(), j);
          if (slot) v.eventsSlot(slot);
        }
        break;
      }
      default:
        await r.value();
    }
  }
  return true;
}
