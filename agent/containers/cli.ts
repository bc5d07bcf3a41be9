// `cloudy-agent lxc ...`: container management through the running agent's RPC.
//   lxc list [-format text|json]
//   lxc events [-format text|json]        (recent container events: crashes, restarts, publish/withdraw)
//   lxc create NAME -t TEMPLATE [-memory 128M] [-cpus 1] [-autostart] [-start-order N] [-start-delay S]
//              [-restart always|on-failure|never] [-service-type T -service-port P -service-description D
//              -service-txt K=V -host-port H] [-forward-port NAME=PORT,...] [-start] [-- TEMPLATE ARGS...]
//   lxc start|stop|restart|destroy|info NAME
//   lxc exec NAME [-timeout 60s] -- COMMAND ARGS...
//   lxc config NAME [-memory M] [-cpus C] [-autostart=true|false] [-start-order N] [-start-delay S] [-restart P]
// Every form takes -rpc-addr / -rpc-auth (SERF_RPC_ADDR / SERF_RPC_AUTH) and -format text|json.
import { rpcCommandGroup, type RpcCommandDef, type RpcCommandEnv } from '../cli-kit/rpc-command.ts';
import type { FlagSpecs } from '../cli-kit/flags.ts';
import { DEFAULT_RPC_ADDR } from '../config/agent-config.ts';
import { isoTime } from '../obs/iso-time.ts';

const COMMON: FlagSpecs = { format: 'string' };
const LIMIT_FLAGS: FlagSpecs = {
  memory: 'string', cpus: 'string', autostart: 'bool', 'start-order': 'int', 'start-delay': 'int', restart: 'string',
};
const CREATE: FlagSpecs = {
  ...COMMON, ...LIMIT_FLAGS, t: 'string', template: 'string', 'service-type': 'string', 'service-port': 'int',
  'service-description': 'string', 'service-txt': 'string', 'host-port': 'int', 'forward-port': 'string', start: 'bool',
};
const CONFIG: FlagSpecs = { ...COMMON, ...LIMIT_FLAGS };
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
    -forward-port NAME=PORT[,...]  host ports of the template's other forwarded ports (tahoe-lafs: storage;
                               default: the container's port, or the next free one)
    -start (create: start it afterwards)
Common: -rpc-addr ${DEFAULT_RPC_ADDR} -rpc-auth KEY -format text|json
`;

/** The given flag's value, or undefined (the registry treats missing fields as not set). */
const str = (env: RpcCommandEnv, k: string): string | undefined => (env.flags.has(k) ? env.flags.str(k) : undefined);
const int = (env: RpcCommandEnv, k: string): number | undefined => (env.flags.has(k) ? env.flags.int(k) : undefined);
const bool = (env: RpcCommandEnv, k: string): boolean | undefined => (env.flags.has(k) ? env.flags.bool(k) : undefined);

/** -memory/-cpus/... as the lxc.create / lxc.config arguments. */
function limitArgs(env: RpcCommandEnv): Record<string, string | number | boolean | undefined> {
  return {
    Memory: str(env, 'memory'), CPUs: str(env, 'cpus'), Autostart: bool(env, 'autostart'),
    StartOrder: int(env, 'start-order'), StartDelay: int(env, 'start-delay'), Restart: str(env, 'restart'),
  };
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
  const extra = ((svc.Forwards ?? []) as Wire[]).map((f) => `, ${String(f.Name)} ${String(svc.HostIP)}:${String(f.HostPort)}->${String(f.Port)}/${String(f.Protocol)}`);
  return `${String(svc.Type)} ${String(svc.HostIP)}:${String(svc.HostPort)}->${String(svc.Port)}/${String(svc.Protocol)}${svc.Published ? ' published' : ''}${extra.join('')}`;
}

function viewText(v: Wire): string {
  const lines = [
    ['Name', v.Name], ['State', v.State], ['Desired', v.Desired || '-'], ['Managed', v.Managed ? 'yes' : 'no (not created by the agent)'],
    ['PID', v.PID || '-'], ['IPv4', v.IPv4 || '-'], ['Template', v.Template || '-'], ['Memory limit', humanBytes(Number(v.MemoryBytes))],
    ['CPU limit', Number(v.MilliCPUs) ? String(Number(v.MilliCPUs) / 1000) : '-'], ['Autostart', `${v.Autostart ? 'yes' : 'no'} (order ${String(v.StartOrder)}, delay ${String(v.StartDelay)}s)`],
    ['Restart', v.Restart || '-'], ['Service', serviceText(v)],
  ];
  if (v.AddressError) lines.splice(6, 0, ['Address error', v.AddressError]);
  if (v.MemoryUse !== undefined) lines.push(['Memory use', String(v.MemoryUse)], ['CPU use (ns)', String(v.CPUNanos)]);
  return lines.map(([k, x]) => `${String(k).padEnd(14)}${String(x)}`).join('\n');
}

function print(env: RpcCommandEnv, json: unknown, text: () => string): void {
  if (env.flags.str('format') === 'json') env.out(JSON.stringify(json, null, 2));
  else env.out(text());
}

/** -format is text or json; the name argument when the subcommand needs one. */
function checked(env: RpcCommandEnv, sub: string, needName: boolean): { name: string } | number {
  const fmt = str(env, 'format');
  if (fmt !== undefined && fmt !== 'json' && fmt !== 'text') return env.usage(`Invalid output format "${fmt}"`);
  const name = env.flags.args[0] ?? '';
  if (needName && !name) return env.usage(`Usage: cloudy-agent lxc ${sub} NAME`);
  return { name };
}

/** A subcommand on one container that shows the view it answers with. */
function viewVerb(sub: 'start' | 'stop' | 'restart' | 'info', summary: string): RpcCommandDef {
  return {
    name: sub, summary, help: `Usage: cloudy-agent lxc ${sub} NAME [-format text|json]`, flags: COMMON,
    async run(env) {
      const c = checked(env, sub, true);
      if (typeof c === 'number') return c;
      const v = (await env.call(`lxc.${sub}`, { Name: c.name }, true)) as Wire;
      print(env, v, () => viewText(v));
      return 0;
    },
  };
}

const SUBCOMMANDS: RpcCommandDef[] = [
  {
    name: 'list', summary: 'containers with state, address, limits and service', help: 'Usage: cloudy-agent lxc list [-format text|json]', flags: COMMON,
    async run(env) {
      const c = checked(env, 'list', false);
      if (typeof c === 'number') return c;
      const r = (await env.call('lxc.list', undefined, true)) as { Containers?: Wire[] };
      const list = r.Containers ?? [];
      print(env, list, () => table([
        ['NAME', 'STATE', 'DESIRED', 'IPV4', 'MEMORY', 'CPUS', 'RESTART', 'SERVICE'],
        ...list.map((v) => [String(v.Name), String(v.State), String(v.Desired || '-'), String(v.IPv4 || '-') + (v.AddressError ? ' (ERROR: not on the container)' : ''), humanBytes(Number(v.MemoryBytes)),
          Number(v.MilliCPUs) ? String(Number(v.MilliCPUs) / 1000) : '-', String(v.Restart || '-'), serviceText(v)]),
      ]));
      return 0;
    },
  },
  {
    name: 'events', summary: 'recent events', help: 'Usage: cloudy-agent lxc events [-format text|json]', flags: COMMON,
    async run(env) {
      const c = checked(env, 'events', false);
      if (typeof c === 'number') return c;
      const r = (await env.call('lxc.events', undefined, true)) as { Events?: Wire[] };
      const list = r.Events ?? [];
      print(env, list, () => list.map((e) => `${isoTime(Number(e.At))} ${String(e.Name)} ${String(e.Kind)}${e.Detail ? `: ${String(e.Detail)}` : ''}`).join('\n') || 'no events');
      return 0;
    },
  },
  {
    name: 'create', summary: 'create a container', help: USAGE, flags: CREATE,
    async run(env) {
      const c = checked(env, 'create', true);
      if (typeof c === 'number') return c;
      const template = str(env, 't') ?? str(env, 'template');
      if (!template) return env.usage('lxc create needs -t TEMPLATE');
      const v = (await env.call('lxc.create', {
        Name: c.name, Template: template, TemplateArgs: env.rest, ...limitArgs(env),
        ServiceType: str(env, 'service-type'), ServicePort: int(env, 'service-port'), ServiceDescription: str(env, 'service-description'),
        ServiceTxt: str(env, 'service-txt'), HostPort: int(env, 'host-port'), ForwardPorts: str(env, 'forward-port'), Start: bool(env, 'start'),
      }, true)) as Wire;
      print(env, v, () => `Created container ${String(v.Name)}\n${viewText(v)}`);
      return 0;
    },
  },
  viewVerb('start', 'start a container'),
  viewVerb('stop', 'stop a container'),
  viewVerb('restart', 'restart a container'),
  viewVerb('info', 'state, usage and configuration'),
  {
    name: 'destroy', summary: 'stop and remove a container', help: 'Usage: cloudy-agent lxc destroy NAME [-format text|json]', flags: COMMON,
    async run(env) {
      const c = checked(env, 'destroy', true);
      if (typeof c === 'number') return c;
      const v = (await env.call('lxc.destroy', { Name: c.name }, true)) as Wire;
      print(env, v, () => `Destroyed container ${String(v.Name)}`);
      return 0;
    },
  },
  {
    name: 'exec', summary: 'run a command in a container', help: 'Usage: cloudy-agent lxc exec NAME [-timeout 60s] -- COMMAND ARGS...', flags: EXEC,
    async run(env) {
      const c = checked(env, 'exec', true);
      if (typeof c === 'number') return c;
      if (env.rest.length === 0) return env.usage('Usage: cloudy-agent lxc exec NAME -- COMMAND ARGS...');
      const t = str(env, 'timeout');
      const timeoutSec = t ? Math.max(1, Math.round(env.flags.durationMs('timeout') / 1000)) : 60;
      const r = (await env.call('lxc.exec', { Name: c.name, Command: env.rest, TimeoutSec: timeoutSec }, true)) as Wire;
      if (env.flags.str('format') === 'json') env.out(JSON.stringify(r, null, 2));
      else {
        env.io.stdout(String(r.Stdout ?? ''));
        env.io.stderr(String(r.Stderr ?? ''));
      }
      return r.TimedOut ? 124 : Number(r.ExitCode ?? 1);
    },
  },
  {
    name: 'config', summary: 'show or change limits and policies', help: USAGE, flags: CONFIG,
    async run(env) {
      const c = checked(env, 'config', true);
      if (typeof c === 'number') return c;
      const v = (await env.call('lxc.config', { Name: c.name, ...limitArgs(env) }, true)) as Wire;
      print(env, v, () => `${viewText(v)}\n\nLXC config:\n${Object.entries((v.Config as Record<string, string>) ?? {}).map(([k, x]) => `  ${k} = ${x}`).join('\n')}`);
      return 0;
    },
  },
];

export const lxcCommand = rpcCommandGroup({
  name: 'lxc',
  summary: 'Manages LXC containers and the services they provide',
  usage: USAGE,
  subcommands: SUBCOMMANDS,
});
