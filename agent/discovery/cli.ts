// CLI subcommands of discovery, with avahi-ps's argument order, reaching the
// running agent over RPC (-rpc-addr / -rpc-auth like every client command),
// built on the one CLI scaffold (cli-kit/rpc-command.ts, 'cloudy' style):
//   publish <description> <type> <port> [txt] [-check-tcp [-check-tcp-addr host:port] | -check-http URL | -check-exec 'cmd args'] ...
//   unpublish <type> <port>
//   search [type] [host] [-format json|table]      (json: avahi-ps's one-line array)
//   services                                       (this node's list, withdrawn ones marked)
//   stats [-format text|json]                      (federation counts and history)
import { rpcCommand, type RpcCommandEnv } from '../cli-kit/rpc-command.ts';
import type { ParsedFlags } from '../cli-kit/flags.ts';
import { parseGoDuration } from '../config/go-values.ts';
import { AgentError, errorMessage } from '../errors.ts';
import type { ServiceCheck } from './publisher.ts';
import { formatSearchJson, formatSearchTable, searchServices, ServicesTagDecoder, type SearchEntry } from './search.ts';
import { Counters } from '../obs/counters.ts';
import type { Member } from '../gossip/serf/types.ts';
import { formatFederationText } from './federation.ts';
import { checkToWire, entryFromWire, sampleFromWire } from './commands.ts';
import { FALLBACK_MAX_DECODED, isUnsupportedCommand, ownRecords, publishViaSerf, SERF_RPC_MODE, unpublishViaSerf } from './serf-rpc-fallback.ts';

/** The help lines every discovery verb shows about the two modes. */
const MODES_HELP = `
Modes: against cloudy-agent the command runs in the agent (cloudy-agent RPC). Against a real
\`serf agent\` (it answers "Unsupported command") it falls back to serf's standard RPC, as
avahi-ps does: the services tag is read with \`stats\` (serf info), changed and written back
with \`tags\` (serf tags -set/-delete), the cluster's services read with \`members\`. The mode
used is printed on stderr: "(mode: serf standard RPC ...)".`;

function flagStr(p: ParsedFlags, name: string, def = ''): string {
  const v = p.values.get(name);
  return typeof v === 'string' ? v : def;
}

function parsePort(s: string): number | null {
  return /^\d{1,5}$/.test(s) && Number(s) <= 65535 ? Number(s) : null;
}

/** Positional arguments, "--" included (a description may start with a dash). */
const positional = (env: RpcCommandEnv): string[] => [...env.flags.args, ...env.rest];

const PUBLISH_USAGE = 'Usage: cloudy-agent publish <description> <type> <port> [txt] [-check-tcp [-check-tcp-addr host:port] | -check-http URL | -check-exec "cmd args"] [-check-interval 30s] [-check-timeout 5s] [-check-failures 3]';

export const publishCommand = rpcCommand({
  name: 'publish',
  summary: 'Announces a Cloudy service in the services tag (avahi-ps publish)',
  style: 'cloudy',
  help: `${PUBLISH_USAGE}\n\n  -microcloud NAME  the record's "e" in serf standard RPC mode (default: NETWORK_NAME of\n                    /etc/getinconf-client.conf, as avahi-ps; cloudy-agent itself uses its own -microcloud)\n${MODES_HELP}`,
  flags: {
    microcloud: 'string',
    'check-tcp': 'bool', 'check-tcp-addr': 'string', 'check-http': 'string', 'check-exec': 'string',
    'check-interval': 'duration', 'check-timeout': 'duration', 'check-failures': 'int',
  },
  async run(env) {
    const args = positional(env);
    if (args.length < 3 || args.length > 4) return env.usage(PUBLISH_USAGE);
    const [description, type, portStr, txt] = args as [string, string, string, string | undefined];
    const port = parsePort(portStr);
    if (port === null) return env.usage(`Invalid port: ${portStr}`);
    let check: ServiceCheck | undefined;
    try { check = checkFromFlags(env.flags.parsed, port); } catch (e) { return env.usage(errorMessage(e)); }
    try {
      await env.call('publish', {
        Description: description, Type: type, Port: port, Txt: txt ?? '', Check: check ? checkToWire(check) : undefined,
      });
    } catch (e) {
      if (!isUnsupportedCommand(e)) throw e;
      const c = await env.connect();
      if (!c) return 1;
      env.err(`(${SERF_RPC_MODE}; services tag read with serf info, written with serf tags)`);
      const microcloud = env.flags.parsed.values.get('microcloud');
      const { record, microcloud: mc } = await publishViaSerf(c, { description, type, port, ...(txt !== undefined ? { txt } : {}), ...(check ? { check } : {}) },
        { microcloud: typeof microcloud === 'string' ? microcloud : null });
      env.err(`(record: host ${record.m}, ip ${record.i} from serf's member entry, e ${JSON.stringify(record.e)} from ${mc.source})`);
    }
    env.out(`Published ${type} on port ${port}`);
    return 0;
  },
});

export function checkFromFlags(p: ParsedFlags, port: number): ServiceCheck | undefined {
  const kinds = ['check-tcp', 'check-http', 'check-exec'].filter((k) => p.values.get(k) !== undefined && p.values.get(k) !== false);
  if (p.values.has('check-tcp-addr') && kinds.length === 0) kinds.push('check-tcp');
  if (kinds.length === 0) return undefined;
  if (kinds.length > 1) throw new AgentError('E_INVALID', 'give only one of -check-tcp, -check-http, -check-exec');
  let check: ServiceCheck;
  if (kinds[0] === 'check-tcp') {
    const v = flagStr(p, 'check-tcp-addr');
    if (v === '') check = { probe: { kind: 'tcp', port } };
    else {
      const m = /^(.*):(\d{1,5})$/.exec(v);
      if (!m || parsePort(m[2]!) === null) throw new AgentError('E_INVALID', `-check-tcp-addr wants host:port, got ${v}`);
      check = { probe: { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(m[2]) } };
    }
  } else if (kinds[0] === 'check-http') {
    check = { probe: { kind: 'http', url: flagStr(p, 'check-http') } };
  } else {
    const cmd = flagStr(p, 'check-exec').trim().split(/\s+/).filter(Boolean);
    if (cmd.length === 0) throw new AgentError('E_INVALID', '-check-exec needs a command');
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

export const unpublishCommand = rpcCommand({
  name: 'unpublish',
  summary: 'Withdraws a Cloudy service from the services tag (avahi-ps unpublish)',
  style: 'cloudy',
  help: `Usage: cloudy-agent unpublish <type> <port>\n${MODES_HELP}`,
  flags: {},
  async run(env) {
    const args = positional(env);
    if (args.length !== 2) return env.usage('Usage: cloudy-agent unpublish <type> <port>');
    const [type, portStr] = args as [string, string];
    const port = parsePort(portStr);
    if (port === null) return env.usage(`Invalid port: ${portStr}`);
    try {
      await env.call('unpublish', { Type: type, Port: port });
    } catch (e) {
      if (!isUnsupportedCommand(e)) throw e;
      const c = await env.connect();
      if (!c) return 1;
      env.err(`(${SERF_RPC_MODE}; services tag read with serf info, written with serf tags)`);
      await unpublishViaSerf(c, type, port);
    }
    env.out(`Unpublished ${type} on port ${port}`);
    return 0;
  },
});

export const searchCommand = rpcCommand({
  name: 'search',
  summary: 'Lists the Cloudy services of every alive node (avahi-ps search)',
  style: 'cloudy',
  help: `Usage: cloudy-agent search [type] [host] [-format json|table] [-sort rtt|name]\n\n  -sort rtt: nearest provider first (Vivaldi RTT estimate from this node; the table shows it; cloudy-agent mode only)\n${MODES_HELP}`,
  flags: { format: 'string', sort: 'string' },
  async run(env) {
    const format = env.flags.str('format', 'json');
    if (format !== 'json' && format !== 'table') return env.usage(`Invalid format: ${format} (json or table)`);
    const sort = env.flags.str('sort', '');
    if (!['', 'none', 'rtt', 'name'].includes(sort)) return env.usage(`Invalid sort: ${sort} (rtt, name or none)`);
    const args = positional(env);
    if (args.length > 2) return env.usage('Usage: cloudy-agent search [type] [host] [-format json|table] [-sort rtt|name]');
    const [type, host] = args;
    let reply: { Entries?: unknown[]; Undecodable?: unknown[]; RttMs?: unknown[] };
    let entries: SearchEntry[];
    try {
      reply = (await env.call('search', { Type: type ?? '', Host: host ?? '', ...(sort !== '' ? { Sort: sort } : {}) }, true)) as typeof reply;
      entries = (reply?.Entries ?? []).map(entryFromWire);
    } catch (e) {
      // A node still running the real serf: read the tags through serf's own `members` verb.
      if (!isUnsupportedCommand(e)) throw e;
      const c = await env.connect();
      if (!c) return 1;
      const members = (await c.members()) as unknown as Member[];
      const res = searchServices(members, new ServicesTagDecoder({ counters: new Counters(), maxDecodedBytes: FALLBACK_MAX_DECODED, cacheEntries: 0 }), { type: type ?? '', host: host ?? '' });
      entries = res.entries;
      reply = { Undecodable: res.undecodable };
      env.err(`(${SERF_RPC_MODE}; read with serf members)`);
    }
    const rtt = sort === 'rtt' && Array.isArray(reply?.RttMs) ? reply.RttMs.map((us) => (typeof us === 'number' && us >= 0 ? us / 1000 : null)) : undefined;
    env.io.stdout(format === 'json' ? formatSearchJson(entries) + '\n' : formatSearchTable(entries, rtt));
    const skipped = Array.isArray(reply?.Undecodable) ? reply.Undecodable.length : 0;
    // stderr, so the JSON line stays exactly what avahi-ps prints.
    if (skipped > 0 && format === 'table') env.err(`(${skipped} node(s) skipped: their services tag does not decode)`);
    return 0;
  },
});

export const servicesCommand = rpcCommand({
  name: 'services',
  summary: "Lists this node's published Cloudy services and their checks",
  style: 'cloudy',
  help: `Usage: cloudy-agent services\n${MODES_HELP}`,
  flags: {},
  async run(env) {
    let list: Record<string, unknown>[];
    try {
      const reply = (await env.call('services', undefined, true)) as { Services?: Record<string, unknown>[] };
      list = reply?.Services ?? [];
    } catch (e) {
      if (!isUnsupportedCommand(e)) throw e;
      const c = await env.connect();
      if (!c) return 1;
      list = (await ownRecords(c)).records.map((r) => ({ Type: r.s, Port: r.p, Description: r.d, Withdrawn: false }));
      env.err(`(${SERF_RPC_MODE}; read with serf info)`);
    }
    if (list.length === 0) { env.out('No services published.'); return 0; }
    for (const s of list) {
      const state = s.Withdrawn ? `withdrawn (${String(s.CheckResult)})` : 'announced';
      env.out(`${String(s.Type)}  ${String(s.Port)}  ${String(s.Description)}  ${state}`);
    }
    return 0;
  },
});

export const statsCommand = rpcCommand({
  name: 'stats',
  summary: 'Cloudy federation statistics: alive instances, services per type, history',
  style: 'cloudy',
  help: 'Usage: cloudy-agent stats [-format text|json]',
  flags: { format: 'string' },
  async run(env) {
    const format = env.flags.str('format', 'text');
    if (format !== 'json' && format !== 'text') return env.usage(`Invalid format: ${format} (text or json)`);
    const reply = (await env.call('stats', undefined, true)) as Record<string, unknown>;
    const current = sampleFromWire(reply.Current);
    const history = (Array.isArray(reply.History) ? reply.History : []).map(sampleFromWire);
    const intervalMs = Number(reply.IntervalMs ?? 0);
    if (format === 'json') {
      env.out(JSON.stringify({ current, intervalMs, history, counters: reply.Counters ?? {} }));
    } else {
      env.io.stdout(formatFederationText(current, history, intervalMs));
    }
    return 0;
  },
});
