// Command-line flags with Go's `flag` package rules, as serf's CLI uses them:
// `-name value`, `-name=value`, `--name=value`, `--name value`; boolean flags
// take no separate value (`-detailed`, `-coalesce=false`); parsing stops at
// the first non-flag argument or at `--`. Error messages are Go's.
import { AgentError } from '../errors.ts';
import { parseGoBool, parseGoDuration } from '../config/go-values.ts';

export type FlagKind = 'string' | 'bool' | 'int' | 'duration' | 'list';
export type FlagSpecs = Readonly<Record<string, FlagKind>>;

export class FlagError extends AgentError {
  constructor(message: string) { super('E_CONFIG', message); }
}

/** `-h` / `-help` given (and not defined as a flag): the command prints its usage, status 1 (Go's flag.ErrHelp). */
export class HelpRequested extends FlagError {
  constructor() { super('help requested'); }
}

export interface ParsedFlags {
  /** Flags that were given (list flags accumulate). */
  values: Map<string, string | boolean | string[]>;
  /** Remaining positional arguments. */
  args: string[];
}

export function parseFlags(argv: readonly string[], specs: FlagSpecs): ParsedFlags {
  const values = new Map<string, string | boolean | string[]>();
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.length < 2 || a[0] !== '-') break;
    let body = a.slice(1);
    if (body.startsWith('-')) {
      body = body.slice(1);
      if (body === '') { i++; break; } // "--" terminates the flags
    }
    if (body === '' || body.startsWith('-') || body.startsWith('=')) throw new FlagError(`bad flag syntax: ${a}`);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    const kind = specs[name];
    if (kind === undefined && (name === 'h' || name === 'help')) throw new HelpRequested();
    if (kind === undefined) throw new FlagError(`flag provided but not defined: -${name}`);
    if (kind === 'bool') {
      if (value === undefined) { values.set(name, true); continue; }
      const b = parseGoBool(value);
      if (b === undefined) throw new FlagError(`invalid boolean value ${JSON.stringify(value)} for -${name}: parse error`);
      values.set(name, b);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    if (kind === 'int' && !/^[+-]?\d+$/.test(value)) {
      throw new FlagError(`invalid value ${JSON.stringify(value)} for flag -${name}: parse error`);
    }
    if (kind === 'duration' && parseGoDuration(value) === undefined) {
      throw new FlagError(`invalid value ${JSON.stringify(value)} for flag -${name}: parse error`);
    }
    if (kind === 'list') {
      const prev = values.get(name);
      values.set(name, [...(Array.isArray(prev) ? prev : []), value]);
    } else values.set(name, value);
  }
  return { values, args: argv.slice(i) };
}

/**
 * Our own verbs' rule (avahi-ps users put flags anywhere): flags may come
 * before, between or after the positional arguments, with parseFlags' syntax;
 * "--" ends them, and what follows it is `rest`, untouched (`lxc exec NAME --
 * CMD ARGS`). serf's verbs keep parseFlags (flags end at the first argument).
 */
export function parseFlagsAnywhere(argv: readonly string[], specs: FlagSpecs): ParsedFlags & { rest: string[] } {
  const values = new Map<string, string | boolean | string[]>();
  const args: string[] = [];
  let rest: string[] = [];
  let todo = [...argv];
  // Each pass takes the flags up to the next positional argument, then that argument.
  while (todo.length > 0) {
    const dd = todo.indexOf('--');
    const head = dd >= 0 ? todo.slice(0, dd) : todo;
    const p = parseFlags(head, specs);
    for (const [k, v] of p.values) {
      const prev = values.get(k);
      values.set(k, Array.isArray(prev) && Array.isArray(v) ? [...prev, ...v] : v);
    }
    if (p.args.length === 0) {
      if (dd >= 0) rest = todo.slice(dd + 1);
      break;
    }
    args.push(p.args[0]!);
    todo = [...p.args.slice(1), ...(dd >= 0 ? todo.slice(dd) : [])];
  }
  return { values, args, rest };
}

/** Typed accessors over ParsedFlags with defaults. */
export class Flags {
  constructor(readonly parsed: ParsedFlags) {}
  get args(): string[] { return this.parsed.args; }
  has(name: string): boolean { return this.parsed.values.has(name); }
  str(name: string, def = ''): string {
    const v = this.parsed.values.get(name);
    return typeof v === 'string' ? v : def;
  }
  bool(name: string, def = false): boolean {
    const v = this.parsed.values.get(name);
    return typeof v === 'boolean' ? v : def;
  }
  int(name: string, def = 0): number {
    const v = this.parsed.values.get(name);
    return typeof v === 'string' ? parseInt(v, 10) : def;
  }
  durationMs(name: string, def = 0): number {
    const v = this.parsed.values.get(name);
    return typeof v === 'string' ? parseGoDuration(v)! : def;
  }
  list(name: string): string[] {
    const v = this.parsed.values.get(name);
    return Array.isArray(v) ? v : [];
  }
}

/** serf's agent.UnmarshalTags: `key=value` pairs; a missing '=' or empty key is an error. */
export function unmarshalTags(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of pairs) {
    const i = t.indexOf('=');
    if (i <= 0) throw new AgentError('E_INVALID', `Invalid tag: '${t}'`);
    out[t.slice(0, i)] = t.slice(i + 1);
  }
  return out;
}

/** `k1=v1,k2=v2` with keys sorted (serf prints Go map order, i.e. random). */
export function marshalTags(tags: Record<string, string>): string[] {
  return Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`);
}
