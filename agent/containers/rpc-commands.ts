// The `lxc-*` commands of the agent RPC (registered in RpcCommandRegistry).
// Request bodies are msgpack maps with the field names below (CamelCase like
// serf's own RPC); replies are maps whose values are strings, integers,
// booleans, lists and maps (no floats: CPUs travel as milli-CPUs).
import { AgentError } from '../errors.ts';
import type { RpcCommand, RpcCommandRegistry } from '../rpc/registry.ts';
import type { ContainerManager, ContainerView } from './manager.ts';

export const LXC_RPC_COMMANDS = [
  'lxc-list', 'lxc-events', 'lxc-create', 'lxc-start', 'lxc-stop', 'lxc-restart', 'lxc-destroy', 'lxc-info', 'lxc-exec', 'lxc-config',
] as const;

type Body = Record<string, unknown>;

function body(v: unknown): Body {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw new AgentError('E_DECODE', 'request body must be a map');
  const out: Body = {};
  for (const [k, x] of Object.entries(v as Body)) out[k] = x instanceof Uint8Array ? new TextDecoder().decode(x) : x;
  return out;
}

function str(b: Body, k: string): string | undefined {
  const v = b[k];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new AgentError('E_DECODE', `${k} must be a string`);
  return v;
}

function num(b: Body, k: string): number | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number') throw new AgentError('E_DECODE', `${k} must be an integer`);
  return v;
}

function bool(b: Body, k: string): boolean | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new AgentError('E_DECODE', `${k} must be a bool`);
  return v;
}

function strList(b: Body, k: string): string[] | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new AgentError('E_DECODE', `${k} must be a list of strings`);
  return v.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : typeof x === 'string' ? x : String(x)));
}

/** CPUs on the wire: milli-CPUs (500 = half a core) so that no float crosses msgpack. */
function cpusFromWire(b: Body): string | undefined {
  const m = num(b, 'MilliCPUs');
  if (m !== undefined) return m === 0 ? '0' : String(m / 1000);
  return str(b, 'CPUs');
}

export function viewToWire(v: ContainerView): Record<string, unknown> {
  return {
    Name: v.name,
    Managed: v.managed,
    State: v.state,
    Desired: v.desired,
    PID: v.pid,
    IPv4: v.ipv4,
    Template: v.template,
    MemoryBytes: v.memoryBytes,
    MilliCPUs: Math.round(v.cpus * 1000),
    Autostart: v.autostart,
    StartOrder: v.startOrder,
    StartDelay: v.startDelaySec,
    Restart: v.restart,
    Service: v.service
      ? {
          Type: v.service.type, Port: v.service.port, HostPort: v.service.hostPort, HostIP: v.service.hostIp,
          Protocol: v.service.protocol, Description: v.service.description, Txt: v.service.txt,
          Check: v.service.check.kind, Published: v.service.published,
        }
      : null,
  };
}

export function registerContainerCommands(registry: RpcCommandRegistry, m: ContainerManager): void {
  const cmd = (name: string, handle: (b: Body) => Promise<unknown>): RpcCommand => ({
    name, hasBody: name !== 'lxc-list' && name !== 'lxc-events', handle: (raw) => handle(body(raw)),
  });
  registry.register(cmd('lxc-list', async () => ({ Containers: (await m.list()).map(viewToWire) })));
  registry.register(cmd('lxc-events', async () => ({
    Events: m.recentEvents().map((e) => ({ Kind: e.kind, Name: e.name, At: e.at, Detail: e.detail })),
  })));
  registry.register(cmd('lxc-create', async (b) => viewToWire(await m.create({
    name: str(b, 'Name'),
    template: str(b, 'Template'),
    templateArgs: strList(b, 'TemplateArgs'),
    memory: str(b, 'Memory'),
    cpus: cpusFromWire(b),
    autostart: bool(b, 'Autostart'),
    startOrder: num(b, 'StartOrder'),
    startDelay: num(b, 'StartDelay'),
    restart: str(b, 'Restart'),
    serviceType: str(b, 'ServiceType'),
    servicePort: num(b, 'ServicePort'),
    serviceDescription: str(b, 'ServiceDescription'),
    serviceTxt: str(b, 'ServiceTxt'),
    hostPort: num(b, 'HostPort'),
    start: bool(b, 'Start'),
  }))));
  registry.register(cmd('lxc-start', async (b) => viewToWire(await m.start(str(b, 'Name')))));
  registry.register(cmd('lxc-stop', async (b) => viewToWire(await m.stop(str(b, 'Name')))));
  registry.register(cmd('lxc-restart', async (b) => viewToWire(await m.restart(str(b, 'Name')))));
  registry.register(cmd('lxc-destroy', async (b) => ({ Name: (await m.destroy(str(b, 'Name'))).name })));
  registry.register(cmd('lxc-info', async (b) => {
    const r = await m.info(str(b, 'Name'));
    return {
      ...viewToWire(r.view),
      CPUNanos: r.info?.cpuNs ?? 0,
      MemoryUse: r.info?.memoryBytes ?? 0,
      IPs: r.info?.ipv4 ?? [],
    };
  }));
  registry.register(cmd('lxc-exec', async (b) => {
    const timeoutSec = num(b, 'TimeoutSec');
    const r = await m.exec(str(b, 'Name'), strList(b, 'Command') ?? [], timeoutSec ? timeoutSec * 1000 : undefined);
    return { ExitCode: r.exitCode, Stdout: r.stdout, Stderr: r.stderr, TimedOut: r.timedOut };
  }));
  registry.register(cmd('lxc-config', async (b) => {
    const r = await m.config(str(b, 'Name'), {
      memory: str(b, 'Memory'),
      cpus: cpusFromWire(b),
      autostart: bool(b, 'Autostart'),
      startOrder: num(b, 'StartOrder'),
      startDelay: num(b, 'StartDelay'),
      restart: str(b, 'Restart'),
    });
    return { ...viewToWire(r.view), Config: r.config };
  }));
}
