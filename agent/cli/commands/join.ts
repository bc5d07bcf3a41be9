// `join`: asks the running agent to join existing members (serf join).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { errorMessage } from '../../errors.ts';

const HELP = `Usage: cloudy-agent join [options] address ...

  Tells the running agent to join the cluster through at least one member.

Options:
  -replay                   Replay past user events.
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`;

export const joinCommand = rpcCommand({
  name: 'join',
  summary: 'Tell the agent to join a cluster',
  help: HELP,
  flags: { replay: 'bool' },
  async run({ flags, connect, out, err }) {
    const addrs = flags.args;
    if (addrs.length === 0) { err('At least one address to join must be specified.'); err(''); err(HELP); return 1; }
    const client = await connect();
    if (!client) return 1;
    try {
      const n = await client.join(addrs, flags.bool('replay'));
      out(`Successfully joined cluster by contacting ${n} nodes.`);
      return 0;
    } catch (e) {
      err(`Error joining the cluster: ${errorMessage(e)}`);
      return 1;
    }
  },
});
