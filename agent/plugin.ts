// The plug-in contract of the agent: what a domain module (discovery,
// containers, remote control, the HTTP API, guifi registration...) gets from
// the daemon and gives back. daemon.ts starts the plug-ins after the serf node
// and the RPC server, in list order, and stops them in reverse; plugins.ts is
// the real agent's list.
import type { AgentConfig, HostInfo } from './config/agent-config.ts';
import type { Limits } from './config/limits.ts';
import type { Logger } from './obs/log.ts';
import type { Counters } from './obs/counters.ts';
import type { Exec } from './system/exec.ts';
import type { Serf } from './gossip/serf/types.ts';
import type { CommandRegistry } from './commands/registry.ts';
import type { HostPort } from './config/address.ts';
import type { StateHealth } from './state/state-health.ts';

export interface DaemonContext {
  config: AgentConfig;
  /** Hostname, community IPv4 and gossip port, decided once at start (config/host-defaults.ts). */
  host: HostInfo;
  limits: Limits;
  logger: Logger;
  counters: Counters;
  exec: Exec;
  serf: Serf;
  /** Register the domain's commands here (agent/commands/): RPC serves them, the HTTP API and remote control too. */
  registry: CommandRegistry;
  /** Where the RPC server listens (plug-ins that run CLI verbs against their own agent). */
  rpcAddress: HostPort;
  /** Give it to every state file the plug-in writes (new AtomicFile(path, ctx.stateHealth)): a full or read-only disk is then logged, counted and retried, never fatal. */
  stateHealth: StateHealth;
}

export interface PluginHandle {
  stop(): Promise<void> | void;
  /** Extra `stats` section (shown by `info`). */
  stats?(): Record<string, string>;
}

/** A domain module started after the serf node and stopped before it: a start function, or a named one. */
export type DaemonPlugin =
  | ((ctx: DaemonContext) => Promise<PluginHandle>)
  | { name: string; start(ctx: DaemonContext): Promise<PluginHandle> };

/**
 * A named plug-in whose module is loaded when it starts. The daemon starts
 * plug-ins after the join is sent, so a lazy one's module evaluation (and its
 * code on the heap, when it is off) stays off the start-up path (issue 17).
 */
export function lazyPlugin(name: string, load: () => Promise<DaemonPlugin>): DaemonPlugin {
  return {
    name,
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const p = await load();
      return typeof p === 'function' ? p(ctx) : p.start(ctx);
    },
  };
}
