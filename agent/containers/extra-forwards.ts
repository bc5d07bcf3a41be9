// Ports of a container that the community network must reach besides the one
// its service announces, and how the container learns where it is reached.
//
// A Tahoe-LAFS grid container announces its introducer (as Cloudy does), but
// its storage node needs a port of its own reachable from other machines, and
// it must tell clients that address (tub.location), not its container address.
// The template lists such ports in cloudy-service.json
// (`"forwards":[{"name":"storage","port":3458}]`); the agent picks a host port
// for each when it creates the container, forwards it beside the service's,
// and before every start writes ENDPOINTS_PATH into the container's root: the
// host's community address and every host port, for the service to announce.
// Pure: parsing, port choice and the file's text; the manager does the I/O.
import { AgentError } from '../errors.ts';
import { parsePort } from './validate.ts';
import { protocolsOf, type ExtraForward, type ServiceProtocol, type ServiceSpec } from './types.ts';

/** Where, inside the container's root filesystem, the agent writes the endpoints (a shell-sourceable file). */
export const ENDPOINTS_PATH = 'etc/cloudy-agent/endpoints.env';

const NAME_RE = /^[a-z][a-z0-9_]{0,15}$/;

export type WantedForward = Omit<ExtraForward, 'hostPort'>;

/** The `forwards` list of a cloudy-service.json (absent: none). */
export function parseExtraForwards(raw: unknown, where: string, maxForwards: number): WantedForward[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || raw.length > maxForwards) {
    throw new AgentError('E_INVALID', `${where}: forwards must be a list of at most ${maxForwards} {name, port[, protocol]} (limit maxExtraForwards)`);
  }
  const seen = new Set<string>();
  return raw.map((f: unknown) => {
    const o = (typeof f === 'object' && f !== null ? f : {}) as { name?: unknown; port?: unknown; protocol?: unknown };
    if (typeof o.name !== 'string' || !NAME_RE.test(o.name) || seen.has(o.name)) {
      throw new AgentError('E_INVALID', `${where}: forward name ${JSON.stringify(o.name)} must be unique, [a-z][a-z0-9_]*, up to 16 characters`);
    }
    seen.add(o.name);
    const protocol = o.protocol === undefined ? 'tcp' : o.protocol;
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'tcp+udp') throw new AgentError('E_INVALID', `${where}: forward ${o.name}: protocol must be tcp, udp or tcp+udp`);
    return { name: o.name, port: parsePort(o.port, `${where}: forward ${o.name} port`), protocol };
  });
}

/** A host port already forwarded (by any container), with its protocols. */
export interface TakenPort { port: number; protocol: ServiceProtocol }

/** The protocol in which `port`/`protocol` would collide with the forward `t` (same host port, a protocol in common), if any. */
export function clashWith(port: number, protocol: ServiceProtocol, t: TakenPort): 'tcp' | 'udp' | undefined {
  if (t.port !== port) return undefined;
  const want = protocolsOf(protocol);
  return protocolsOf(t.protocol).find((p) => want.includes(p));
}

function clashes(port: number, protocol: ServiceProtocol, taken: readonly TakenPort[]): boolean {
  return taken.some((t) => clashWith(port, protocol, t) !== undefined);
}

/** `-forward-port storage=13458[,name=port...]`: host ports the user chose, by forward name. */
export function parseForwardPortRequest(v: unknown): Map<string, number> {
  const out = new Map<string, number>();
  if (v === undefined || v === null || v === '') return out;
  if (typeof v !== 'string' || v.length > 256) throw new AgentError('E_INVALID', 'forward ports must be NAME=PORT[,NAME=PORT...]');
  for (const item of v.split(',')) {
    const m = /^([a-z][a-z0-9_]{0,15})=(\d{1,5})$/.exec(item.trim());
    if (!m || out.has(m[1]!)) throw new AgentError('E_INVALID', `forward port '${item}': want NAME=PORT, each name once`);
    out.set(m[1]!, parsePort(Number(m[2]), `forward port ${m[1]}`));
  }
  return out;
}

/**
 * A host port for each wanted forward: the one the user chose (`chosen`, by
 * name; refused if another forward holds it), else the container's own port
 * when no other forward holds it (like the service's default), else the next
 * free one above it. `taken` holds every other forward on the host address.
 */
export function allocateHostPorts(wanted: readonly WantedForward[], taken: readonly TakenPort[], chosen: ReadonlyMap<string, number> = new Map()): ExtraForward[] {
  for (const name of chosen.keys()) {
    if (!wanted.some((w) => w.name === name)) {
      throw new AgentError('E_INVALID', `no forward named ${name} in this template (it has: ${wanted.map((w) => w.name).join(', ') || 'none'})`);
    }
  }
  const used = [...taken];
  return wanted.map((w) => {
    const fixed = chosen.get(w.name);
    let port = fixed ?? w.port;
    if (fixed !== undefined && clashes(fixed, w.protocol, used)) throw new AgentError('E_EXISTS', `host port ${fixed} for forward ${w.name} is already forwarded`);
    while (port <= 65535 && clashes(port, w.protocol, used)) port++;
    if (port > 65535) throw new AgentError('E_LIMIT', `no free host port at or above ${w.port} for forward ${w.name}`);
    used.push({ port, protocol: w.protocol });
    return { ...w, hostPort: port };
  });
}

/** Every host port a service forwards (the announced one first). */
export function forwardedPorts(s: ServiceSpec): TakenPort[] {
  return [{ port: s.hostPort, protocol: s.protocol }, ...(s.forwards ?? []).map((f) => ({ port: f.hostPort, protocol: f.protocol }))];
}

/**
 * The endpoints file: sourced by the container's init script, so only values
 * the agent validated (IPv4 addresses, port numbers, forward names) go in.
 */
export function endpointsFile(s: ServiceSpec, communityIp: string, containerIp: string): string {
  return [
    '# Written by cloudy-agent before every start: where the community network reaches this container.',
    `CLOUDY_HOST_IP=${communityIp}`,
    `CLOUDY_CONTAINER_IP=${containerIp}`,
    `CLOUDY_SERVICE_PORT=${s.hostPort}`,
    ...(s.forwards ?? []).map((f) => `CLOUDY_PORT_${f.name}=${f.hostPort}`),
    '',
  ].join('\n');
}
