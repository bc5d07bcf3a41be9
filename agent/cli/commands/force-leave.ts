// `force-leave`: moves a failed member to "left" (or prunes it) (serf force-leave).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { errorMessage } from '../../errors.ts';

const HELP = `Usage: cloudy-agent force-leave [options] name

  Forces a member of the cluster to enter the "left" state, which is most
  useful to clean out failed nodes that will never come back.

Options:
  -prune                    Also remove the member from the member list.
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`;

export const forceLeaveCommand = rpcCommand({
  name: 'force-leave',
  summary: 'Forces a member of the cluster to enter the "left" state',
  help: HELP,
  flags: { prune: 'bool' },
  async run({ flags, connect, err }) {
    const nodes = flags.args;
    if (nodes.length !== 1) { err('A node name must be specified to force leave.'); err(''); err(HELP); return 1; }
    const client = await connect();
    if (!client) return 1;
    try {
      await client.forceLeave(nodes[0]!, flags.bool('prune'));
      return 0;
    } catch (e) {
      err(`Error force leaving: ${errorMessage(e)}`);
      return 1;
    }
  },
});
