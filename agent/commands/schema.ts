// Argument schemas of the agent's commands and their one validator.
//
// Every transport hands the registry the arguments as it decoded them (RPC:
// @msgpack/msgpack, where a Go client may send a string as bin; HTTP: JSON;
// CLI: values built from flags), and this file turns them into typed values or
// an AgentError E_INVALID that names the field. No handler reads a raw body.
//
// Missing and nil are the same thing (as in go-msgpack): an optional field that
// is absent comes out as undefined, a required one is refused.
import { AgentError } from '../errors.ts';

export type FieldType = 'string' | 'int' | 'bool' | 'string[]' | 'map';

export interface FieldSpec {
  type: FieldType;
  /** Refuse the call when the field is missing (or nil). */
  required?: boolean;
  /** One line for `list()` and the HTTP API's self-description. */
  doc: string;
}

export type ArgSchema = Readonly<Record<string, FieldSpec>>;

type ValueOf<T extends FieldType> =
  T extends 'string' ? string
    : T extends 'int' ? number
      : T extends 'bool' ? boolean
        : T extends 'string[]' ? string[]
          : Record<string, unknown>;

/** The typed arguments a handler receives for schema S. */
export type ArgsOf<S extends ArgSchema> = {
  [K in keyof S]: S[K]['required'] extends true ? ValueOf<S[K]['type']> : ValueOf<S[K]['type']> | undefined;
};

const td = new TextDecoder();

function invalid(field: string, want: string, got: unknown): never {
  const kind = got === null ? 'nil' : Array.isArray(got) ? 'an array' : got instanceof Uint8Array ? 'bytes' : typeof got;
  throw new AgentError('E_INVALID', `${field}: expected ${want}, got ${kind}`, { field });
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function toMap(v: unknown): Record<string, unknown> | null {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), x]));
  return isMap(v) ? v : null;
}

function readString(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return td.decode(v);
  return invalid(field, 'a string', v);
}

function readInt(v: unknown, field: string): number {
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  return invalid(field, 'an integer', v);
}

function readBool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  // Some msgpack clients (and serf's own fields.ts rule) send 0/1 for a bool.
  if (v === 0 || v === 1) return v === 1;
  return invalid(field, 'a bool', v);
}

function readValue(t: FieldType, v: unknown, field: string): unknown {
  switch (t) {
    case 'string': return readString(v, field);
    case 'int': return readInt(v, field);
    case 'bool': return readBool(v, field);
    case 'string[]':
      if (!Array.isArray(v)) return invalid(field, 'a list of strings', v);
      return v.map((x, i) => readString(x, `${field}[${i}]`));
    case 'map': {
      const m = toMap(v);
      return m ?? invalid(field, 'a map', v);
    }
  }
}

/**
 * Checks raw arguments against a schema: the one place a command's input is
 * validated. Unknown fields are ignored (a newer client may send more).
 * `path` prefixes the field names in errors, for a map nested in another
 * command's arguments (`Check.` + `Kind`).
 */
export function validateArgs<S extends ArgSchema>(schema: S, raw: unknown, path = ''): ArgsOf<S> {
  if (raw !== null && raw !== undefined && toMap(raw) === null) invalid(path === '' ? 'arguments' : path.replace(/\.$/, ''), 'a map', raw);
  const body = toMap(raw) ?? {};
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const v = body[name];
    const field = path + name;
    if (v === undefined || v === null) {
      if (spec.required) throw new AgentError('E_INVALID', `${field}: required`, { field });
      out[name] = undefined;
      continue;
    }
    // keyed by the schema's own name; the path prefix only names the field in errors
    out[name] = readValue(spec.type, v, field);
  }
  return out as ArgsOf<S>;
}
