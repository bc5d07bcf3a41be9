// Discovery as a daemon plug-in (agent/daemon.ts DaemonPlugin): derives what
// startDiscovery needs from the agent config and the host's network facts.
//   gossip port  = -advertise port, else -bind port (Cloudy: 5000)
//   community IP = -advertise IP, else a specific -bind IP, else the configured
//                  interface / default-route interface / first 10/8 address
//   state dir    = option, else the directory of -snapshot, else memory only
import { dirname } from 'node:path';
import type { DaemonContext, DaemonPlugin, PluginHandle } from '../daemon.ts';
import { parseHostPort } from '../rpc/address.ts';
import { readNetFacts } from '../system/net-info.ts';
import { chooseCommunityIp } from '../state/identity.ts';
import { startDiscovery, type Discovery } from './index.ts';

export interface DiscoveryPluginOptions {
  stateDir?: string;
  /** Interface whose IPv4 is announced (Cloudy's SERF_INTERFACE / PRIMARYINTERFACE). */
  interface?: string;
  /** `e` of every record (getinconf NETWORK_NAME); default "guifi". */
  microcloud?: string;
  announceSelf?: boolean;
  federationIntervalMs?: number;
  /** Receives the started discovery (the containers plug-in takes its publisher from here). */
  onStarted?: (d: Discovery) => void;
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);

export function discoveryPlugin(opts: DiscoveryPluginOptions = {}): DaemonPlugin {
  return {
    name: 'discovery',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const bind = parseHostPort(ctx.config.bind, 5000, '-bind');
      const adv = ctx.config.advertise !== '' ? parseHostPort(ctx.config.advertise, bind.port, '-advertise') : null;
      const facts = await readNetFacts();
      let communityIp: string;
      if (adv && !UNSPECIFIED.has(adv.host)) communityIp = adv.host;
      else if (!UNSPECIFIED.has(bind.host) && !opts.interface) communityIp = bind.host;
      else communityIp = chooseCommunityIp(facts, opts.interface ? { interface: opts.interface } : {}).ip;
      const stateDir = opts.stateDir ?? (ctx.config.snapshotPath !== '' ? dirname(ctx.config.snapshotPath) : null);
      if (stateDir === null) ctx.logger.child('discovery').warn('no state dir (-snapshot or plug-in option): published services will not survive a restart');
      const d = await startDiscovery({
        serf: ctx.serf, registry: ctx.registry, exec: ctx.exec, logger: ctx.logger, counters: ctx.counters, limits: ctx.limits,
        stateDir, gossipPort: adv?.port ?? bind.port, communityIp, hostname: facts.hostname,
        ...(opts.microcloud !== undefined ? { microcloud: opts.microcloud } : {}),
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
          };
        },
      };
    },
  };
}
