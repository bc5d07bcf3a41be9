// Container management's commands in the agent's command registry
// (agent/commands/); on the agent RPC they travel as lxc-<verb>. Field names
// are CamelCase like serf's RPC; replies hold strings, integers, booleans,
// lists and maps (no floats: CPUs travel as milli-CPUs). Argument types are
// checked by the registry; values (names, sizes, policies) by the manager.
import { defineCommand, type CommandSpec } from '../commands/registry.ts';
import type { ContainerManager, ContainerView } from './manager.ts';

/** A string argument: "" means "not given" (go-msgpack zero value). */
const given = (s: string | undefined): string | undefined => (s === '' ? undefined : s);

/** CPUs on the wire: milli-CPUs (500 = half a core) so that no float crosses msgpack. */
function cpusFromWire(milli: number | undefined, cpus: string | undefined): string | undefined {
  if (milli !== undefined) return milli === 0 ? '0' : String(milli / 1000);
  return given(cpus);
}

export function viewToWire(v: ContainerView): Record<string, unknown> {
  return {
    Name: v.name,
    Managed: v.managed,
    State: v.state,
    Desired: v.desired,
    PID: v.pid,
    IPv4: v.ipv4,
    AddressError: v.addressError,
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
          // Ports forwarded beside the announced one, not announced (e.g. Tahoe's storage node).
          Forwards: (v.service.forwards ?? []).map((f) => ({ Name: f.name, Port: f.port, HostPort: f.hostPort, Protocol: f.protocol })),
        }
      : null,
  };
}

const NAME = { Name: { type: 'string', required: true, doc: 'container name' } } as const;
const LIMITS = {
  Memory: { type: 'string', doc: 'memory limit, e.g. 128M' },
  CPUs: { type: 'string', doc: 'CPU limit in cores, e.g. 0.5 (or MilliCPUs)' },
  MilliCPUs: { type: 'int', doc: 'CPU limit in thousandths of a core (wins over CPUs)' },
  Autostart: { type: 'bool', doc: 'start it when the agent starts' },
  StartOrder: { type: 'int', doc: 'autostart order (lower first)' },
  StartDelay: { type: 'int', doc: 'seconds to wait after starting it at autostart' },
  Restart: { type: 'string', doc: 'restart policy: always, on-failure or never' },
} as const;

/**
 * The lxc.* commands. `manager` is asked for at call time, so the same specs
 * are registered as unavailable (with a reason) when container management is off.
 */
export function containerCommands(manager: () => ContainerManager): CommandSpec[] {
  return [
    defineCommand({
      name: 'lxc.list', summary: 'Lists containers with state, address, limits and service', role: 'viewer', args: {},
      handler: async () => ({ Containers: (await manager().list()).map(viewToWire) }),
    }),
    defineCommand({
      name: 'lxc.events', summary: 'Recent container events (unexpected stops, restarts, services published/withdrawn)', role: 'viewer', args: {},
      handler: async () => ({
        Events: manager().recentEvents().map((e) => ({ Kind: e.kind, Name: e.name, At: e.at, Detail: e.detail })),
      }),
    }),
    defineCommand({
      name: 'lxc.create',
      summary: 'Creates a container from a template, with limits, policies and an announced service',
      role: 'admin',
      args: {
        ...NAME,
        Template: { type: 'string', doc: 'template name (busybox, debian, cloudy-*)' },
        TemplateArgs: { type: 'string[]', doc: 'extra template arguments' },
        ...LIMITS,
        ServiceType: { type: 'string', doc: 'Cloudy service type to announce' },
        ServicePort: { type: 'int', doc: 'service port inside the container' },
        ServiceDescription: { type: 'string', doc: 'service description' },
        ServiceTxt: { type: 'string', doc: 'service TXT (key=value)' },
        HostPort: { type: 'int', doc: 'port forwarded from the community IP' },
        ForwardPorts: { type: 'string', doc: 'host ports for the template\'s other forwarded ports, NAME=PORT[,...] (e.g. storage=13458 for tahoe-lafs)' },
        Start: { type: 'bool', doc: 'start it after creating it' },
      },
      handler: async (a) => viewToWire(await manager().create({
        name: a.Name,
        template: given(a.Template),
        templateArgs: a.TemplateArgs,
        memory: given(a.Memory),
        cpus: cpusFromWire(a.MilliCPUs, a.CPUs),
        autostart: a.Autostart,
        startOrder: a.StartOrder,
        startDelay: a.StartDelay,
        restart: given(a.Restart),
        serviceType: given(a.ServiceType),
        servicePort: a.ServicePort,
        serviceDescription: given(a.ServiceDescription),
        serviceTxt: given(a.ServiceTxt),
        hostPort: a.HostPort,
        forwardPorts: given(a.ForwardPorts),
        start: a.Start,
      })),
    }),
    defineCommand({
      name: 'lxc.start', summary: 'Starts a container', role: 'admin', args: NAME,
      handler: async (a) => viewToWire(await manager().start(a.Name)),
    }),
    defineCommand({
      name: 'lxc.stop', summary: 'Stops a container', role: 'admin', args: NAME,
      handler: async (a) => viewToWire(await manager().stop(a.Name)),
    }),
    defineCommand({
      name: 'lxc.restart', summary: 'Restarts a container', role: 'admin', args: NAME,
      handler: async (a) => viewToWire(await manager().restart(a.Name)),
    }),
    defineCommand({
      name: 'lxc.destroy', summary: 'Stops and removes a container (its port forward and service go too)', role: 'admin', args: NAME,
      handler: async (a) => ({ Name: (await manager().destroy(a.Name)).name }),
    }),
    defineCommand({
      name: 'lxc.info', summary: 'State, usage and configuration of a container', role: 'viewer', args: NAME,
      handler: async (a) => {
        const r = await manager().info(a.Name);
        return { ...viewToWire(r.view), CPUNanos: r.info?.cpuNs ?? 0, MemoryUse: r.info?.memoryBytes ?? 0, IPs: r.info?.ipv4 ?? [] };
      },
    }),
    defineCommand({
      name: 'lxc.exec',
      summary: 'Runs a command in a container',
      role: 'admin',
      args: {
        ...NAME,
        Command: { type: 'string[]', doc: 'command and arguments' },
        TimeoutSec: { type: 'int', doc: 'time limit in seconds (default 60)' },
      },
      handler: async (a) => {
        const r = await manager().exec(a.Name, a.Command ?? [], a.TimeoutSec ? a.TimeoutSec * 1000 : undefined);
        return { ExitCode: r.exitCode, Stdout: r.stdout, Stderr: r.stderr, TimedOut: r.timedOut };
      },
    }),
    defineCommand({
      name: 'lxc.config',
      summary: 'Shows or changes the limits and policies of a container',
      role: 'admin',
      args: { ...NAME, ...LIMITS },
      handler: async (a) => {
        const r = await manager().config(a.Name, {
          memory: given(a.Memory),
          cpus: cpusFromWire(a.MilliCPUs, a.CPUs),
          autostart: a.Autostart,
          startOrder: a.StartOrder,
          startDelay: a.StartDelay,
          restart: given(a.Restart),
        });
        return { ...viewToWire(r.view), Config: r.config };
      },
    }),
  ];
}
