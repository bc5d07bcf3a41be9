// Real daemons in this process, each with the real agent's plug-in list
// (agentPlugins with LXC "not installed": discovery, the lxc.* commands
// declared unavailable, guifi, remote, and the API), as the HTTP API and the
// command-registry tests start them.
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig, type AgentConfig } from '../../agent/config/agent-config.ts';
import { Logger } from '../../agent/obs/log.ts';
import { agentPlugins } from '../../agent/plugins.ts';
import { apiPlugin, type ApiPluginOptions } from '../../agent/api/plugin.ts';
import type { Api } from '../../agent/api/index.ts';

/** An agent on `host` with ports chosen by the OS, serf's LAN profile, containers off. */
export function agentConfig(name: string, over: Partial<AgentConfig>, host = '127.0.0.1'): AgentConfig {
  return { ...defaultAgentConfig(), nodeName: name, bind: `${host}:0`, rpcAddr: `${host}:0`, profile: 'lan', containers: false, ...over };
}

export interface ApiHooks {
  /** Called once the API listens, with the port it got and the API itself. */
  onListening?: (port: number, api: Api) => void;
  clock?: ApiPluginOptions['clock'];
}

/** The daemons a test file started, stopped together (newest first). */
export class InProcessAgents {
  readonly daemons: DaemonHandle[] = [];

  async start(c: AgentConfig, hooks: ApiHooks = {}): Promise<DaemonHandle> {
    const api = hooks.onListening || hooks.clock
      ? apiPlugin({ ...(hooks.onListening ? { onListening: (a, x) => hooks.onListening!(a.port, x) } : {}), ...(hooks.clock ? { clock: hooks.clock } : {}) })
      : null;
    const plugins = agentPlugins(c, false).map((p) => (api && typeof p !== 'function' && p.name === 'api' ? api : p));
    const d = await startDaemon({ ...c, plugins }, { logger: Logger.silent() });
    this.daemons.push(d);
    return d;
  }

  async stopAll(): Promise<void> {
    for (const d of this.daemons.splice(0).reverse()) { try { await d.stop(); } catch { /* already stopping */ } }
  }
}
