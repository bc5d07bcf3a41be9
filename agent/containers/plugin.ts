// Daemon plug-in: wires the LXC driver, port forwarder, state store, service
// checker and manager together, registers the lxc.* commands and runs
// the reconciler loop. stop() ends the loop and withdraws the services, but
// never stops containers: restarting the agent leaves them running.
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import type { CommandRegistry, Unavailable } from '../commands/registry.ts';
import type { DaemonContext, DaemonPlugin, PluginHandle } from '../plugin.ts';
import type { ServicePublisher } from '../discovery/publisher.ts';
import type { Exec } from '../system/exec.ts';
import type { Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import type { Limits } from '../config/limits.ts';
import { AgentError, errorMessage } from '../errors.ts';
import { onPath } from '../system/on-path.ts';
import { LxcDriver } from './lxc-driver.ts';
import type { ContainerDriver } from './driver.ts';
import { PortForwarder, type FirewallBackend } from './port-forward.ts';
import { ContainerManager } from './manager.ts';
import { ContainerStateStore } from './state-store.ts';
import { readBootId, bridgeExists, bridgeNeighbours, neighbourAnswers } from '../system/host.ts';
import { createContainerHealth, tcpProbe, type TcpProbe } from './container-health.ts';
import { readCgroupLayout } from '../system/cgroup.ts';
import type { BridgeNetwork } from './ipam.ts';
import type { RestartTuning } from './reconcile.ts';
import { containerCommands } from './commands.ts';
import type { ContainerEvent } from './types.ts';
import type { StateHealth } from '../state/state-health.ts';

export interface ContainersContext {
  registry: CommandRegistry;
  publisher: ServicePublisher;
  exec: Exec;
  logger: Logger;
  counters: Counters;
  limits: Limits;
  stateDir: string;
  /** The daemon's storage health (a full or read-only disk is retried, not thrown). */
  stateHealth?: StateHealth | null;
  communityIp: string;
  /** Container bridge and subnet; default lxc-net's lxcbr0, 10.0.3.0/24, gateway 10.0.3.1. */
  network?: BridgeNetwork;
  /** Where cloudy-* templates are looked up (default: /usr/share/cloudy-agent/lxc-templates and ./lxc-templates). */
  templateDirs?: string[];
  /** Reconciler period (default 5 s). */
  intervalMs?: number;
  tuning?: RestartTuning;
  firewallBackend?: FirewallBackend;
  /** nftables table of the port forwards (default cloudy_agent). */
  firewallTable?: string;
  /** Override of the LXC path (default: `lxc-config lxc.lxcpath`). */
  lxcPath?: string;
  driver?: ContainerDriver;
  probe?: TcpProbe;
  onEvent?: (e: ContainerEvent) => void;
}

export interface ContainersHandle {
  manager: ContainerManager;
  /** `stats` section: managed/running containers, published services, restarts. */
  stats(): Record<string, string>;
  /** Runs one reconciler pass now (tests, `lxc` commands that want a fresh view). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_NETWORK: BridgeNetwork = Object.freeze({ bridge: 'lxcbr0', cidr: '10.0.3.0/24', gateway: '10.0.3.1' });

export async function startContainers(ctx: ContainersContext): Promise<ContainersHandle> {
  const logger = ctx.logger.child('containers');
  const driver = ctx.driver ?? new LxcDriver({
    exec: ctx.exec,
    logger: logger.child('lxc'),
    maxOutputBytes: ctx.limits.execOutputBytes,
    templateDirs: ctx.templateDirs ?? ['/usr/share/cloudy-agent/lxc-templates', `${process.cwd()}/lxc-templates`],
    ...(ctx.lxcPath ? { lxcPath: ctx.lxcPath } : {}),
  });
  const network = ctx.network ?? DEFAULT_NETWORK;
  const forwarder = new PortForwarder({
    exec: ctx.exec, logger: logger.child('firewall'), hairpinCidr: network.cidr,
    ...(ctx.firewallTable ? { table: ctx.firewallTable } : {}),
    ...(ctx.firewallBackend ? { backend: ctx.firewallBackend } : {}),
  });
  const manager = new ContainerManager({
    driver,
    forwarder,
    publisher: ctx.publisher,
    store: new ContainerStateStore(ctx.stateDir, ctx.stateHealth ?? null),
    checker: createContainerHealth(driver, ctx.probe ?? tcpProbe),
    logger,
    counters: ctx.counters,
    limits: ctx.limits,
    network,
    communityIp: ctx.communityIp,
    cgroupLayout: await readCgroupLayout(),
    hostCpus: availableParallelism(),
    bootId: await readBootId(),
    bridgeExists,
    bridgeNeighbours,
    probeAddress: neighbourAnswers,
    ...(ctx.tuning ? { tuning: ctx.tuning } : {}),
    ...(ctx.onEvent ? { onEvent: ctx.onEvent } : {}),
  });
  await manager.init();
  for (const c of containerCommands(() => manager)) ctx.registry.register(c);

  // The loop itself: one pass at a time, then wait the interval.
  const interval = ctx.intervalMs ?? 5_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const pass = async (): Promise<void> => {
    try {
      await manager.tick();
    } catch (e) {
      ctx.counters.inc('containers.reconcile_errors');
      logger.warn(`reconcile pass failed: ${errorMessage(e)}`);
    }
  };
  const loop = (): void => {
    if (stopped) return;
    running = pass().finally(() => {
      if (!stopped) timer = setTimeout(loop, interval);
    });
  };
  loop();

  return {
    manager,
    stats: () => ({
      managed: String(manager.managedCount()),
      running: String(manager.runningCount()),
      published: String(manager.publishedCount()),
      restarts: String(ctx.counters.get('containers.restarts')),
      reconcile_errors: String(ctx.counters.get('containers.reconcile_errors')),
    }),
    tick: () => pass(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await manager.withdrawAll();
    },
  };
}

export interface ContainersPluginOptions
  extends Partial<Omit<ContainersContext, 'registry' | 'exec' | 'logger' | 'counters' | 'limits' | 'publisher' | 'communityIp' | 'stateDir' | 'stateHealth'>> {
  /** -containers (default true). */
  enabled?: boolean;
  /** Whether LXC is installed (default: lxc-ls on PATH). */
  lxcInstalled?: boolean;
  /** The discovery publisher, from the discovery plug-in started before this one (null: not started). */
  publisher: () => ServicePublisher | null;
  /** Default: <-data-dir>/containers; no -data-dir = container management off. */
  stateDir?: string;
  /** Default: the host's community IPv4 (ctx.host). */
  communityIp?: string;
  /** Receives the started containers (other plug-ins ask them what runs). */
  onStarted?: (h: ContainersHandle) => void;
}

/**
 * Container management as a daemon plug-in (agent/plugin.ts). When it cannot
 * run here (switched off, no LXC, no data dir, no community IPv4) the lxc.*
 * commands are still declared, and answer with the reason and the fix.
 */
export function containersPlugin(o: ContainersPluginOptions): DaemonPlugin {
  return {
    name: 'containers',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const log = ctx.logger.child('containers');
      const off = (why: Unavailable): PluginHandle => {
        log.info(`container management off: ${why.reason}`);
        ctx.registry.registerUnavailable(containerCommands(() => { throw new AgentError('E_STATE', 'container management is off'); }), why);
        return { stop: async () => {} };
      };
      if (o.enabled === false) return off({ reason: 'container management is off (-containers=false)', fix: 'restart the agent without -containers=false' });
      if (!(o.lxcInstalled ?? onPath('lxc-ls'))) return off({ reason: 'LXC is not installed (lxc-ls not found)', fix: 'install the Debian package "lxc", then restart the agent' });
      const stateDir = o.stateDir ?? (ctx.config.dataDir !== '' ? join(ctx.config.dataDir, 'containers') : null);
      if (stateDir === null) {
        return off({
          reason: 'no -data-dir (an explicit -node persists nothing, so containers are not managed)',
          fix: 'restart the agent with -data-dir DIR (e.g. -data-dir /var/lib/cloudy-agent)',
        });
      }
      const publisher = o.publisher();
      if (publisher === null) throw new AgentError('E_STATE', 'containers need discovery started first');
      const communityIp = o.communityIp ?? ctx.host.communityIp;
      if (communityIp === null) {
        return off({ reason: 'no community IPv4 to forward service ports on', fix: 'restart the agent with -advertise IP or -interface IFACE' });
      }
      const { enabled: _e, lxcInstalled: _l, publisher: _p, onStarted, ...rest } = o;
      const h = await startContainers({
        ...rest, registry: ctx.registry, exec: ctx.exec, logger: ctx.logger, counters: ctx.counters, limits: ctx.limits,
        publisher, stateDir, stateHealth: ctx.stateHealth, communityIp,
      });
      onStarted?.(h);
      return { stop: () => h.stop(), stats: () => h.stats() };
    },
  };
}
