// `leave`: graceful leave of the running agent, which then shuts down (serf leave).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { errorMessage } from '../../errors.ts';

export const leaveCommand = rpcCommand({
  name: 'leave',
  summary: 'Gracefully leaves the cluster and shuts down',
  help: `Usage: cloudy-agent leave [options]

  Makes the running agent leave the cluster gracefully and shut down.

Options:
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`,
  flags: {},
  async run({ connect, out, err }) {
    const client = await connect();
    if (!client) return 1;
    try {
      await client.leave();
    } catch (e) {
      err(`Error leaving: ${errorMessage(e)}`);
      return 1;
    }
    out('Graceful leave complete');
    return 0;
  },
});
