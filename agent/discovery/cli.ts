// CLI subcommands of discovery, with avahi-ps's argument order, reaching the
// running agent over RPC (-rpc-addr / -rpc-auth like every client command):
//   publish <description> <type> <port> [txt] [-check-tcp [-check-tcp-addr host:port] | -check-http URL | -check-exec 'cmd args'] ...
//   unpublish <type> <port>
//   search [type] [host] [-format json|table]      (json: avahi-ps's one-line array)
//   services                                       (this node's list, withdrawn ones marked)
//   stats [-format text|json]                      (federation counts and history)
import type { CliCommand, CliIO } from '../cli/command.ts';
import { parseFlags, parseGoDuration, type FlagSpecs, type ParsedFlags } from '../cli/flags.ts';
import { RpcClient } from '../rpc/client.ts';
import { errorMessage } from '../errors.ts';
import type { ServiceCheck } from './publisher.ts';
import { formatSearchJson, formatSearchTable } from './search.ts';
import { formatFederationText } from './federation.ts';
import {
  checkToWire, entryFromWire, sampleFromWire, RPC_PUBLISH, RPC_SEARCH, RPC_SERVICES, RPC_STATS, RPC_UNPUBLISH,
} from './commands.ts';

const RPC_FLAGS: FlagSpecs = { 'rpc-addr': 'string', 'rpc-auth': 'string' };

/** Flags may come before, between or after positional arguments (avahi-ps users put them anywhere); `--` ends flags. */
export function parseAnywhere(argv: readonly string[], specs: FlagSpecs): ParsedFlags {
  const values = new Map<string, string | boolean | string[]>();
  const args: string[] = [];
  let rest = [...argv];
  for (let guard = 0; guard <= argv.length; guard++) {
    const p = parseFlags(rest, specs);
    for (const [k, v] of p.values) values.set(k, v);
    if (p.args.length === 0) break;
    const consumedDashDash = rest.length - p.args.length > 0 && rest[rest.length - p.args.length - 1] === '--';
    if (consumedDashDash) { args.push(...p.args); break; }
    args.push(p.args[0]!);
    rest = p.args.slice(1);
  }
  return { values, args };
}

function flagStr(p: ParsedFlags, name: string, def = ''): string {
  const v = p.values.get(name);
  return typeof v === 'string' ? v : def;
}

async function withClient<T>(p: ParsedFlags, io: CliIO, fn: (c: RpcClient) => Promise<T>): Promise<T> {
  const addr = flagStr(p, 'rpc-addr', io.env.SERF_RPC_ADDR || '127.0.0.1:7373');
  const auth = flagStr(p, 'rpc-auth', io.env.SERF_RPC_AUTH || '');
  const client = await RpcClient.connect(addr, auth ? { authKey: auth } : {});
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Runs a command body; errors become one "Error ..." line on stderr and status 1. */
async function guarded(io: CliIO, what: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    io.stderr(`Error ${what}: ${errorMessage(e)}\n`);
    return 1;
  }
}

function usage(io: CliIO, text: string): number {
  io.stderr(text.endsWith('\n') ? text : text + '\n');
  return 1;
}

function parsePort(s: string): number | null {
  return /^\d{1,5}$/.test(s) && Number(s) <= 65535 ? Number(s) : null;
}

export const publishCommand: CliCommand = {
  name: 'publish',
  summary: 'Announces a Cloudy service in the services tag (avahi-ps publish)',
  async run(argv, io) {
    const specs: FlagSpecs = {
      ...RPC_FLAGS, 'check-tcp': 'bool', 'check-tcp-addr': 'string', 'check-http': 'string', 'check-exec': 'string',
      'check-interval': 'duration', 'check-timeout': 'duration', 'check-failures': 'int',
    };
    let p: ParsedFlags;
    try { p = parseAnywhere(argv, specs); } catch (e) { return usage(io, errorMessage(e)); }
    if (p.args.length < 3 || p.args.length > 4) {
      return usage(io, 'Usage: cloudy-agent publish <description> <type> <port> [txt] [-check-tcp [-check-tcp-addr host:port] | -check-http URL | -check-exec "cmd args"] [-check-interval 30s] [-check-timeout 5s] [-check-failures 3]');
    }
    const [description, type, portStr, txt] = p.args as [string, string, string, string | undefined];
    const port = parsePort(portStr);
    if (port === null) return usage(io, `Invalid port: ${portStr}`);
    let check: ServiceCheck | undefined;
    try { check = checkFromFlags(p, port); } catch (e) { return usage(io, errorMessage(e)); }
    return guarded(io, 'publishing', () => withClient(p, io, async (c) => {
      await c.call(RPC_PUBLISH, {
        Description: description, Type: type, Port: port, Txt: txt ?? '',
        ...(check ? { Check: checkToWire(check) } : {}),
      });
      io.stdout(`Published ${type} on port ${port}\n`);
      return 0;
    }));
  },
};

export function checkFromFlags(p: ParsedFlags, port: number): ServiceCheck | undefined {
  const kinds = ['check-tcp', 'check-http', 'check-exec'].filter((k) => p.values.get(k) !== undefined && p.values.get(k) !== false);
  if (p.values.has('check-tcp-addr') && kinds.length === 0) kinds.push('check-tcp');
  if (kinds.length === 0) return undefined;
  if (kinds.length > 1) throw new Error('give only one of -check-tcp, -check-http, -check-exec');
  let check: ServiceCheck;
  if (kinds[0] === 'check-tcp') {
    const v = flagStr(p, 'check-tcp-addr');
    if (v === '') check = { probe: { kind: 'tcp', port } };
    else {
      const m = /^(.*):(\d{1,5})$/.exec(v);
      if (!m || parsePort(m[2]!) === null) throw new Error(`-check-tcp-addr wants host:port, got ${v}`);
      check = { probe: { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(m[2]) } };
    }
  } else if (kinds[0] === 'check-http') {
    check = { probe: { kind: 'http', url: flagStr(p, 'check-http') } };
  } else {
    const cmd = flagStr(p, 'check-exec').trim().split(/\s+/).filter(Boolean);
    if (cmd.length === 0) throw new Error('-check-exec needs a command');
    check = { probe: { kind: 'exec', command: cmd } };
  }
  const interval = p.values.get('check-interval');
  const timeout = p.values.get('check-timeout');
  const failures = p.values.get('check-failures');
  if (typeof interval === 'string') check.intervalMs = Math.round(parseGoDuration(interval)!);
  if (typeof timeout === 'string') check.timeoutMs = Math.round(parseGoDuration(timeout)!);
  if (typeof failures === 'string') check.failuresToWithdraw = Number(failures);
  return check;
}

export const unpublishCommand: CliCommand = {
  name: 'unpublish',
  summary: 'Withdraws a Cloudy service from the services tag (avahi-ps unpublish)',
  async run(argv, io) {
    let p: ParsedFlags;
    try { p = parseAnywhere(argv, RPC_FLAGS); } catch (e) { return usage(io, errorMessage(e)); }
    if (p.args.length !== 2) return usage(io, 'Usage: cloudy-agent unpublish <type> <port>');
    const [type, portStr] = p.args as [string, string];
    const port = parsePort(portStr);
    if (port === null) return usage(io, `Invalid port: ${portStr}`);
    return guarded(io, 'unpublishing', () => withClient(p, io, async (c) => {
      await c.call(RPC_UNPUBLISH, { Type: type, Port: port });
      io.stdout(`Unpublished ${type} on port ${port}\n`);
      return 0;
    }));
  },
};

export const searchCommand: CliCommand = {
  name: 'search',
  summary: 'Lists the Cloudy services of every alive node (avahi-ps search)',
  async run(argv, io) {
    let p: ParsedFlags;
    try { p = parseAnywhere(argv, { ...RPC_FLAGS, format: 'string' }); } catch (e) { return usage(io, errorMessage(e)); }
    const format = flagStr(p, 'format', 'json');
    if (format !== 'json' && format !== 'table') return usage(io, `Invalid format: ${format} (json or table)`);
    if (p.args.length > 2) return usage(io, 'Usage: cloudy-agent search [type] [host] [-format json|table]');
    const [type, host] = p.args;
    return guarded(io, 'searching', () => withClient(p, io, async (c) => {
      const reply = (await c.call(RPC_SEARCH, { Type: type ?? '', Host: host ?? '' }, true)) as { Entries?: unknown[]; Undecodable?: unknown[] };
      const entries = (reply?.Entries ?? []).map(entryFromWire);
      io.stdout(format === 'json' ? formatSearchJson(entries) + '\n' : formatSearchTable(entries));
      const skipped = Array.isArray(reply?.Undecodable) ? reply.Undecodable.length : 0;
      // stderr, so the JSON line stays exactly what avahi-ps prints.
      if (skipped > 0 && format === 'table') io.stderr(`(${skipped} node(s) skipped: their services tag does not decode)\n`);
      return 0;
    }));
  },
};

export const servicesCommand: CliCommand = {
  name: 'services',
  summary: "Lists this node's published Cloudy services and their checks",
  async run(argv, io) {
    let p: ParsedFlags;
    try { p = parseAnywhere(argv, RPC_FLAGS); } catch (e) { return usage(io, errorMessage(e)); }
    return guarded(io, 'listing services', () => withClient(p, io, async (c) => {
      const reply = (await c.call(RPC_SERVICES, undefined, true)) as { Services?: Record<string, unknown>[] };
      const list = reply?.Services ?? [];
      if (list.length === 0) { io.stdout('No services published.\n'); return 0; }
      for (const s of list) {
        const state = s.Withdrawn ? `withdrawn (${String(s.CheckResult)})` : 'announced';
        io.stdout(`${String(s.Type)}  ${String(s.Port)}  ${String(s.Description)}  ${state}\n`);
      }
      return 0;
    }));
  },
};

export const statsCommand: CliCommand = {
  name: 'stats',
  summary: 'Cloudy federation statistics: alive instances, services per type, history',
  async run(argv, io) {
    let p: ParsedFlags;
    try { p = parseAnywhere(argv, { ...RPC_FLAGS, format: 'string' }); } catch (e) { return usage(io, errorMessage(e)); }
    const format = flagStr(p, 'format', 'text');
    if (format !== 'json' && format !== 'text') return usage(io, `Invalid format: ${format} (text or json)`);
    return guarded(io, 'reading stats', () => withClient(p, io, async (c) => {
      const reply = (await c.call(RPC_STATS, undefined, true)) as Record<string, unknown>;
      const current = sampleFromWire(reply.Current);
      const history = (Array.isArray(reply.History) ? reply.History : []).map(sampleFromWire);
      const intervalMs = Number(reply.IntervalMs ?? 0);
      if (format === 'json') {
        io.stdout(JSON.stringify({ current, intervalMs, history, counters: reply.Counters ?? {} }) + '\n');
      } else {
        io.stdout(formatFederationText(current, history, intervalMs));
      }
      return 0;
    }));
  },
};

export const discoveryCliCommands: readonly CliCommand[] = [publishCommand, unpublishCommand, searchCommand, servicesCommand, statsCommand];
