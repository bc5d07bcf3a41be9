// Discovery as a daemon plug-in (agent/plugin.ts): what startDiscovery needs,
// from the host facts the agent decided once (config/host-defaults.ts):
//   gossip port  = ctx.host.gossipPort (-advertise port, else -bind port; Cloudy: 5000)
//   community IP = ctx.host.communityIp (-advertise IP, else a specific -bind IP,
//                  else the -interface / default-route interface / first 10/8 address)
//   state dir    = option, else the directory of -snapshot, else memory only
import { dirname } from 'node:path';
import type { DaemonContext, DaemonPlugin, PluginHandle } from '../plugin.ts';
import { AgentError } from '../errors.ts';
import { startDiscovery, type Discovery } from './index.ts';
import { resolveMicrocloud } from './getinconf.ts';

export interface DiscoveryPluginOptions {
  stateDir?: string;
  /** `e` of every record (-microcloud); unset: read getinconf's file as avahi-ps does (discovery/getinconf.ts). */
  microcloud?: string | null;
  /** getinconf's client config (default /etc/getinconf-client.conf). */
  getinconfFile?: string;
  announceSelf?: boolean;
  federationIntervalMs?: number;
  /** Receives the started discovery (the containers plug-in takes its publisher from here). */
  onStarted?: (d: Discovery) => void;
}

export function discoveryPlugin(opts: DiscoveryPluginOptions = {}): DaemonPlugin {
  return {
    name: 'discovery',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const { communityIp, gossipPort, hostname } = ctx.host;
      if (communityIp === null) {
        throw new AgentError('E_UNAVAILABLE', 'no community IPv4 found (no default route, no 10.0.0.0/8 address); set -advertise or -interface');
      }
      const stateDir = opts.stateDir ?? (ctx.config.snapshotPath !== '' ? dirname(ctx.config.snapshotPath) : null);
      if (stateDir === null) ctx.logger.child('discovery').warn('no state dir (-snapshot or plug-in option): published services will not survive a restart');
      const microcloud = await resolveMicrocloud({
        configured: opts.microcloud ?? null,
        ...(opts.getinconfFile ? { file: opts.getinconfFile } : {}),
      });
      ctx.logger.child('discovery').info(`microcloud (e) ${JSON.stringify(microcloud.name)} from ${microcloud.source}`);
      const d = await startDiscovery({
        serf: ctx.serf, registry: ctx.registry, exec: ctx.exec, logger: ctx.logger, counters: ctx.counters, limits: ctx.limits,
        stateDir, stateHealth: ctx.stateHealth, gossipPort, communityIp, hostname,
        microcloud: microcloud.name,
        ...(opts.announceSelf !== undefined ? { announceSelf: opts.announceSelf } : {}),
        ...(opts.federationIntervalMs !== undefined ? { federationIntervalMs: opts.federationIntervalMs } : {}),
      });
      opts.onStarted?.(d);
      return {
        stop: () => d.stop(),
        stats() {
          const list = d.announcer.list();
          const cur = d.federation.current();
          return {
            published: String(list.length),
            withdrawn: String(list.filter((e) => e.withdrawn).length),
            cloudy_instances: String(cur.cloudyInstances),
            federation_services: String(cur.services),
            undecodable_tags: String(cur.undecodable),
            microcloud: microcloud.name,
            microcloud_source: microcloud.source,
          };
        },
      };
    },
  };
}
