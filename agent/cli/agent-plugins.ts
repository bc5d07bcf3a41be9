// The daemon plug-ins of the real `agent` command: discovery (Cloudy services
// tag, search, checks, federation stats) and, where LXC is installed and the
// agent has a data dir, container management whose services are announced
// through discovery's publisher.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { AgentConfig } from '../config/agent-config.ts';
import type { DaemonContext, DaemonPlugin, PluginHandle } from '../daemon.ts';
import { discoveryPlugin } from '../discovery/plugin.ts';
import type { Discovery } from '../discovery/index.ts';
import { startContainers, type ContainersHandle } from '../containers/plugin.ts';
import type { ContainerManager } from '../containers/manager.ts';
import { guifiPlugin } from '../guifi/plugin.ts';
import type { GuifiRegistrar } from '../guifi/registrar.ts';
import { containerCommands } from '../containers/commands.ts';
import type { Unavailable } from '../commands/registry.ts';
import { communityIpOf } from '../config/host-defaults.ts';
import { readNetFacts } from '../system/net-info.ts';
import { AgentError } from '../errors.ts';
import { MemoryGovernor } from '../system/memory-governor.ts';
import { apiPlugin } from '../api/plugin.ts';
import { MdnsDiscovery } from '../gossip/mdns/mdns-discovery.ts';
import { hostname } from 'node:os';

/** `-discover NAME`: serf's mDNS peer discovery (announce ourselves, join who answers). */
export function mdnsPlugin(cfg: AgentConfig): DaemonPlugin {
  return {
    name: 'mdns',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
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
import { remotePlugin } from '../remote/plugin.ts';
import type { CliCommand } from './command.ts';

/** Edge mode: gives memory back after bursts (see system/memory-governor.ts). One per process. */
export function memoryGovernorPlugin(): DaemonPlugin {
  return {
    name: 'memory-governor',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const g = new MemoryGovernor({
        checkIntervalMs: ctx.limits.memoryCheckIntervalMs, slackBytes: ctx.limits.memoryReclaimSlackBytes,
        minGapMs: ctx.limits.memoryReclaimMinGapMs, counters: ctx.counters, logger: ctx.logger.child('memory'),
      });
      g.start();
      return { stop: async () => g.stop() };
    },
  };
}

export function onPath(cmd: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (dir === '') return false;
    try { accessSync(join(dir, cmd), constants.X_OK); return true; } catch { return false; }
  });
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
  const plugins: DaemonPlugin[] = [
    discoveryPlugin({
      ...(cfg.dataDir !== '' ? { stateDir: cfg.dataDir } : {}),
      ...(cfg.communityInterface !== '' ? { interface: cfg.communityInterface } : {}),
      onStarted: (d) => { discovery = d; },
    }),
  ];
  plugins.push({
    name: 'containers',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const log = ctx.logger.child('containers');
      // Off: the lxc.* commands still exist and answer with the reason and the fix.
      const off = (why: Unavailable): PluginHandle => {
        log.info(`container management off: ${why.reason}`);
        ctx.registry.registerUnavailable(containerCommands(() => { throw new AgentError('E_STATE', 'container management is off'); }), why);
        return { stop: async () => {} };
      };
      if (!cfg.containers) return off({ reason: 'container management is off (-containers=false)', fix: 'restart the agent without -containers=false' });
      if (!lxcInstalled) return off({ reason: 'LXC is not installed (lxc-ls not found)', fix: 'install the Debian package "lxc", then restart the agent' });
      if (cfg.dataDir === '') {
        return off({
          reason: 'no -data-dir (an explicit -node persists nothing, so containers are not managed)',
          fix: 'restart the agent with -data-dir DIR (e.g. -data-dir /var/lib/cloudy-agent)',
        });
      }
      if (discovery === null) throw new AgentError('E_STATE', 'containers need discovery started first');
      const communityIp = communityIpOf(cfg, await readNetFacts());
      if (communityIp === null) {
        return off({
          reason: 'no community IPv4 to forward service ports on',
          fix: 'restart the agent with -advertise IP or -interface IFACE',
        });
      }
      const h = await startContainers({
        registry: ctx.registry, exec: ctx.exec, logger: ctx.logger, counters: ctx.counters, limits: ctx.limits,
        publisher: discovery.publisher, stateDir: join(cfg.dataDir, 'containers'), communityIp,
        onEvent: (e) => { if (e.kind === 'started' || e.kind === 'service-published') guifi?.servicesChanged(); },
      });
      containers = h;
      return { stop: () => h.stop(), stats: () => h.stats() };
    },
  });
  plugins.push(guifiPlugin({
    config: cfg,
    localServiceTypes: async () => (containers ? await runningServiceTypes(containers.manager) : []),
    onStarted: (r) => { guifi = r; },
  }));
  if (cfg.discover !== '') plugins.push(mdnsPlugin(cfg));
  plugins.push(remotePlugin({ dataDir: cfg.dataDir, trustSpecs: cfg.trustedOperators, verbs }));
  // Last, so the registry holds every command it serves (on in full mode, or with -http).
  plugins.push(apiPlugin());
  if (cfg.mode === 'edge') plugins.push(memoryGovernorPlugin());
  return plugins;
}
