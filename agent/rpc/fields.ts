// Typed reading of serf's own RPC verbs' bodies (handshake, join, event...)
// and of replies in the client, as decoded by @msgpack/msgpack (str ->
// string, bin -> Uint8Array). The agent's registry commands (publish, lxc.*,
// ...) are not read here: commands/schema.ts validates them, for every
// transport. Mirrors go-msgpack's RawToString handle: a
// string field also accepts bin, a []byte field accepts str or bin, nil and
// missing keys are zero values. A wrong type is a decode failure, which serf
// answers by closing the connection.
import { AgentError } from '../errors.ts';

const te = new TextEncoder();
const td = new TextDecoder();

function bad(what: string, want: string): never {
  throw new AgentError('E_DECODE', `decode failed: ${what}: expected ${want}`);
}

export type Body = Record<string, unknown>;

export function asBody(v: unknown, what = 'request'): Body {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return bad(what, 'a map');
  return v as Body;
}

export function fStr(v: unknown, what: string): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return td.decode(v);
  return bad(what, 'a string');
}

export function fBytes(v: unknown, what: string): Uint8Array {
  if (v === null || v === undefined) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return te.encode(v);
  return bad(what, 'bytes');
}

export function fBool(v: unknown, what: string): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  return bad(what, 'a bool');
}

export function fInt(v: unknown, what: string): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return bad(what, 'an integer');
}

export function fUint(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = fInt(v, what);
  if (n < 0 || n > max) bad(what, `an unsigned integer <= ${max}`);
  return n;
}

export function fStrArray(v: unknown, what: string): string[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) return bad(what, 'an array');
  return v.map((x, i) => fStr(x, `${what}[${i}]`));
}

export function fStrMap(v: unknown, what: string): Record<string, string> {
  if (v === null || v === undefined) return {};
  const m = asBody(v, what);
  const out: Record<string, string> = {};
  for (const k of Object.keys(m)) out[k] = fStr(m[k], `${what}.${k}`);
  return out;
}
