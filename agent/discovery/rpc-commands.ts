// Discovery's commands on the agent RPC (registered in RpcCommandRegistry), so
// the CLI and other programs reach the running agent through -rpc-addr.
// Bodies use serf's RPC style: Go-like capitalized field names.
//
//   cloudy-publish   {Description, Type, Port, Txt, Check?}  -> header only
//   cloudy-unpublish {Type, Port}                            -> header only
//   cloudy-search    {Type, Host}                            -> {Entries, Undecodable}
//   cloudy-services  (no body)                               -> {Services}
//   cloudy-stats     (no body)                               -> {Current, History, IntervalMs, Counters}
import { AgentError } from '../errors.ts';
import type { RpcCommandRegistry } from '../rpc/registry.ts';
import type { GoValue } from '../gossip/wire/msgpack.ts';
import type { Counters } from '../obs/counters.ts';
import type { ServiceCheck, ServiceProbe } from './publisher.ts';
import type { ServiceAnnouncer } from './services.ts';
import type { ServiceChecker } from './checks.ts';
import type { FederationSample, FederationStats } from './federation.ts';
import { RECORD_KEYS } from './codec.ts';
import type { SearchEntry, SearchFilter, SearchResult } from './search.ts';

export const RPC_PUBLISH = 'cloudy-publish';
export const RPC_UNPUBLISH = 'cloudy-unpublish';
export const RPC_SEARCH = 'cloudy-search';
export const RPC_SERVICES = 'cloudy-services';
export const RPC_STATS = 'cloudy-stats';

const td = new TextDecoder();

function body(v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw new AgentError('E_DECODE', 'request body is not a map');
  return v as Record<string, unknown>;
}
function str(v: unknown, what: string): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return td.decode(v);
  throw new AgentError('E_INVALID', `${what} is not a string`);
}
function int(v: unknown, what: string): number {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new AgentError('E_INVALID', `${what} is not an integer`);
}
function optInt(v: unknown, what: string): number | undefined {
  return v === null || v === undefined || v === 0 ? undefined : int(v, what);
}

/** Wire form of a check: {Kind, Host, Port, URL, Command, IntervalMs, TimeoutMs, Failures}. */
export function checkToWire(c: ServiceCheck): GoValue {
  const p = c.probe;
  return {
    Kind: p.kind,
    Host: p.kind === 'tcp' ? p.host ?? '' : '',
    Port: p.kind === 'tcp' ? p.port ?? 0 : 0,
    URL: p.kind === 'http' ? p.url : '',
    Command: p.kind === 'exec' ? p.command : [],
    IntervalMs: c.intervalMs ?? 0,
    TimeoutMs: c.timeoutMs ?? 0,
    Failures: c.failuresToWithdraw ?? 0,
  };
}

export function checkFromWire(v: unknown): ServiceCheck | undefined {
  if (v === null || v === undefined) return undefined;
  const b = body(v);
  const kind = str(b.Kind, 'Check.Kind');
  let probe: ServiceProbe;
  if (kind === 'tcp') {
    probe = { kind };
    const host = str(b.Host, 'Check.Host');
    const port = optInt(b.Port, 'Check.Port');
    if (host) probe.host = host;
    if (port !== undefined) probe.port = port;
  } else if (kind === 'http') {
    probe = { kind, url: str(b.URL, 'Check.URL') };
  } else if (kind === 'exec') {
    if (!Array.isArray(b.Command)) throw new AgentError('E_INVALID', 'Check.Command is not an array');
    probe = { kind, command: b.Command.map((x, i) => str(x, `Check.Command[${i}]`)) };
  } else {
    throw new AgentError('E_INVALID', `check kind ${JSON.stringify(kind)} is not tcp, http or exec`);
  }
  const c: ServiceCheck = { probe };
  const interval = optInt(b.IntervalMs, 'Check.IntervalMs');
  const timeout = optInt(b.TimeoutMs, 'Check.TimeoutMs');
  const failures = optInt(b.Failures, 'Check.Failures');
  if (interval !== undefined) c.intervalMs = interval;
  if (timeout !== undefined) c.timeoutMs = timeout;
  if (failures !== undefined) c.failuresToWithdraw = failures;
  return c;
}

/** One search entry as a Go map, so key order (node_id first, s..t, extras) survives the wire. */
export function entryToWire(e: SearchEntry): GoValue {
  const m = new Map<string, GoValue>([['node_id', e.node_id]]);
  for (const k of RECORD_KEYS) m.set(k, e[k]);
  for (const [k, v] of Object.entries(e.extra ?? {})) if (!m.has(k)) m.set(k, v);
  return m;
}

export function entryFromWire(v: unknown): SearchEntry {
  const b = body(v);
  const e = { node_id: str(b.node_id, 'node_id') } as SearchEntry;
  for (const k of RECORD_KEYS) e[k] = str(b[k], k);
  for (const k of Object.keys(b)) {
    if (k === 'node_id' || (RECORD_KEYS as readonly string[]).includes(k)) continue;
    (e.extra ??= {})[k] = str(b[k], k);
  }
  return e;
}

function sampleToWire(s: FederationSample): GoValue {
  return {
    T: s.t, AliveMembers: s.aliveMembers, CloudyInstances: s.cloudyInstances, Services: s.services,
    ByType: new Map(Object.entries(s.byType)), Undecodable: s.undecodable,
  };
}

export function sampleFromWire(v: unknown): FederationSample {
  const b = body(v);
  const byType: Record<string, number> = {};
  for (const [k, n] of Object.entries(body(b.ByType))) byType[k] = int(n, `ByType.${k}`);
  return {
    t: int(b.T, 'T'), aliveMembers: int(b.AliveMembers, 'AliveMembers'), cloudyInstances: int(b.CloudyInstances, 'CloudyInstances'),
    services: int(b.Services, 'Services'), byType, undecodable: int(b.Undecodable, 'Undecodable'),
  };
}

export interface DiscoveryRpcDeps {
  announcer: ServiceAnnouncer;
  checker: ServiceChecker;
  federation: FederationStats;
  federationIntervalMs: number;
  counters: Counters;
  search(filter: SearchFilter): SearchResult;
}

export function registerDiscoveryCommands(registry: RpcCommandRegistry, d: DiscoveryRpcDeps): void {
  registry.register({
    name: RPC_PUBLISH,
    hasBody: true,
    async handle(raw) {
      const b = body(raw);
      const svc = {
        description: str(b.Description, 'Description'),
        type: str(b.Type, 'Type'),
        port: int(b.Port ?? 0, 'Port'),
        txt: str(b.Txt, 'Txt'),
        owner: str(b.Owner, 'Owner') || 'user',
      } as Parameters<ServiceAnnouncer['publish']>[0];
      const check = checkFromWire(b.Check);
      if (check) svc.check = check;
      await d.announcer.publish(svc);
      return undefined;
    },
  });
  registry.register({
    name: RPC_UNPUBLISH,
    hasBody: true,
    async handle(raw) {
      const b = body(raw);
      await d.announcer.unpublish(str(b.Type, 'Type'), int(b.Port ?? 0, 'Port'));
      return undefined;
    },
  });
  registry.register({
    name: RPC_SEARCH,
    hasBody: true,
    async handle(raw) {
      const b = body(raw);
      const res = d.search({ type: str(b.Type, 'Type'), host: str(b.Host, 'Host') });
      return { Entries: res.entries.map(entryToWire), Undecodable: res.undecodable };
    },
  });
  registry.register({
    name: RPC_SERVICES,
    hasBody: false,
    async handle() {
      const status = new Map(d.checker.status().map((s) => [`${s.type}:${s.port}`, s]));
      return {
        Services: d.announcer.list().map(({ service: s, withdrawn }) => {
          const st = status.get(`${s.type}:${s.port}`);
          return {
            Type: s.type, Description: s.description, Port: s.port, Txt: s.txt ?? '', IP: s.ip ?? '', Owner: s.owner ?? 'user',
            Withdrawn: withdrawn, Check: s.check ? checkToWire(s.check) : null,
            CheckFailures: st?.failures ?? 0, CheckResult: st?.lastResult ?? '',
          };
        }),
      };
    },
  });
  registry.register({
    name: RPC_STATS,
    hasBody: false,
    async handle() {
      return {
        Current: sampleToWire(d.federation.current()),
        History: d.federation.samples().map(sampleToWire),
        IntervalMs: d.federationIntervalMs,
        Counters: new Map(Object.entries({
          ...d.counters.snapshot('discovery.'),
          ...d.counters.snapshot('evict.discovery'),
          ...d.counters.snapshot('evict.federation'),
        })),
      };
    },
  });
}
