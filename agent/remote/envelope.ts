// Wire format of remote control: a signed command travels as a serf query
// payload, a signed answer as a serf query response payload (or, when large,
// over a TCP connection back to the requester; see large-answer.ts).
//
// Both are CBOR (cbor-x) arrays; the signature covers the EXACT encoded bytes of
// the inner array, which travel as a byte string, so no re-encoding is ever
// needed to verify (CBOR encoders need not agree byte for byte).
//
//   command  = [ signed: bstr, sig: bstr(64) ]
//   signed   = [ version: 1, target: tstr, keyId: bstr(8), seq: uint, nonce: bstr(16),
//                command: tstr, args: [* tstr], reply: null / [addr: tstr, port: uint, token: bstr(16)] ]
//   answer   = [ signed: bstr, sig: bstr(64) ]          (signed by the answering node's key)
//   signed   = [ version: 1, node: tstr, nodeKey: bstr(32), request: bstr(16), status: tstr,
//                exit: int, stdout: tstr, stderr: tstr, size: uint ]
//
// `target` is a node name, or `tag:KEY=REGEXP` (fan-out: the node checks the
// expression against its own tags). `request` is the first 16 bytes of SHA-256
// over the command's signed bytes, so an answer cannot be replayed for another
// command. `status` is "ok", "large" (the whole answer follows over TCP; `size`
// is its byte length) or a refusal reason code (REFUSALS).
//
// Everything here is part of the wire format: changing it breaks peers.
import { decode, encode } from 'cbor-x';
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import type { KeyObject } from 'node:crypto';
import { AgentError } from '../errors.ts';
import { KEY_ID_BYTES, keyId, signBytes } from './keys.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

export const ENVELOPE_VERSION = 1;
export const NONCE_BYTES = 16;
export const TOKEN_BYTES = 16;
export const REQUEST_ID_BYTES = 16;
/** Serf query name of remote commands. */
export const REMOTE_QUERY_NAME = 'cloudy-remote';
export const TAG_TARGET_PREFIX = 'tag:';

/** Refusal reasons, in the order the receiver checks them (each has a counter remote.refused.<reason>). */
export const REFUSALS = ['decode', 'version', 'target', 'untrusted', 'signature', 'role', 'replay', 'rate', 'invalid'] as const;
export type Refusal = (typeof REFUSALS)[number];

export interface ReplyTo { addr: string; port: number; token: Uint8Array }

export interface Command {
  version: number;
  target: string;
  keyId: Uint8Array;
  seq: number;
  nonce: Uint8Array;
  command: string;
  args: string[];
  reply: ReplyTo | null;
}

export interface SignedCommand { signed: Uint8Array; sig: Uint8Array; cmd: Command }

export function encodeCommand(c: Command): Uint8Array {
  const reply = c.reply ? [c.reply.addr, c.reply.port, c.reply.token] : null;
  return new Uint8Array(encode([c.version, c.target, c.keyId, c.seq, c.nonce, c.command, c.args, reply]));
}

/** Builds and signs a command with an operator key. */
export function signCommand(
  key: { privateKey: KeyObject; raw: Uint8Array },
  fields: { target: string; seq: number; command: string; args: string[]; reply?: ReplyTo | null },
): Uint8Array {
  const signed = encodeCommand({
    version: ENVELOPE_VERSION, target: fields.target, keyId: keyId(key.raw), seq: fields.seq,
    nonce: new Uint8Array(nodeCrypto().randomBytes(NONCE_BYTES)), command: fields.command, args: fields.args, reply: fields.reply ?? null,
  });
  return packSigned(signed, signBytes(key.privateKey, signed));
}

export function packSigned(signed: Uint8Array, sig: Uint8Array): Uint8Array {
  return new Uint8Array(encode([signed, sig]));
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

/** The outer pair; a missing or empty signature decodes (the receiver refuses it at the signature check). */
export function unpackSigned(payload: Uint8Array): { signed: Uint8Array; sig: Uint8Array } {
  let outer: unknown;
  try { outer = decode(payload); } catch { throw new AgentError('E_DECODE', 'envelope is not CBOR'); }
  if (!Array.isArray(outer) || outer.length < 1 || outer.length > 2 || !isBytes(outer[0])) throw new AgentError('E_DECODE', 'envelope is not [signed, sig]');
  const sig = outer.length === 2 && isBytes(outer[1]) ? outer[1] : new Uint8Array(0);
  return { signed: outer[0], sig };
}

/** Decodes a command's signed bytes (not verified). The version is returned even when the rest is another layout. */
export function decodeCommand(signed: Uint8Array): Command | { version: number } {
  let a: unknown;
  try { a = decode(signed); } catch { throw new AgentError('E_DECODE', 'command is not CBOR'); }
  if (!Array.isArray(a) || typeof a[0] !== 'number') throw new AgentError('E_DECODE', 'command is not an array starting with a version');
  if (a[0] !== ENVELOPE_VERSION) return { version: a[0] };
  const [version, target, kid, seq, nonce, command, args, reply] = a as unknown[];
  const ok = a.length === 8 && typeof target === 'string' && isBytes(kid) && kid.length === KEY_ID_BYTES
    && typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 && isBytes(nonce) && nonce.length === NONCE_BYTES
    && typeof command === 'string' && Array.isArray(args) && args.every((x) => typeof x === 'string');
  if (!ok) throw new AgentError('E_DECODE', 'command fields malformed');
  let replyTo: ReplyTo | null = null;
  if (reply !== null) {
    const r = reply as unknown[];
    if (!Array.isArray(r) || r.length !== 3 || typeof r[0] !== 'string' || typeof r[1] !== 'number' || !Number.isInteger(r[1])
      || r[1] <= 0 || r[1] > 65535 || !isBytes(r[2]) || r[2].length !== TOKEN_BYTES) throw new AgentError('E_DECODE', 'reply field malformed');
    replyTo = { addr: r[0], port: r[1], token: r[2] };
  }
  return { version: version as number, target, keyId: kid, seq, nonce, command, args: args as string[], reply: replyTo };
}

export function requestId(signed: Uint8Array): Uint8Array {
  return new Uint8Array(nodeCrypto().createHash('sha256').update(signed).digest().subarray(0, REQUEST_ID_BYTES));
}

export interface Answer {
  version: number;
  node: string;
  nodeKey: Uint8Array;
  request: Uint8Array;
  status: 'ok' | 'large' | Refusal;
  exit: number;
  stdout: string;
  stderr: string;
  size: number;
}

export function encodeAnswer(a: Answer): Uint8Array {
  return new Uint8Array(encode([a.version, a.node, a.nodeKey, a.request, a.status, a.exit, a.stdout, a.stderr, a.size]));
}

export function decodeAnswer(signed: Uint8Array): Answer {
  let a: unknown;
  try { a = decode(signed); } catch { throw new AgentError('E_DECODE', 'answer is not CBOR'); }
  if (!Array.isArray(a) || a.length !== 9) throw new AgentError('E_DECODE', 'answer is not a 9-element array');
  const [version, node, nodeKey, request, status, exit, stdout, stderr, size] = a as unknown[];
  const ok = version === ENVELOPE_VERSION && typeof node === 'string' && isBytes(nodeKey) && nodeKey.length === 32
    && isBytes(request) && request.length === REQUEST_ID_BYTES && typeof status === 'string'
    && (status === 'ok' || status === 'large' || (REFUSALS as readonly string[]).includes(status))
    && typeof exit === 'number' && Number.isInteger(exit) && typeof stdout === 'string' && typeof stderr === 'string'
    && typeof size === 'number' && Number.isSafeInteger(size) && size >= 0;
  if (!ok) throw new AgentError('E_DECODE', 'answer fields malformed');
  return { version, node, nodeKey, request, status: status as Answer['status'], exit, stdout, stderr, size };
}
