// Shared set-up of the remote-control tests: agents (daemons in this process)
// with discovery and remote control on loopback addresses 127.22.0.x (this
// suite's prefix `rc`) and ports probed at run time, operator keys, and our CLI
// run in-process.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import type { DaemonPlugin } from '../../agent/plugin.ts';
import { defaultAgentConfig, type AgentConfig } from '../../agent/config/agent-config.ts';
import { discoveryPlugin } from '../../agent/discovery/plugin.ts';
import { remotePlugin } from '../../agent/remote/plugin.ts';
import { containersPlugin } from '../../agent/containers/plugin.ts';
import type { RemoteExecutor } from '../../agent/remote/executor.ts';
import type { Limits } from '../../agent/config/limits.ts';
import { COMMANDS } from '../../agent/cli/index.ts';
import { ours } from '../cli/helpers.ts';
import { freePort } from '../support/net.ts';

export { ours } from '../cli/helpers.ts';
export { freePort };

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `rc-${tag}-`));
}

export interface NodeOpts {
  name: string;
  host: string;
  dataDir: string;
  trust?: string[];
  join?: string[];
  tags?: Record<string, string>;
  mode?: 'edge' | 'full';
  extraPlugins?: DaemonPlugin[];
  /** Replaces the default discovery plug-in (e.g. discovery + containers). */
  plugins?: DaemonPlugin[];
  gossipPort?: number;
  rpcPort?: number;
  limits?: Partial<Limits>;
  /** As -limit flags (win over <data-dir>/remote/limits.json). */
  limitFlags?: Partial<Limits> | undefined;
}

export interface TestNode { h: DaemonHandle; gossip: string; rpc: string; opts: NodeOpts; executor: () => RemoteExecutor }

export async function startNode(o: NodeOpts): Promise<TestNode> {
  const gport = o.gossipPort ?? await freePort(o.host);
  const rport = o.rpcPort ?? await freePort(o.host);
  let executor: RemoteExecutor | null = null;
  const cfg: AgentConfig = {
    ...defaultAgentConfig(), profile: 'lan', logLevel: 'INFO', nodeName: o.name, bind: `${o.host}:${gport}`, rpcAddr: `${o.host}:${rport}`,
    dataDir: o.dataDir, join: o.join ?? [], retryIntervalMs: 200, tags: o.tags ?? {}, mode: o.mode ?? 'edge', trustedOperators: o.trust ?? [],
    containers: false, limitOverrides: { ...o.limits, ...o.limitFlags }, limitFlags: o.limitFlags ?? {},
  };
  const h = await startDaemon({
    ...cfg,
    plugins: [
      // As the real agent with -containers=false: the lxc.* commands declared, unavailable.
      ...(o.plugins ?? [discoveryPlugin({ stateDir: o.dataDir }), containersPlugin({ enabled: false, publisher: () => null })]),
      ...(o.extraPlugins ?? []),
      remotePlugin({ dataDir: o.dataDir, trustSpecs: cfg.trustedOperators, verbs: () => Object.fromEntries(COMMANDS.map((c) => [c.name, c])), onStarted: (r) => { executor = r.executor; } }),
    ],
  }, { writeLog: null });
  return { h, gossip: `${o.host}:${gport}`, rpc: `${o.host}:${rport}`, opts: { ...o, gossipPort: gport, rpcPort: rport }, executor: () => executor! };
}

/** `operator keygen -out FILE`; returns the public key line. */
export async function keygen(file: string): Promise<string> {
  const r = await ours(['operator', 'keygen', '-out', file]);
  if (r.code !== 0) throw new Error(r.stderr);
  return /Public key: (\S+)/.exec(r.stdout)![1]!;
}
