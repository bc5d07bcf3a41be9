// An agent stack on a private container bridge, driven the way a user drives
// it: `cloudy-agent lxc ...` over RPC. The containers tests' one copy of that
// set-up (the CLI runner, the bridge, the agent, its RPC address, the teardown).
import { lxcCommand } from '../../agent/containers/cli.ts';
import { createBridge, deleteLink, removeDir, startTestAgent, type TestAgent } from '../containers/helpers.ts';
import type { BridgeNetwork } from '../../agent/containers/ipam.ts';

export interface CliResult { code: number; out: string; err: string }

/** Runs `cloudy-agent lxc ARGV...` in-process; stdout and stderr as text. */
export async function lxcCli(...argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await lxcCommand.run(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { code, out, err };
}

export interface CliAgent {
  agent: TestAgent;
  /** The agent's RPC address, for -rpc-addr. */
  addr: string;
  /** `cloudy-agent lxc ARGV...` against this agent (-rpc-addr added before any `--`). */
  cli(...argv: string[]): Promise<CliResult>;
  /** Stops the agent, deletes the bridge and the agent's state directory. */
  stop(): Promise<void>;
}

/**
 * Creates the container bridge (its gateway address on it) and starts a test
 * agent on it. `communityIp` defaults to the gateway (the host's address the
 * services are forwarded on).
 */
export async function startCliAgent(o: { network: BridgeNetwork; communityIp?: string; intervalMs?: number; firewallTable?: string }): Promise<CliAgent> {
  const prefix = o.network.cidr.split('/')[1];
  await createBridge(o.network.bridge, `${o.network.gateway}/${prefix}`);
  const agent = await startTestAgent({
    network: o.network, communityIp: o.communityIp ?? o.network.gateway,
    ...(o.intervalMs ? { intervalMs: o.intervalMs } : {}), ...(o.firewallTable ? { firewallTable: o.firewallTable } : {}),
  });
  const a = agent.server.address()!;
  const addr = `${a.host}:${a.port}`;
  return {
    agent, addr,
    cli: (...argv) => {
      // Before `--`: what follows it goes to the template.
      const dd = argv.indexOf('--');
      const at = dd < 0 ? argv.length : dd;
      return lxcCli(...argv.slice(0, at), '-rpc-addr', addr, ...argv.slice(at));
    },
    async stop() {
      try { await agent.stop(); } catch { /* best effort */ }
      await deleteLink(o.network.bridge);
      await removeDir(agent.stateDir);
    },
  };
}
