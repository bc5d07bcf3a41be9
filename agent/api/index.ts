// Composition of the full node's HTTP side: authentication, the JSON API's
// routes (info, federation, history, this node over the command registry,
// session) and the GUI's files, as the handler list of one HttpServer.
//
//   const api = createApi({ ... });
//   const server = new HttpServer({ handlers: api.handlers, limits, logger, counters });
//
// An edge node's management proxy (agent/api/proxy.ts) composes its own list,
// e.g. [proxyHandler] or [proxyHandler, ...api.handlers].
import type { Serf } from '../gossip/serf/types.ts';
import type { Counters } from '../obs/counters.ts';
import type { Logger } from '../obs/log.ts';
import type { Limits } from '../config/limits.ts';
import { ServicesTagDecoder, type SearchEntry } from '../discovery/search.ts';
import type { TieredHistory } from '../discovery/history-tiers.ts';
import { Authenticator } from './auth/index.ts';
import { ApiRouter } from './router.ts';
import { JobTable } from './jobs.ts';
import { guiHandler } from './gui/assets.ts';
import type { RouteHandler } from './http-server.ts';
import { infoRoutes } from './routes/info.ts';
import { federationRoutes } from './routes/federation.ts';
import { nodeRoutes, toJson, type CommandPort } from './routes/node.ts';
import { sessionRoutes } from './routes/session.ts';
import type { StateHealth } from '../state/state-health.ts';

export const API_VERSION = 'v1';
/** Jobs (long operations) remembered at once. */
const MAX_JOBS = 32;

export interface ApiDeps {
  serf: Pick<Serf, 'members' | 'localMember' | 'getCoordinate' | 'stats'>;
  commands: CommandPort;
  counters: Counters;
  limits: Limits;
  logger: Logger;
  mode: string;
  /** Where admin.passwd and tokens.json live ('' = nowhere: nobody can log in). */
  dataDir: string;
  /** The daemon's storage health (a full or read-only disk is retried, not thrown). */
  stateHealth?: StateHealth | null;
  guest: boolean;
  history: TieredHistory | null;
  version?: string;
  pluginStats?: () => Record<string, Record<string, string>>;
  now?: () => number;
  /** Tests: the login slow-down's sleep. */
  sleep?: (ms: number) => Promise<void>;
}

export interface Api {
  auth: Authenticator;
  router: ApiRouter;
  jobs: JobTable;
  /** [API router, GUI files]: the HttpServer's pipeline. */
  handlers: RouteHandler[];
}

export function createApi(d: ApiDeps): Api {
  const auth = new Authenticator({
    dataDir: d.dataDir, stateHealth: d.stateHealth ?? null, limits: d.limits, guest: d.guest, counters: d.counters, logger: d.logger.child('auth'),
    ...(d.now ? { now: d.now } : {}), ...(d.sleep ? { sleep: d.sleep } : {}),
  });
  const decoder = new ServicesTagDecoder({ counters: d.counters, maxDecodedBytes: d.limits.servicesTagMaxDecoded, cacheEntries: d.limits.servicesDecodeCache });
  const jobs = new JobTable(MAX_JOBS, d.now);
  const router = new ApiRouter(auth, (name) => d.commands.roleOf(name));
  const self = (): { name: string; mode: string } => ({ name: d.serf.localMember().name, mode: d.mode });
  router.add(
    ...sessionRoutes(auth, self),
    ...infoRoutes({ serf: d.serf, counters: d.counters, limits: d.limits, mode: d.mode, version: d.version ?? process.version, startedAt: Date.now(), ...(d.pluginStats ? { pluginStats: d.pluginStats } : {}) }),
    ...federationRoutes({
      serf: d.serf, decoder, history: d.history, ...(d.now ? { now: d.now } : {}),
      // The registry's `search` (the same code path as `cloudy-agent search`).
      search: async (filter, sort) => {
        const r = toJson(await d.commands.invoke('search', { Type: filter.type ?? '', Host: filter.host ?? '', Sort: sort }, { origin: 'http', role: 'viewer' })) as { Entries: SearchEntry[]; Undecodable: string[]; RttMs: number[] };
        return { entries: r.Entries.map((e, i) => ({ ...e, rtt_ms: r.RttMs[i]! < 0 ? null : r.RttMs[i]! / 1000 })), undecodable: r.Undecodable };
      },
    }),
    ...nodeRoutes(d.commands, jobs),
  );
  return { auth, router, jobs, handlers: [router.handler, guiHandler()] };
}
