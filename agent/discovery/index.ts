// Discovery plug-in of the daemon: Cloudy service announcement (the `services`
// tag), search, liveness checks and federation stats, wired to the serf layer
// and the RPC registry. The daemon calls startDiscovery() once serf is up.
import type { Serf } from '../gossip/serf/types.ts';
import type { CommandRegistry } from '../commands/registry.ts';
import type { Exec } from '../system/exec.ts';
import type { Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import type { Limits } from '../config/limits.ts';
import type { ServicePublisher } from './publisher.ts';
import { ServiceAnnouncer } from './services.ts';
import { FileServiceStore, MemoryServiceStore, type ServiceStore } from './store.ts';
import { ServiceChecker, type CheckClock } from './checks.ts';
import { createProber, type Prober } from './probes.ts';
import { FederationStats } from './federation.ts';
import { searchServices, ServicesTagDecoder, type SearchFilter, type SearchResult } from './search.ts';
import { discoveryCommands } from './commands.ts';
import { rttEstimator } from './rtt.ts';
import { FederationHistoryFile } from './federation-store.ts';
import type { StateHealth } from '../state/state-health.ts';

/** How Cloudy's serf.service announces the agent itself (CLOUDY-FACTS §1.5, §2). */
export const SERF_SELF_SERVICE = Object.freeze({ type: 'serf', description: 'SERF instance running', owner: 'agent' });

/** One federation sample every 5 minutes: limits.federationHistory (2016) covers a week. */
export const DEFAULT_FEDERATION_INTERVAL_MS = 5 * 60_000;

export interface DiscoveryContext {
  serf: Serf;
  registry: CommandRegistry;
  exec: Exec;
  logger: Logger;
  counters: Counters;
  limits: Limits;
  /** Where services.json lives (null: keep the list in memory only). */
  stateDir: string | null;
  /** The daemon's storage health (a full or read-only disk is retried, not thrown). */
  stateHealth?: StateHealth | null;
  /** Port announced by the `serf` self-service (the gossip bind port, 5000 on Cloudy). */
  gossipPort: number;
  /** IPv4 announced in `i`. */
  communityIp: string;
  /** `uname -n` (records carry `<hostname>.guifi.local`). */
  hostname: string;
  /** `e` of every record (default "guifi", as on Cloudy ISO installs). */
  microcloud?: string;
  /** Announce the agent as type `serf` like Cloudy nodes (default true). */
  announceSelf?: boolean;
  federationIntervalMs?: number;
  /** Tests: probe and timer replacements. */
  prober?: Prober;
  checkClock?: CheckClock;
  store?: ServiceStore;
}

export interface Discovery {
  publisher: ServicePublisher;
  announcer: ServiceAnnouncer;
  checker: ServiceChecker;
  federation: FederationStats;
  search(filter?: SearchFilter): SearchResult;
  stop(): Promise<void>;
}

export async function startDiscovery(ctx: DiscoveryContext): Promise<Discovery> {
  const logger = ctx.logger.child('discovery');
  const store = ctx.store ?? (ctx.stateDir ? new FileServiceStore(ctx.stateDir, ctx.stateHealth ?? null) : new MemoryServiceStore());
  const announcer = new ServiceAnnouncer({
    serf: ctx.serf,
    store,
    facts: { hostname: ctx.hostname, communityIp: ctx.communityIp, microcloud: ctx.microcloud ?? 'guifi' },
    logger,
    counters: ctx.counters,
    maxServices: ctx.limits.publishedServices,
    maxDecodedBytes: ctx.limits.servicesTagMaxDecoded,
  });
  // One tag update: the saved services, plus the agent's own `serf` entry
  // (replacing one a previous run announced, maybe on another gossip port).
  await announcer.start({
    owner: SERF_SELF_SERVICE.owner,
    services: (ctx.announceSelf ?? true) ? [{ type: SERF_SELF_SERVICE.type, description: SERF_SELF_SERVICE.description, port: ctx.gossipPort }] : [],
  });

  const decoder = new ServicesTagDecoder({
    counters: ctx.counters,
    maxDecodedBytes: ctx.limits.servicesTagMaxDecoded,
    cacheEntries: ctx.limits.servicesDecodeCache,
  });
  const checker = new ServiceChecker({
    announcer,
    prober: ctx.prober ?? createProber(ctx.exec),
    logger: logger.child('checks'),
    counters: ctx.counters,
    concurrency: ctx.limits.serviceCheckConcurrency,
    ...(ctx.checkClock ? { clock: ctx.checkClock } : {}),
  });
  checker.start();
  const federationIntervalMs = ctx.federationIntervalMs ?? DEFAULT_FEDERATION_INTERVAL_MS;
  const federation = new FederationStats({
    serf: ctx.serf,
    decoder,
    counters: ctx.counters,
    logger: logger.child('federation'),
    historySize: ctx.limits.federationHistory,
    intervalMs: federationIntervalMs,
  });
  const historyFile = ctx.stateDir ? new FederationHistoryFile(ctx.stateDir, logger.child('federation'), ctx.counters, ctx.stateHealth ?? null) : null;
  if (historyFile) federation.restore(await historyFile.load());
  federation.start();
  // The history is what a week's plot needs: keep it across restarts, written
  // once an hour (flash-friendly) and at stop.
  const saveEvery = Math.max(1, Math.round(3_600_000 / federationIntervalMs));
  let sinceSave = 0;
  const unsubscribeSample = federation.onSample(() => {
    if (historyFile && ++sinceSave >= saveEvery) {
      sinceSave = 0;
      void historyFile.save(federation.samples());
    }
  });

  const search = (filter: SearchFilter = {}): SearchResult => {
    const members = ctx.serf.members();
    const self = ctx.serf.localMember();
    // avahi-ps lists the local node too; make sure it is there and first.
    const ordered = [self, ...members.filter((m) => m.name !== self.name)];
    return searchServices(ordered, decoder, filter);
  };
  for (const c of discoveryCommands({
    announcer, checker, federation, federationIntervalMs, counters: ctx.counters, search,
    rtt: () => rttEstimator((n) => ctx.serf.getCoordinate(n), ctx.serf.localMember().name),
  })) ctx.registry.register(c);
  logger.info(`discovery started: ${announcer.list().length} services published`);

  return {
    publisher: announcer,
    announcer,
    checker,
    federation,
    search,
    async stop() {
      federation.stop();
      unsubscribeSample();
      if (historyFile) await historyFile.save(federation.samples());
      await checker.stop();
      announcer.close();
      await announcer.idle();
    },
  };
}
