// Constants and record shapes of serf's agent RPC protocol (SERF-PROTOCOL.md §4,
// serf 0.9.4 cmd/serf/command/agent/ipc.go). Error strings are part of the
// protocol: the Go CLI prints them and some clients match them, so they must
// stay byte-identical to serf's.
import { isIP } from 'node:net';
import type { GoValue } from '../gossip/wire/msgpack.ts';
import type { Member } from '../gossip/serf/types.ts';

/** Only IPC version 1 exists (serf MinIPCVersion = MaxIPCVersion = 1). */
export const IPC_VERSION = 1;

export const ERR = {
  unsupportedCommand: 'Unsupported command',
  unsupportedIPCVersion: 'Unsupported IPC version',
  duplicateHandshake: 'Handshake already performed',
  handshakeRequired: 'Handshake required',
  monitorExists: 'Monitor already exists',
  invalidFilter: 'Invalid event filter',
  streamExists: 'Stream with given sequence exists',
  invalidQueryID: 'No pending queries matching ID',
  authRequired: 'Authentication required',
  invalidAuthToken: 'Invalid authentication token',
} as const;

/** Commands serf's agent knows; each one says whether a request body follows the header. */
export const SERF_COMMANDS: Readonly<Record<string, boolean>> = Object.freeze({
  'handshake': true,
  'auth': true,
  'event': true,
  'force-leave': true,
  'join': true,
  'members': false,
  'members-filtered': true,
  'stream': true,
  'stop': true,
  'monitor': true,
  'leave': false,
  'install-key': true,
  'use-key': true,
  'remove-key': true,
  'list-keys': false,
  'tags': true,
  'query': true,
  'respond': true,
  'stats': false,
  'get-coordinate': true,
});

export const MONITOR_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERR'] as const;

/** IP string -> the bytes Go's net.IP carries (4 for IPv4, 16 for IPv6). */
export function ipToBytes(ip: string): Uint8Array {
  const kind = isIP(ip);
  if (kind === 4) return Uint8Array.from(ip.split('.').map((x) => Number(x)));
  if (kind !== 6) return new Uint8Array(0);
  let s = ip;
  const out = new Uint8Array(16);
  // Trailing dotted quad (::ffff:1.2.3.4)
  const dot = s.lastIndexOf('.');
  let tail: number[] = [];
  if (dot >= 0) {
    const colon = s.lastIndexOf(':');
    tail = s.slice(colon + 1).split('.').map(Number);
    s = s.slice(0, colon + 1) + '0:0';
  }
  const [head, rest] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...new Array(8 - h.length - r.length).fill('0'), ...r];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = (v >> 8) & 0xff;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** Bytes of a Go net.IP -> its String() form (v4-mapped v6 prints as IPv4). */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length !== 16) return b.length === 0 ? '<nil>' : `?${Buffer.from(b).toString('hex')}`;
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return [...b.subarray(12)].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // WHATWG URL host serialization compresses the longest zero run (>= 2 groups,
  // first on ties), exactly like Go's net.IP.String().
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}


/** RPC `Member` struct (keys sorted by encodeGo). */
export function memberRecord(m: Member): GoValue {
  return {
    Name: m.name,
    Addr: ipToBytes(m.addr),
    Port: m.port,
    Tags: new Map(Object.entries(m.tags)),
    Status: m.status,
    ProtocolMin: m.protocolMin,
    ProtocolMax: m.protocolMax,
    ProtocolCur: m.protocolCur,
    DelegateMin: m.delegateMin,
    DelegateMax: m.delegateMax,
    DelegateCur: m.delegateCur,
  };
}

/** A Go []byte field: nil when empty (go-msgpack writes 0xc0 for a nil slice). */
export function goBytes(b: Uint8Array | null | undefined): Uint8Array | null {
  return b && b.length > 0 ? b : null;
}
