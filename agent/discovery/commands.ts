// Discovery's commands in the agent's command registry (agent/commands/), and
// the wire form of their values. Field names follow serf's RPC style
// (capitalized, Go-like); on the agent RPC they travel as cloudy-<name>.
//
//   publish   {Description, Type, Port, Txt, Owner?, Check?} -> nothing      (admin)
//   unpublish {Type, Port}                                   -> nothing      (admin)
//   search    {Type, Host}                                   -> {Entries, Undecodable}
//   services  {}                                             -> {Services}
//   stats     {}                                             -> {Current, History, IntervalMs, Counters}
import { AgentError } from '../errors.ts';
import { defineCommand, type CommandSpec } from '../commands/registry.ts';
import { validateArgs, type ArgSchema } from '../commands/schema.ts';
import { rpcNameOf } from '../commands/rpc-verbs.ts';
import type { GoValue } from '../gossip/wire/msgpack.ts';
import type { Counters } from '../obs/counters.ts';
import type { ServiceCheck, ServiceProbe } from './publisher.ts';
import type { ServiceAnnouncer } from './services.ts';
import type { ServiceChecker } from './checks.ts';
import type { FederationSample, FederationStats } from './federation.ts';
import { RECORD_KEYS } from './codec.ts';
import type { SearchEntry, SearchFilter, SearchResult } from './search.ts';
import { parseSearchSort, sortSearchEntries, type RttOf } from './rtt.ts';

/** Wire names on the agent RPC (what our CLI sends). */
export const RPC_PUBLISH = rpcNameOf('publish');
export const RPC_UNPUBLISH = rpcNameOf('unpublish');
export const RPC_SEARCH = rpcNameOf('search');
export const RPC_SERVICES = rpcNameOf('services');
export const RPC_STATS = rpcNameOf('stats');

const CHECK_ARGS = {
  Kind: { type: 'string', required: true, doc: 'tcp, http or exec' },
  Host: { type: 'string', doc: 'tcp: host to connect to (default 127.0.0.1)' },
  Port: { type: 'int', doc: 'tcp: port (default the service port)' },
  URL: { type: 'string', doc: 'http: URL that must answer 2xx/3xx' },
  Command: { type: 'string[]', doc: 'exec: command and arguments that must exit 0' },
  IntervalMs: { type: 'int', doc: 'time between checks (0 = default)' },
  TimeoutMs: { type: 'int', doc: 'time one check may take (0 = default)' },
  Failures: { type: 'int', doc: 'consecutive failures before the service is withdrawn (0 = default)' },
} as const satisfies ArgSchema;

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

/** 0 on the wire means "not set" (go-msgpack zero value). */
const nonZero = (n: number | undefined): number | undefined => (n === 0 ? undefined : n);

export function checkFromWire(v: unknown): ServiceCheck | undefined {
  if (v === null || v === undefined) return undefined;
  const b = validateArgs(CHECK_ARGS, v, 'Check.');
  let probe: ServiceProbe;
  if (b.Kind === 'tcp') {
    probe = { kind: 'tcp' };
    const port = nonZero(b.Port);
    if (b.Host) probe.host = b.Host;
    if (port !== undefined) probe.port = port;
  } else if (b.Kind === 'http') {
    probe = { kind: 'http', url: b.URL ?? '' };
  } else if (b.Kind === 'exec') {
    if (b.Command === undefined) throw new AgentError('E_INVALID', 'Check.Command: expected a list of strings, got nil', { field: 'Check.Command' });
    probe = { kind: 'exec', command: b.Command };
  } else {
    throw new AgentError('E_INVALID', `Check.Kind: ${JSON.stringify(b.Kind)} is not tcp, http or exec`, { field: 'Check.Kind' });
  }
  const c: ServiceCheck = { probe };
  const interval = nonZero(b.IntervalMs);
  const timeout = nonZero(b.TimeoutMs);
  const failures = nonZero(b.Failures);
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

const stringField = { type: 'string', doc: '' } as const;

export function entryFromWire(v: unknown): SearchEntry {
  // Every key is a string; which keys exist is up to the record (extras pass through).
  const keys = v !== null && typeof v === 'object' && !(v instanceof Uint8Array) ? Object.keys(v) : [];
  const b = validateArgs(Object.fromEntries(keys.map((k) => [k, stringField])), v) as Record<string, string | undefined>;
  const e = { node_id: b.node_id ?? '' } as SearchEntry;
  for (const k of RECORD_KEYS) e[k] = b[k] ?? '';
  for (const k of keys) {
    if (k === 'node_id' || (RECORD_KEYS as readonly string[]).includes(k)) continue;
    (e.extra ??= {})[k] = b[k] ?? '';
  }
  return e;
}

function sampleToWire(s: FederationSample): GoValue {
  return {
    T: s.t, AliveMembers: s.aliveMembers, CloudyInstances: s.cloudyInstances, Services: s.services,
    ByType: new Map(Object.entries(s.byType)), Undecodable: s.undecodable,
  };
}

const SAMPLE = {
  T: { type: 'int', required: true, doc: 'sample time (ms since the epoch)' },
  AliveMembers: { type: 'int', required: true, doc: 'alive serf members' },
  CloudyInstances: { type: 'int', required: true, doc: 'members announcing a services tag' },
  Services: { type: 'int', required: true, doc: 'services announced in all' },
  ByType: { type: 'map', doc: 'services per type' },
  Undecodable: { type: 'int', required: true, doc: 'members whose services tag does not decode' },
} as const satisfies ArgSchema;

export function sampleFromWire(v: unknown): FederationSample {
  const b = validateArgs(SAMPLE, v);
  const byTypeRaw = b.ByType ?? {};
  const byType = validateArgs(Object.fromEntries(Object.keys(byTypeRaw).map((k) => [k, { type: 'int', doc: '' } as const])), byTypeRaw, 'ByType.') as Record<string, number>;
  return {
    t: b.T, aliveMembers: b.AliveMembers, cloudyInstances: b.CloudyInstances,
    services: b.Services, byType, undecodable: b.Undecodable,
  };
}

export interface DiscoveryCommandDeps {
  announcer: ServiceAnnouncer;
  checker: ServiceChecker;
  federation: FederationStats;
  federationIntervalMs: number;
  counters: Counters;
  search(filter: SearchFilter): SearchResult;
  /** RTT estimates from this node (Vivaldi), asked at each search. */
  rtt(): RttOf;
}

export function discoveryCommands(d: DiscoveryCommandDeps): CommandSpec[] {
  return [
    defineCommand({
      name: 'publish',
      summary: 'Announces a Cloudy service in the services tag (avahi-ps publish)',
      role: 'admin',
      args: {
        Description: { type: 'string', doc: 'free text shown by search' },
        Type: { type: 'string', doc: 'service type (avahi-ps type, e.g. tahoe-lafs)' },
        Port: { type: 'int', doc: 'port the service listens on' },
        Txt: { type: 'string', doc: 'TXT record (key=value)' },
        Owner: { type: 'string', doc: 'who published it (default "user")' },
        Check: { type: 'map', doc: 'liveness check {Kind, Host, Port, URL, Command, IntervalMs, TimeoutMs, Failures}' },
      },
      async handler(a) {
        const svc = {
          description: a.Description ?? '', type: a.Type ?? '', port: a.Port ?? 0, txt: a.Txt ?? '', owner: a.Owner || 'user',
        } as Parameters<ServiceAnnouncer['publish']>[0];
        const check = checkFromWire(a.Check);
        if (check) svc.check = check;
        await d.announcer.publish(svc);
        return undefined;
      },
    }),
    defineCommand({
      name: 'unpublish',
      summary: 'Withdraws a Cloudy service from the services tag (avahi-ps unpublish)',
      role: 'admin',
      args: {
        Type: { type: 'string', doc: 'service type' },
        Port: { type: 'int', doc: 'service port' },
      },
      async handler(a) {
        await d.announcer.unpublish(a.Type ?? '', a.Port ?? 0);
        return undefined;
      },
    }),
    defineCommand({
      name: 'search',
      summary: 'Lists the Cloudy services of every alive node (avahi-ps search)',
      role: 'viewer',
      args: {
        Type: { type: 'string', doc: 'only this service type ("" = all)' },
        Host: { type: 'string', doc: 'only this host ("" = all)' },
        Sort: { type: 'string', doc: 'rtt: nearest provider first (Vivaldi estimate from this node), name, or none ("" = none)' },
      },
      async handler(a) {
        const sort = parseSearchSort(a.Sort ?? '');
        if (sort === undefined) throw new AgentError('E_INVALID', `Sort: rtt, name or none, got ${JSON.stringify(a.Sort)}`, { field: 'Sort' });
        const res = d.search({ type: a.Type ?? '', host: a.Host ?? '' });
        const sorted = sortSearchEntries(res.entries, sort, d.rtt());
        // RttMs[i] is the estimated RTT to Entries[i]'s node in ms (-1: no coordinate); Entries keep avahi-ps's shape.
        return { Entries: sorted.map(entryToWire), Undecodable: res.undecodable, RttMs: sorted.map((e) => (e.rtt_ms === null ? -1 : Math.round(e.rtt_ms * 1000))) };
      },
    }),
    defineCommand({
      name: 'services',
      summary: "Lists this node's published Cloudy services and their checks",
      role: 'viewer',
      args: {},
      async handler() {
        const status = new Map(d.checker.status().map((s) => [`${s.type}:${s.port}`, s]));
        return {
          Services: (await d.announcer.current()).map(({ service: s, withdrawn }) => {
            const st = status.get(`${s.type}:${s.port}`);
            return {
              Type: s.type, Description: s.description, Port: s.port, Txt: s.txt ?? '', IP: s.ip ?? '', Owner: s.owner ?? 'user',
              Withdrawn: withdrawn, Check: s.check ? checkToWire(s.check) : null,
              CheckFailures: st?.failures ?? 0, CheckResult: st?.lastResult ?? '',
            };
          }),
        };
      },
    }),
    defineCommand({
      name: 'stats',
      summary: 'Cloudy federation statistics: alive instances, services per type, history',
      role: 'viewer',
      args: {},
      async handler() {
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
    }),
  ];
}
