// The HTTP server as a daemon plug-in: on in full mode at 0.0.0.0:7000
// (Cloudy's GUI port), off in edge mode unless -http is given (config key
// `http`). A full node also keeps the federation's tiered history here
// (discovery/history-*.ts), sampled every limits.historySampleMs and saved
// under the data dir. Start it after discovery and containers, so their
// commands are in the registry.
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { DaemonContext, DaemonPlugin, PluginHandle } from '../plugin.ts';
import { httpAddrOf } from '../config/agent-config.ts';
import { parseHostPort } from '../config/address.ts';
import { AtomicFile } from '../state/atomic-file.ts';
import { FederationStats } from '../discovery/federation.ts';
import { ServicesTagDecoder } from '../discovery/search.ts';
import { TieredHistory } from '../discovery/history-tiers.ts';
import { HistoryRecorder, historyTierSpecs } from '../discovery/history-recorder.ts';
import { HttpServer } from './http-server.ts';
import { createApi, type Api } from './index.ts';
import { announceFullNode } from './proxy.ts';
import type { Clock } from '../gossip/clock.ts';

export interface ApiPluginOptions {
  /** Called once the server listens (tests read the port chosen for :0). */
  onListening?: (addr: AddressInfo, api: Api) => void;
  /** Stats sections of the other plug-ins, for /api/v1/info. */
  pluginStats?: () => Record<string, Record<string, string>>;
  /** Time of sessions, jobs and the login slow-down (default: the system's); tests pass one they advance. */
  clock?: Pick<Clock, 'now' | 'sleep'>;
}

export function apiPlugin(opts: ApiPluginOptions = {}): DaemonPlugin {
  return {
    name: 'api',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const log = ctx.logger.child('api');
      const c = ctx.config;
      const addr = httpAddrOf(c);
      let recorder: HistoryRecorder | null = null;
      if (c.mode === 'full') {
        const decoder = new ServicesTagDecoder({ counters: ctx.counters, maxDecodedBytes: ctx.limits.servicesTagMaxDecoded, cacheEntries: ctx.limits.servicesDecodeCache });
        const stats = new FederationStats({ serf: ctx.serf, decoder, counters: ctx.counters, logger: log, historySize: 0, intervalMs: ctx.limits.historySampleMs });
        recorder = new HistoryRecorder({
          history: new TieredHistory(historyTierSpecs(ctx.limits)),
          file: c.dataDir !== '' ? new AtomicFile(join(c.dataDir, 'discovery', 'federation-history.bin'), ctx.stateHealth) : null,
          sample: () => stats.current(),
          sampleMs: ctx.limits.historySampleMs, saveMs: ctx.limits.historySaveMs,
          logger: log.child('history'), counters: ctx.counters,
        });
        await recorder.restore();
        recorder.start();
      }
      if (addr === null) {
        log.info(`HTTP server off (${c.mode} mode; -http ADDR turns it on)`);
        return { stop: async () => { await recorder?.stop(); } };
      }
      const hp = parseHostPort(addr, 7000, '-http');
      const api = createApi({
        serf: ctx.serf, commands: ctx.registry, counters: ctx.counters, limits: ctx.limits, logger: log, mode: c.mode,
        dataDir: c.dataDir, stateHealth: ctx.stateHealth, guest: c.httpGuest, history: recorder?.history ?? null,
        ...(opts.pluginStats ? { pluginStats: opts.pluginStats } : {}),
        ...(opts.clock ? { now: () => opts.clock!.now(), sleep: (ms: number) => opts.clock!.sleep(ms) } : {}),
      });
      if (c.dataDir !== '') {
        await api.auth.passwords.checkOnStart((m) => log.warn(m));
        await api.auth.tokens.checkOnStart((m) => log.warn(m));
      }
      if (c.dataDir === '') log.warn('no -data-dir: no admin password or API token can be set, so nobody can log in');
      else if (!(await api.auth.passwords.isSet())) log.warn('no admin password yet: run `cloudy-agent passwd` to log in to the web GUI');
      const server = new HttpServer({ handlers: api.handlers, limits: ctx.limits, logger: log, counters: ctx.counters });
      const bound = await server.listen(hp.host, hp.port);
      log.info(`web GUI and API on http://${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}/${c.httpGuest ? ' (guest view on)' : ''}`);
      // Edge nodes' management proxies find full nodes by these tags (agent/api/proxy.ts).
      if (c.mode === 'full') await announceFullNode(ctx.serf, bound.port);
      opts.onListening?.(bound, api);
      return {
        async stop() { await server.close(); await recorder?.stop(); },
        stats: () => ({ http: `${bound.address}:${bound.port}`, sessions: String(api.auth.sessions.size()), history_bytes: String(recorder?.history.byteSize() ?? 0) }),
      };
    },
  };
}
