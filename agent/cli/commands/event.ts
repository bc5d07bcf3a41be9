// `event`: dispatches a custom user event (serf event).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { errorMessage } from '../../errors.ts';

const HELP = `Usage: cloudy-agent event [options] name [payload]

  Dispatches a custom user event across the cluster.

Options:
  -coalesce=true/false      Whether repeated events of the same name may be
                            coalesced into the last one (default true).
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`;

export const eventCommand = rpcCommand({
  name: 'event',
  summary: 'Send a custom event through the cluster',
  help: HELP,
  flags: { coalesce: 'bool' },
  async run({ flags, connect, out, err }) {
    const coalesce = flags.bool('coalesce', true);
    const args = flags.args;
    if (args.length < 1) { err('An event name must be specified.'); err(''); err(HELP); return 1; }
    if (args.length > 2) { err('Too many command line arguments. Only a name and payload must be specified.'); err(''); err(HELP); return 1; }
    const name = args[0]!;
    const payload = args.length === 2 ? new TextEncoder().encode(args[1]) : null;
    const client = await connect();
    if (!client) return 1;
    try {
      await client.userEvent(name, payload, coalesce);
    } catch (e) {
      err(`Error sending event: ${errorMessage(e)}`);
      return 1;
    }
    out(`Event '${name}' dispatched! Coalescing enabled: ${coalesce}`);
    return 0;
  },
});
