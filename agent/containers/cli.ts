// `cloudy-agent lxc ...`: container management through the running agent's RPC.
//   lxc list [-format text|json]
//   lxc events [-format text|json]        (recent container events: crashes, restarts, publish/withdraw)
//   lxc create NAME -t TEMPLATE [-memory 128M] [-cpus 1] [-autostart] [-start-order N] [-start-delay S]
//              [-restart always|on-failure|never] [-service-type T -service-port P -service-description D
//              -service-txt K=V -host-port H] [-start] [-- TEMPLATE ARGS...]
//   lxc start|stop|restart|destroy|info NAME
//   lxc exec NAME [-timeout 60s] -- COMMAND ARGS...
//   lxc config NAME [-memory M] [-cpus C] [-autostart=true|false] [-start-order N] [-start-delay S] [-restart P]
// Every form takes -rpc-addr / -rpc-auth (SERF_RPC_ADDR / SERF_RPC_AUTH) and -format text|json.
import type { CliCommand, CliIO } from '../cli/command.ts';
import { FlagError, parseFlags, parseGoDuration, type FlagSpecs, type ParsedFlags } from '../cli/flags.ts';
import { RpcClient } from '../rpc/client.ts';
import { errorMessage } from '../errors.ts';
import type { GoValue } from '../gossip/wire/msgpack.ts';
import { isoTime } from '../obs/iso-time.ts';

const COMMON: FlagSpecs = { 'rpc-addr': 'string', 'rpc-auth': 'string', format: 'string' };
const CREATE: FlagSpecs = {
  ...COMMON, t: 'string', template: 'string', memory: 'string', cpus: 'string', autostart: 'bool', 'start-order': 'int',
  'start-delay': 'int', restart: 'string', 'service-type': 'string', 'service-port': 'int', 'service-description': 'string',
  'service-txt': 'string', 'host-port': 'int', start: 'bool',
};
const CONFIG: FlagSpecs = {
  ...COMMON, memory: 'string', cpus: 'string', autostart: 'bool', 'start-order': 'int', 'start-delay': 'int', restart: 'string',
};
const EXEC: FlagSpecs = { ...COMMON, timeout: 'duration' };

const USAGE = `Usage: cloudy-agent lxc <subcommand> [options]

Subcommands:
    list                       containers with state, address, limits and service
    events                     recent events (unexpected stops, restarts, services published/withdrawn)
    create NAME -t TEMPLATE    create a container (see options below)
    start|stop|restart NAME
    destroy NAME               stop and remove it (its port forward and service go too)
    info NAME                  state, usage and configuration
    exec NAME -- CMD ARGS...   run a command in the container
    config NAME [options]      show or change limits and policies

Create/config options:
    -memory 128M  -cpus 0.5  -autostart  -start-order N  -start-delay SECONDS
    -restart always|on-failure|never
    -service-type T -service-port P -service-description D -service-txt k=v -host-port H
    -start (create: start it afterwards)
Common: -rpc-addr 127.0.0.1:7373 -rpc-auth KEY -format text|json
`;

/** Flags may be given before or after the positional arguments; "--" ends them. */
function parseMixed(argv: readonly string[], specs: FlagSpecs): ParsedFlags & { rest: string[] } {
  const values = new Map<string, string | boolean | string[]>();
  const args: string[] = [];
  let rest: string[] = [];
  let todo = [...argv];
  for (let guard = 0; guard <= argv.length && todo.length > 0; guard++) {
    const dd = todo.indexOf('--');
    const head = dd >= 0 ? todo.slice(0, dd) : todo;
    const p = parseFlags(head, specs);
    for (const [k, v] of p.values) values.set(k, v);
    if (p.args.length === 0) {
      if (dd >= 0) rest = todo.slice(dd + 1);
      break;
    }
    args.push(p.args[0]!);
    todo = [...p.args.slice(1), ...(dd >= 0 ? todo.slice(dd) : [])];
  }
  return { values, args, rest };
}

const s = (p: ParsedFlags, k: string): string | undefined => {
  const v = p.values.get(k);
  return typeof v === 'string' ? v : undefined;
};
const i = (p: ParsedFlags, k: string): number | undefined => (s(p, k) === undefined ? undefined : Number(s(p, k)));
const b = (p: ParsedFlags, k: string): boolean | undefined => {
  const v = p.values.get(k);
  return typeof v === 'boolean' ? v : undefined;
};

function cpusWire(p: ParsedFlags): Record<string, GoValue> {
  const c = s(p, 'cpus');
  return c === undefined ? {} : { CPUs: c };
}

function dropUndefined(o: Record<string, GoValue | undefined>): Record<string, GoValue> {
  const out: Record<string, GoValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function humanBytes(n: number): string {
  if (!n) return '-';
  for (const [u, m] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) if (n >= m && n % m === 0) return `${n / m}${u}`;
  return String(n);
}

type Wire = Record<string, unknown>;

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((v, c) => v.padEnd(w[c]!)).join('  ').trimEnd()).join('\n');
}

function serviceText(v: Wire): string {
  const svc = v.Service as Wire | null | undefined;
  if (!svc) return '-';
  return `${String(svc.Type)} ${String(svc.HostIP)}:${String(svc.HostPort)}->${String(svc.Port)}/${String(svc.Protocol)}${svc.Published ? ' published' : ''}`;
}

function viewText(v: Wire): string {
  const lines = [
    ['Name', v.Name], ['State', v.State], ['Desired', v.Desired || '-'], ['Managed', v.Managed ? 'yes' : 'no (not created by the agent)'],
    ['PID', v.PID || '-'], ['IPv4', v.IPv4 || '-'], ['Template', v.Template || '-'], ['Memory limit', humanBytes(Number(v.MemoryBytes))],
    ['CPU limit', Number(v.MilliCPUs) ? String(Number(v.MilliCPUs) / 1000) : '-'], ['Autostart', `${v.Autostart ? 'yes' : 'no'} (order ${String(v.StartOrder)}, delay ${String(v.StartDelay)}s)`],
    ['Restart', v.Restart || '-'], ['Service', serviceText(v)],
  ];
  if (v.MemoryUse !== undefined) lines.push(['Memory use', String(v.MemoryUse)], ['CPU use (ns)', String(v.CPUNanos)]);
  return lines.map(([k, x]) => `${String(k).padEnd(14)}${String(x)}`).join('\n');
}

async function withClient(p: ParsedFlags, io: CliIO, fn: (c: RpcClient) => Promise<number>): Promise<number> {
  const addr = s(p, 'rpc-addr') ?? (io.env.SERF_RPC_ADDR || '127.0.0.1:7373');
  const auth = s(p, 'rpc-auth') ?? (io.env.SERF_RPC_AUTH || '');
  let c: RpcClient;
  try {
    c = await RpcClient.connect(addr, auth ? { authKey: auth } : {});
  } catch (e) {
    io.stderr(`Error connecting to the agent: ${errorMessage(e)}\n`);
    return 1;
  }
  try {
    return await fn(c);
  } catch (e) {
    io.stderr(`Error: ${errorMessage(e)}\n`);
    return 1;
  } finally {
    c.close();
  }
}

function print(io: CliIO, p: ParsedFlags, json: unknown, text: () => string): void {
  if (s(p, 'format') === 'json') io.stdout(JSON.stringify(json, null, 2) + '\n');
  else io.stdout(text() + '\n');
}

export const lxcCommand: CliCommand = {
  name: 'lxc',
  summary: 'Manages LXC containers and the services they provide',
  async run(argv, io) {
    const sub = argv[0];
    if (!sub || sub === 'help' || sub === '-h' || sub === '--help') {
      io.stderr(USAGE);
      return sub ? 0 : 1;
    }
    const specs = sub === 'create' ? CREATE : sub === 'config' ? CONFIG : sub === 'exec' ? EXEC : COMMON;
    let p: ParsedFlags & { rest: string[] };
    try {
      p = parseMixed(argv.slice(1), specs);
    } catch (e) {
      io.stderr(`${e instanceof FlagError ? e.message : errorMessage(e)}\n`);
      return 1;
    }
    const fmt = s(p, 'format');
    if (fmt !== undefined && fmt !== 'json' && fmt !== 'text') {
      io.stderr(`Invalid output format "${fmt}"\n`);
      return 1;
    }
    const name = p.args[0];
    const needName = (): boolean => {
      if (name) return true;
      io.stderr(`Usage: cloudy-agent lxc ${sub} NAME\n`);
      return false;
    };
    switch (sub) {
      case 'list':
        return withClient(p, io, async (c) => {
          const r = (await c.call('lxc-list', undefined, 'on-success')) as { Containers?: Wire[] };
          const list = r.Containers ?? [];
          print(io, p, list, () => table([
            ['NAME', 'STATE', 'DESIRED', 'IPV4', 'MEMORY', 'CPUS', 'RESTART', 'SERVICE'],
            ...list.map((v) => [String(v.Name), String(v.State), String(v.Desired || '-'), String(v.IPv4 || '-'), humanBytes(Number(v.MemoryBytes)),
              Number(v.MilliCPUs) ? String(Number(v.MilliCPUs) / 1000) : '-', String(v.Restart || '-'), serviceText(v)]),
          ]));
          return 0;
        });
      case 'events':
        return withClient(p, io, async (c) => {
          const r = (await c.call('lxc-events', undefined, 'on-success')) as { Events?: Wire[] };
          const list = r.Events ?? [];
          print(io, p, list, () => list.map((e) => `${isoTime(Number(e.At))} ${String(e.Name)} ${String(e.Kind)}${e.Detail ? `: ${String(e.Detail)}` : ''}`).join('\n') || 'no events');
          return 0;
        });
      case 'create': {
        if (!needName()) return 1;
        const template = s(p, 't') ?? s(p, 'template');
        if (!template) { io.stderr('lxc create needs -t TEMPLATE\n'); return 1; }
        const body = dropUndefined({
          Name: name, Template: template, TemplateArgs: p.rest, Memory: s(p, 'memory'), ...cpusWire(p), Autostart: b(p, 'autostart'),
          StartOrder: i(p, 'start-order'), StartDelay: i(p, 'start-delay'), Restart: s(p, 'restart'), ServiceType: s(p, 'service-type'),
          ServicePort: i(p, 'service-port'), ServiceDescription: s(p, 'service-description'), ServiceTxt: s(p, 'service-txt'),
          HostPort: i(p, 'host-port'), Start: b(p, 'start'),
        });
        return withClient(p, io, async (c) => {
          const v = (await c.call('lxc-create', body, 'on-success')) as Wire;
          print(io, p, v, () => `Created container ${String(v.Name)}\n${viewText(v)}`);
          return 0;
        });
      }
      case 'start': case 'stop': case 'restart': case 'info':
        if (!needName()) return 1;
        return withClient(p, io, async (c) => {
          const v = (await c.call(`lxc-${sub}`, { Name: name }, 'on-success')) as Wire;
          print(io, p, v, () => viewText(v));
          return 0;
        });
      case 'destroy':
        if (!needName()) return 1;
        return withClient(p, io, async (c) => {
          const v = (await c.call('lxc-destroy', { Name: name }, 'on-success')) as Wire;
          print(io, p, v, () => `Destroyed container ${String(v.Name)}`);
          return 0;
        });
      case 'exec': {
        if (!needName()) return 1;
        if (p.rest.length === 0) { io.stderr('Usage: cloudy-agent lxc exec NAME -- COMMAND ARGS...\n'); return 1; }
        const t = s(p, 'timeout');
        const timeoutSec = t ? Math.max(1, Math.round(parseGoDuration(t)! / 1000)) : 60;
        return withClient(p, io, async (c) => {
          const r = (await c.call('lxc-exec', { Name: name, Command: p.rest, TimeoutSec: timeoutSec }, 'on-success')) as Wire;
          if (fmt === 'json') io.stdout(JSON.stringify(r, null, 2) + '\n');
          else {
            io.stdout(String(r.Stdout ?? ''));
            io.stderr(String(r.Stderr ?? ''));
          }
          return r.TimedOut ? 124 : Number(r.ExitCode ?? 1);
        });
      }
      case 'config': {
        if (!needName()) return 1;
        const body = dropUndefined({
          Name: name, Memory: s(p, 'memory'), ...cpusWire(p), Autostart: b(p, 'autostart'), StartOrder: i(p, 'start-order'),
          StartDelay: i(p, 'start-delay'), Restart: s(p, 'restart'),
        });
        return withClient(p, io, async (c) => {
          const v = (await c.call('lxc-config', body, 'on-success')) as Wire;
          print(io, p, v, () => `${viewText(v)}\n\nLXC config:\n${Object.entries((v.Config as Record<string, string>) ?? {}).map(([k, x]) => `  ${k} = ${x}`).join('\n')}`);
          return 0;
        });
      }
      default:
        io.stderr(`Unknown lxc subcommand: ${sub}\n${USAGE}`);
        return 1;
    }
  },
};
