// Daemon plug-in: the headless registrar (registrar.ts) started from the
// agent's configuration (`guifi` key / -guifi-* flags, which the first-boot
// seed fills), its state in <data dir>/guifi.conf like the CLI's, and a
// `guifi` section in the agent's stats, and the guifi.* commands (commands.ts)
// in the registry for the GUI, RPC and remote control. start() returns at once: registration
// runs in the background and never holds up gossip or the other plug-ins.
import type { AgentConfig } from '../config/agent-config.ts';
import { defaultGuifiSettings, type GuifiSettings } from '../config/guifi-settings.ts';
import type { DaemonContext, DaemonPlugin, PluginHandle } from '../plugin.ts';
import { GuifiStateStore } from './state.ts';
import { GuifiRegistrar } from './registrar.ts';
import { communityMac } from './host.ts';
import { normalizeMac } from './cnml.ts';
import type { HttpGet } from './http.ts';
import { guifiCommands } from './commands.ts';
import { DEFAULT_GUIFI_API } from './client.ts';
import { AgentError } from '../errors.ts';

export interface GuifiPluginOptions {
  config: AgentConfig;
  /** Cloudy service types of the running containers (from the container manager). */
  localServiceTypes?: () => Promise<string[]>;
  /** Called with the registrar once it runs (the container plug-in tells it when services start). */
  onStarted?: (r: GuifiRegistrar) => void;
  http?: HttpGet;
  /** The MAC when settings have none (default: the community interface's). */
  mac?: () => Promise<string>;
}

export function guifiSettingsOf(cfg: AgentConfig): GuifiSettings {
  return { ...defaultGuifiSettings(), ...cfg.guifi };
}

export function guifiPlugin(o: GuifiPluginOptions): DaemonPlugin {
  return {
    name: 'guifi',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const cfg = o.config;
      const log = ctx.logger.child('guifi');
      const settings = guifiSettingsOf(cfg);
      const apiUrl = settings.api || DEFAULT_GUIFI_API;
      if (cfg.dataDir === '') {
        if (cfg.guifi.nodeId) log.warn('guifi.net registration off: no -data-dir to keep its state in');
        const fail = (): never => { throw new AgentError('E_STATE', 'guifi.net registration is off'); };
        ctx.registry.registerUnavailable(guifiCommands({ apiUrl, store: GuifiStateStore.inDir('/nonexistent'), limits: ctx.limits, mac: fail }), {
          reason: 'no data dir to keep the guifi.net registration in (an explicit -node persists nothing)',
          fix: 'restart the agent with -data-dir DIR (e.g. -data-dir /var/lib/cloudy-agent)',
        });
        return { stop: () => {} };
      }
      // The community interface: the named one, else the one holding the community IPv4 the agent decided on.
      const communityIp = ctx.host.communityIp;
      const mac = o.mac ?? (() => communityMac({
        ...(cfg.communityInterface ? { iface: cfg.communityInterface } : {}), ...(communityIp ? { ip: communityIp } : {}),
      }));
      const store = GuifiStateStore.inDir(cfg.dataDir, ctx.stateHealth);
      await store.checkOnStart((m) => log.warn(m));
      const registrar = new GuifiRegistrar({
        settings, store, limits: ctx.limits, logger: ctx.logger, mac,
        ...(o.localServiceTypes ? { localServiceTypes: o.localServiceTypes } : {}),
        ...(o.http ? { http: o.http } : {}),
      });
      for (const c of guifiCommands({
        apiUrl, store, limits: ctx.limits, mac: settings.mac ? async () => normalizeMac(settings.mac) ?? settings.mac : mac,
        log: (l) => log.info(l), changed: () => registrar.poke(), ...(o.http ? { http: o.http } : {}),
      })) ctx.registry.register(c);
      registrar.start();
      o.onStarted?.(registrar);
      return { stop: () => registrar.stop(), stats: () => registrar.stats() };
    },
  };
}
