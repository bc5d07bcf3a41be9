// Daemon plug-in: the headless registrar (registrar.ts) started from the
// agent's configuration (`guifi` key / -guifi-* flags, which the first-boot
// seed fills), its state in <data dir>/guifi.conf like the CLI's, and a
// `guifi` section in the agent's stats. start() returns at once: registration
// runs in the background and never holds up gossip or the other plug-ins.
import type { AgentConfig } from '../config/agent-config.ts';
import { defaultGuifiSettings, type GuifiSettings } from '../config/guifi-settings.ts';
import type { DaemonContext, DaemonPlugin, PluginHandle } from '../plugin.ts';
import { parseHostPort } from '../rpc/address.ts';
import { GuifiStateStore } from './state.ts';
import { GuifiRegistrar } from './registrar.ts';
import { communityMac } from './host.ts';
import type { HttpGet } from './http.ts';

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
      if (cfg.dataDir === '') {
        if (cfg.guifi.nodeId) log.warn('guifi.net registration off: no -data-dir to keep its state in');
        return { stop: () => {} };
      }
      const settings = guifiSettingsOf(cfg);
      const advertiseHost = cfg.advertise !== '' ? parseHostPort(cfg.advertise, 5000, '-advertise').host : '';
      const registrar = new GuifiRegistrar({
        settings,
        store: GuifiStateStore.inDir(cfg.dataDir),
        limits: ctx.limits,
        logger: ctx.logger,
        mac: o.mac ?? (() => communityMac({
          ...(cfg.communityInterface ? { iface: cfg.communityInterface } : {}), ...(advertiseHost ? { ip: advertiseHost } : {}),
        })),
        ...(o.localServiceTypes ? { localServiceTypes: o.localServiceTypes } : {}),
        ...(o.http ? { http: o.http } : {}),
      });
      registrar.start();
      o.onStarted?.(registrar);
      return { stop: () => registrar.stop(), stats: () => registrar.stats() };
    },
  };
}
