// This node's services and containers, and the command registry itself. Each
// route is a thin mapping onto a command of agent/commands/ (the same code
// paths as the CLI over RPC and remote control): JSON field names in
// snake_case <-> the registry's CamelCase arguments, and back for replies.
// Long operations (create, start, stop, restart, destroy) answer 202 with a
// job to poll (GET /api/v1/jobs/:id), or the result itself with ?wait=true.
import { AgentError } from '../../errors.ts';
import { HttpError } from '../http-error.ts';
import { jsonReply } from '../http-server.ts';
import type { JobTable } from '../jobs.ts';
import { reply, type Route, type RouteContext } from '../router.ts';
import type { Principal } from '../auth/roles.ts';

/** The part of agent/commands/registry.ts CommandRegistry the API uses. */
export interface CommandPort {
  list(): { name: string; summary: string; role: 'viewer' | 'admin'; args: unknown; unavailable?: { reason: string; fix: string } }[];
  invoke(name: string, args: unknown, ctx: { origin: 'http'; role: 'viewer' | 'admin' }): Promise<unknown>;
  /** The role the registry declares for a command: the routes below that run one take theirs from here. */
  roleOf(name: string): 'viewer' | 'admin' | undefined;
}

/** Templates offered by the GUI's create form (lxc-templates/README.md), with the options each takes. */
export const TEMPLATES = [
  { name: 'busybox', description: 'tiny web server (busybox httpd), seconds to create', service: 'web:80', options: ['--service-type TYPE', '--port PORT'] },
  { name: 'squid', description: 'proxy3: squid proxy (Debian, minutes the first time)', service: 'proxy3:3128', options: [] },
  { name: 'syncthing', description: 'syncthing file sync (Debian)', service: 'syncthing:22000', options: [] },
  { name: 'dns', description: 'dnsservice: dnsmasq caching resolver (Debian)', service: 'dnsservice:53', options: [] },
  { name: 'snmp', description: 'snpservice: snmpd, read-only (Debian)', service: 'snpservice:161', options: [] },
  { name: 'debian', description: 'plain Debian minbase with tini', service: '', options: ['--packages a,b', '--release NAME'] },
  { name: 'tahoe-lafs', description: 'tahoe-lafs: introducer + storage node (Debian trixie, minutes the first time)', service: 'tahoe-lafs:3457', options: ['--grid-name NAME', '--shares K/H/N', '--introducer-furl FURL'] },
  { name: 'peerstreamer', description: 'peerstreamer (no package anywhere: needs --package-source)', service: 'peerstreamer:6100', options: ['--package-source SRC'] },
] as const;

/** API field -> command argument, per command; errors naming an argument are mapped back. */
const CREATE_FIELDS: Record<string, string> = {
  name: 'Name', template: 'Template', template_args: 'TemplateArgs', memory: 'Memory', cpus: 'CPUs', autostart: 'Autostart',
  start_order: 'StartOrder', start_delay: 'StartDelay', restart: 'Restart', service_type: 'ServiceType', service_port: 'ServicePort',
  service_description: 'ServiceDescription', service_txt: 'ServiceTxt', host_port: 'HostPort', forward_ports: 'ForwardPorts', start: 'Start',
};
const PUBLISH_FIELDS: Record<string, string> = { description: 'Description', type: 'Type', port: 'Port', txt: 'Txt' };

function mapArgs(body: Record<string, unknown>, fields: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    const to = fields[k];
    if (to === undefined) throw new AgentError('E_INVALID', `${k}: unknown field (known: ${Object.keys(fields).join(', ')})`, { field: k });
    out[to] = v;
  }
  return out;
}

/** Rewrites an E_INVALID naming a command argument to name the API field. */
function renameField(e: unknown, fields: Record<string, string>): unknown {
  if (e instanceof AgentError && typeof e.details?.field === 'string') {
    const api = Object.entries(fields).find(([, c]) => c === e.details!.field)?.[0];
    if (api) return new AgentError(e.code, e.message.replace(String(e.details.field), api), { ...e.details, field: api });
  }
  return e;
}

/** Registry replies (Go-style maps, Map objects) as plain JSON. */
export function toJson(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJson(x)]));
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'bigint') return Number(v);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

interface WireContainer {
  Name: string; Managed: boolean; State: string; Desired: string; PID: number; IPv4: string; Template: string;
  MemoryBytes: number; MilliCPUs: number; Autostart: boolean; Restart: string;
  Service: {
    Type: string; Port: number; HostPort: number; HostIP: string; Protocol: string; Description: string; Published: boolean;
    Forwards?: { Name: string; Port: number; HostPort: number; Protocol: string }[];
  } | null;
}

export function containerJson(c: WireContainer): Record<string, unknown> {
  return {
    name: c.Name, managed: c.Managed, state: c.State, desired: c.Desired, pid: c.PID, ipv4: c.IPv4, template: c.Template,
    memory_bytes: c.MemoryBytes, cpus: c.MilliCPUs / 1000, autostart: c.Autostart, restart: c.Restart,
    service: c.Service ? {
      type: c.Service.Type, port: c.Service.Port, host_port: c.Service.HostPort, host_ip: c.Service.HostIP,
      protocol: c.Service.Protocol, description: c.Service.Description, published: c.Service.Published,
      forwards: (c.Service.Forwards ?? []).map((f) => ({ name: f.Name, port: f.Port, host_port: f.HostPort, protocol: f.Protocol })),
    } : null,
  };
}

function commandRole(p: Principal | null): 'viewer' | 'admin' {
  return p?.role === 'admin' ? 'admin' : 'viewer';
}

export function nodeRoutes(commands: CommandPort, jobs: JobTable): Route[] {
  const invoke = (ctx: RouteContext, name: string, args: unknown, fields: Record<string, string> = {}): Promise<unknown> =>
    commands.invoke(name, args, { origin: 'http', role: commandRole(ctx.principal) }).catch((e: unknown) => { throw renameField(e, fields); });

  /** Runs a long command as a job (202), or at once with ?wait=true. */
  const longOp = async (ctx: RouteContext, name: string, args: Record<string, unknown>, fields: Record<string, string>, shape: (r: unknown) => unknown): Promise<unknown> => {
    const wait = ctx.req.query.get('wait');
    if (wait === 'true' || wait === '1') return shape(await invoke(ctx, name, args, fields));
    const job = jobs.start(name, async () => shape(await invoke(ctx, name, args, fields)));
    return reply(jsonReply(202, job, { location: `/api/v1/jobs/${job.id}` }));
  };
  const containerAction = (action: 'start' | 'stop' | 'restart' | 'destroy'): Route => ({
    method: 'POST', path: `/api/v1/node/containers/:name/${action}`, command: `lxc.${action}`,
    handle: (ctx) => longOp(ctx, `lxc.${action}`, { Name: ctx.params.name }, { name: 'Name' },
      (r) => (action === 'destroy' ? { name: (r as { Name: string }).Name } : containerJson(r as WireContainer))),
  });

  return [
    {
      method: 'GET', path: '/api/v1/node/services', command: 'services',
      async handle(ctx) {
        const r = toJson(await invoke(ctx, 'services', {})) as { Services: Record<string, unknown>[] };
        return {
          services: r.Services.map((s) => ({
            type: s.Type, description: s.Description, port: s.Port, txt: s.Txt, ip: s.IP, owner: s.Owner, withdrawn: s.Withdrawn,
            check: s.Check, check_failures: s.CheckFailures, check_result: s.CheckResult,
          })),
        };
      },
    },
    {
      method: 'POST', path: '/api/v1/node/services', command: 'publish',
      async handle(ctx) {
        const args = mapArgs(ctx.json(), PUBLISH_FIELDS);
        await invoke(ctx, 'publish', args, PUBLISH_FIELDS);
        return reply(jsonReply(201, { published: true }));
      },
    },
    {
      method: 'DELETE', path: '/api/v1/node/services/:type/:port', command: 'unpublish',
      async handle(ctx) {
        const port = Number(ctx.params.port);
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new HttpError(400, 'E_INVALID', 'port: must be 1..65535', {}, 'port');
        await invoke(ctx, 'unpublish', { Type: ctx.params.type, Port: port }, { type: 'Type', port: 'Port' });
        return { unpublished: true };
      },
    },
    {
      method: 'GET', path: '/api/v1/node/containers', command: 'lxc.list',
      async handle(ctx) {
        const r = await invoke(ctx, 'lxc.list', {}) as { Containers: WireContainer[] };
        return { containers: r.Containers.map(containerJson) };
      },
    },
    {
      method: 'POST', path: '/api/v1/node/containers', command: 'lxc.create',
      handle(ctx) {
        const args = mapArgs(ctx.json(), CREATE_FIELDS);
        if (args.Name === undefined) throw new AgentError('E_INVALID', 'name: required', { field: 'name' });
        return longOp(ctx, 'lxc.create', args, CREATE_FIELDS, (r) => containerJson(r as WireContainer));
      },
    },
    containerAction('start'), containerAction('stop'), containerAction('restart'), containerAction('destroy'),
    { method: 'GET', path: '/api/v1/node/templates', role: 'viewer', handle: () => ({ templates: TEMPLATES }) },
    {
      method: 'GET', path: '/api/v1/jobs/:id', role: 'viewer',
      handle({ params }) {
        const j = jobs.get(params.id!);
        if (!j) throw new HttpError(404, 'E_NOT_FOUND', `no job ${JSON.stringify(params.id)} (finished jobs are kept a while)`, {}, 'id');
        return j;
      },
    },
    { method: 'GET', path: '/api/v1/commands', role: 'viewer', handle: () => ({ commands: commands.list() }) },
    {
      method: 'POST', path: '/api/v1/commands/:name', role: 'viewer',
      async handle(ctx) {
        return { result: toJson(await invoke(ctx, ctx.params.name!, ctx.json())) ?? null };
      },
    },
  ];
}
