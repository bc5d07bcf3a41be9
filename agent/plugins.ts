// The real agent, assembled: the plug-ins of the `agent` command in start
// order, and how the command prepares the process and the config before the
// daemon starts. The plug-in contract is plugin.ts; daemon.ts runs the list.
//
//   discovery    Cloudy services tag, search, checks, federation stats
//   containers   LXC containers whose services discovery announces (declared
//                unavailable, with reason and fix, where it cannot run)
//   guifi        registration of the box and its services at guifi.net
//   mdns         -discover NAME: serf's mDNS peer discovery
//   seed         first boot's verdict on cloudy.conf (info section)
//   watchdog     under systemd's WatchdogSec: pings while gossip is healthy
//   remote       signed remote commands from trusted operators
//   api          the full node's HTTP API and GUI (agent/api/), last: it serves
//                every command the others registered
//   memory       edge mode only: V8 heap flags (re-exec), the heap pacer
//                (daemon.ts, from limits) and the memory governor plug-in
import { homedir, hostname } from 'node:os';
import type { AgentConfig } from './config/agent-config.ts';
import { applyHostDefaults } from './config/host-defaults.ts';
import { lazyPlugin, type DaemonContext, type DaemonPlugin, type PluginHandle } from './plugin.ts';
import type { AgentCommandOptions } from './cli/commands/agent.ts';
import type { CliCommand } from './cli-kit/command.ts';
import type { Discovery } from './discovery/index.ts';
import type { ContainersHandle } from './containers/plugin.ts';
import type { ContainerManager } from './containers/manager.ts';
import type { GuifiRegistrar } from './guifi/registrar.ts';
import { httpAddrOf } from './config/agent-config.ts';
import { parseHostPort } from './config/address.ts';
import { systemdNotifier, type Notifier } from './system/systemd-notify.ts';
import { createExec } from './system/exec.ts';
import { readSeedStatus, type SeedStatus } from './config/seed-apply.ts';
import { readNetFacts } from './system/net-info.ts';
import { onPath } from './system/on-path.ts';
import { loadIdentity } from './state/identity.ts';
import {
  PRINT_SETTINGS_ENV, applyRuntimeV8Flags, launcherSettings, mallocEnvFor, reexecWithV8Flags, runtimeV8FlagsFor, v8FlagsFor,
} from './system/v8-budget.ts';

/**
 * Under systemd with WatchdogSec: READY=1 once, then WATCHDOG=1 every third of
 * the interval, but only while the gossip layer is healthy: serf alive (not
 * left/shut down), memberlist's health score below its maximum, and this timer
 * itself on time (a blocked event loop means a stuck gossip loop too). Missing
 * pings make systemd restart the agent.
 */
export function watchdogPlugin(notifier: Notifier): DaemonPlugin {
  return {
    name: 'watchdog',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const log = ctx.logger.child('watchdog');
      void notifier.notify('READY=1');
      const every = Math.max(1000, Math.floor((notifier.watchdogMs ?? 0) / 3));
      let last = Date.now();
      let pings = 0;
      let withheld = 0;
      const timer = notifier.watchdogMs === null ? null : setInterval(() => {
        const now = Date.now();
        const late = now - last > every * 2;
        last = now;
        const stats = ctx.serf.stats();
        const healthy = ctx.serf.state() === 'alive' && Number(stats.health_score ?? 0) < 8 && !late;
        // READY=1 again with the first pings: systemd can miss a message from a short-lived sender, and a
        // Type=notify unit (the image's) would then stay "activating" until its start timeout.
        if (healthy) { pings++; if (pings <= 2) void notifier.notify('READY=1'); void notifier.notify('WATCHDOG=1'); } else { withheld++; log.warn(`gossip unhealthy (state ${ctx.serf.state()}, health ${stats.health_score}, timer late ${late}): watchdog ping withheld`); }
      }, every);
      timer?.unref();
      return {
        stop: () => { if (timer) clearInterval(timer); void notifier.notify('STOPPING=1'); },
        stats: () => ({ interval_ms: String(every), pings: String(pings), withheld: String(withheld) }),
      };
    },
  };
}

/** First boot's verdict on cloudy.conf in `info` (and so in `remote NODE status`): ok, or what was wrong. */
export function seedStatusPlugin(status: SeedStatus): DaemonPlugin {
  return {
    name: 'seed',
    async start(): Promise<PluginHandle> {
      return {
        stop: () => {},
        stats: () => ({ ok: String(status.ok), source: status.source, message: status.message.replace(/\n/g, '; '), applied_at: status.appliedAt }),
      };
    },
  };
}

/** `-discover NAME`: serf's mDNS peer discovery (announce ourselves, join who answers). */
export function mdnsPlugin(cfg: AgentConfig): DaemonPlugin {
  return {
    name: 'mdns',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const { MdnsDiscovery } = await import('./gossip/mdns/mdns-discovery.ts');
      const m = new MdnsDiscovery({
        discover: cfg.discover,
        zone: () => { const me = ctx.serf.localMember(); return { discover: cfg.discover, nodeName: me.name, hostname: hostname(), addr: me.addr, port: me.port }; },
        join: (addrs) => ctx.serf.join(addrs, !cfg.replayOnJoin),
        logger: ctx.logger,
        pollIntervalMs: ctx.limits.mdnsPollIntervalMs,
        entriesPerPoll: ctx.limits.mdnsEntriesPerPoll,
        ...(cfg.discoverInterface !== '' ? { iface: cfg.discoverInterface } : {}),
      });
      await m.start();
      return { stop: () => m.stop(), stats: () => m.stats() };
    },
  };
}

/** The `api` plug-in of an edge node without -http: no server, no history (agent/api/plugin.ts says the same). */
export function apiOffPlugin(): DaemonPlugin {
  return {
    name: 'api',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      ctx.logger.child('api').info(`HTTP server off (${ctx.config.mode} mode; -http ADDR turns it on)`);
      return { stop: () => {} };
    },
  };
}

/** Edge mode: gives memory back after bursts (see system/memory-governor.ts). One per process. */
export function memoryGovernorPlugin(): DaemonPlugin {
  return {
    name: 'memory-governor',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const { MemoryGovernor } = await import('./system/memory-governor.ts');
      const g = new MemoryGovernor({
        checkIntervalMs: ctx.limits.memoryCheckIntervalMs, slackBytes: ctx.limits.memoryReclaimSlackBytes,
        minGapMs: ctx.limits.memoryReclaimMinGapMs, settleAfterMs: ctx.limits.memorySettleReclaimAfterMs,
        refreshIntervalMs: ctx.limits.memoryRefreshReclaimIntervalMs, counters: ctx.counters, logger: ctx.logger.child('memory'),
      });
      g.start();
      return { stop: async () => g.stop() };
    },
  };
}

/** Cloudy service types of the running managed containers (what guifi.net may be told about). */
export async function runningServiceTypes(m: Pick<ContainerManager, 'list'>): Promise<string[]> {
  return (await m.list()).filter((v) => v.managed && v.state === 'RUNNING' && v.service !== null).map((v) => v.service!.type);
}

export function agentPlugins(cfg: AgentConfig, lxcInstalled = onPath('lxc-ls'), verbs: () => Readonly<Record<string, CliCommand>> = () => ({})): DaemonPlugin[] {
  let discovery: Discovery | null = null;
  // Containers tell the guifi registrar when services start; it asks them which run.
  let containers: ContainersHandle | null = null;
  let guifi: GuifiRegistrar | null = null;
  // Each plug-in's module is evaluated when it starts, after the join is sent
  // (lazyPlugin): the start-up path holds only gossip and RPC (issue 17).
  const plugins: DaemonPlugin[] = [
    lazyPlugin('discovery', async () => (await import('./discovery/plugin.ts')).discoveryPlugin({
      ...(cfg.dataDir !== '' ? { stateDir: cfg.dataDir } : {}),
      microcloud: cfg.microcloud,
      ...(cfg.getinconfFile !== '' ? { getinconfFile: cfg.getinconfFile } : {}),
      onStarted: (d) => { discovery = d; },
    })),
    lazyPlugin('containers', async () => (await import('./containers/plugin.ts')).containersPlugin({
      enabled: cfg.containers, lxcInstalled, publisher: () => discovery?.publisher ?? null,
      ...(cfg.lxc.bridge && cfg.lxc.cidr && cfg.lxc.gateway ? { network: { bridge: cfg.lxc.bridge, cidr: cfg.lxc.cidr, gateway: cfg.lxc.gateway } } : {}),
      ...(cfg.lxc.path ? { lxcPath: cfg.lxc.path } : {}),
      ...(cfg.lxc.nftTable ? { firewallTable: cfg.lxc.nftTable } : {}),
      onEvent: (e) => { if (e.kind === 'started' || e.kind === 'service-published') guifi?.servicesChanged(); },
      onStarted: (h) => { containers = h; },
    })),
    lazyPlugin('guifi', async () => (await import('./guifi/plugin.ts')).guifiPlugin({
      config: cfg,
      localServiceTypes: async () => (containers ? await runningServiceTypes(containers.manager) : []),
      onStarted: (r) => { guifi = r; },
    })),
  ];
  if (cfg.discover !== '') plugins.push(mdnsPlugin(cfg));
  const seed = readSeedStatus('/');
  if (seed) plugins.push(seedStatusPlugin(seed));
  const notifier = systemdNotifier(createExec(), process.env);
  if (notifier) plugins.push(watchdogPlugin(notifier));
  plugins.push(lazyPlugin('remote', async () => (await import('./remote/plugin.ts')).remotePlugin({ dataDir: cfg.dataDir, trustSpecs: cfg.trustedOperators, verbs })));
  // Last, so the registry holds every command it serves (on in full mode, or with -http).
  // An edge node with -http serves no GUI: its port is the management proxy to the nearest full node.
  const http = httpAddrOf(cfg);
  // A box whose first-boot seed was malformed says so on the page its owner opens first.
  const notices = (): string[] => (seed && !seed.ok ? [seed.message] : []);
  if (cfg.mode === 'edge' && http !== null) {
    const addr = parseHostPort(http, 7000, '-http');
    plugins.push(lazyPlugin('proxy', async () => (await import('./api/proxy.ts')).proxyPlugin(addr, notices)));
  } else if (http === null && cfg.mode !== 'full') {
    // Edge mode without -http: the API plug-in would only say it is off (a full node's
    // history recorder is the other thing it runs), so its module graph is not loaded.
    plugins.push(apiOffPlugin());
  } else plugins.push(lazyPlugin('api', async () => (await import('./api/plugin.ts')).apiPlugin()));
  if (cfg.mode === 'edge') plugins.push(memoryGovernorPlugin());
  return plugins;
}

/**
 * The `agent` command of the binary: V8 heap flags for the mode (may re-exec),
 * host defaults and host facts from one read of the interfaces (data dir,
 * advertise, Cloudy node name, community IPv4), then agentPlugins. `verbs`:
 * the CLI's commands by name (remote control runs them).
 */
export function realAgent(verbs: () => Readonly<Record<string, CliCommand>>): AgentCommandOptions {
  return {
    reexec: (cfg) => {
      // A launcher asking which V8 flags to start node with (see v8-budget.ts).
      if (process.env[PRINT_SETTINGS_ENV] === '1') {
        process.stdout.write(`${launcherSettings(cfg)}\n`);
        process.exit(0);
      }
      reexecWithV8Flags(v8FlagsFor(cfg), process, mallocEnvFor(cfg));
      applyRuntimeV8Flags(runtimeV8FlagsFor(cfg));
    },
    prepare: async (cfg) => applyHostDefaults(cfg, { net: await readNetFacts(), isRoot: process.getuid?.() === 0, home: homedir() }, loadIdentity),
    plugins: (cfg) => agentPlugins(cfg, undefined, verbs),
  };
}
