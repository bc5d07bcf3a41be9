// `query`: sends a query and prints acks and responses as they arrive (serf query).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { unmarshalTags } from '../../cli-kit/flags.ts';
import { formatOutput, GoMap, GoStruct } from '../output.ts';
import { errorMessage } from '../../errors.ts';

const HELP = `Usage: cloudy-agent query [options] name [payload]

  Dispatches a query to the cluster and waits for acks and responses.

Options:
  -format=text|json         Output format (default text).
  -node=NAME                Only this node answers; repeatable.
  -tag key=regexp           Only nodes whose tag matches answer; repeatable.
  -timeout="15s"            Overrides the default timeout.
  -no-ack                   Do not ask nodes to acknowledge the query.
  -relay-factor=N           Relay responses through N extra nodes (0-255).
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`;

const td = new TextDecoder();

export const queryCommand = rpcCommand({
  name: 'query',
  summary: 'Send a query to the cluster',
  help: HELP,
  flags: { node: 'list', tag: 'list', timeout: 'duration', 'no-ack': 'bool', format: 'string', 'relay-factor': 'int' },
  async run({ flags, connect, out, err, io }) {
    const noAck = flags.bool('no-ack');
    const format = flags.str('format', 'text');
    const relayFactor = flags.int('relay-factor', 0);
    let filterTags: Record<string, string>;
    try { filterTags = unmarshalTags(flags.list('tag')); } catch (e) { err(`Error: ${errorMessage(e)}`); return 1; }
    const args = flags.args;
    if (args.length < 1) { err('A query name must be specified.'); err(''); err(HELP); return 1; }
    if (args.length > 2) { err('Too many command line arguments. Only a name and payload must be specified.'); err(''); err(HELP); return 1; }
    if (relayFactor > 255 || relayFactor < 0) { err('Relay factor must be between 0 and 255'); return 1; }
    const name = args[0]!;
    const payload = args.length === 2 ? new TextEncoder().encode(args[1]) : undefined;
    const client = await connect();
    if (!client) return 1;
    if (format !== 'text' && format !== 'json') { err(`Invalid format: ${format}`); return 1; }
    const acks: string[] = [];
    const responses = new Map<string, string>();
    let started = false;
    let numResp = 0;
    // serf's agent can stream records read from the query's closed channels
    // (From "") just before "done"; serf's CLI stops at the first one (query.go `break OUTER`).
    let ended = false;
    // Interrupted (SIGINT): serf's query command stops waiting and exits 1.
    let interrupted = false;
    const onAbort = () => { interrupted = true; client.close(); };
    io.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await client.query({
        name, payload, filterNodes: flags.list('node'), filterTags,
        requestAck: !noAck, relayFactor, timeoutMs: flags.durationMs('timeout', 0),
      }, {
        onStarted: () => {
          started = true;
          if (format === 'text') out(`Query '${name}' dispatched`);
        },
        onAck: (from) => {
          if (from === '') ended = true;
          if (ended) return;
          acks.push(from);
          if (format === 'text') out(`Ack from '${from}'`);
        },
        onResponse: (from, p) => {
          if (from === '') ended = true;
          if (ended) return;
          let text = td.decode(p);
          numResp++;
          if (format === 'text') {
            if (text.endsWith('\n')) text = text.slice(0, -1);
            out(`Response from '${from}': ${text}`);
            responses.set(from, text);
          } else responses.set(from, text);
        },
      });
    } catch (e) {
      if (!started && !interrupted) { err(`Error sending query: ${errorMessage(e)}`); return 1; }
    } finally {
      io.signal?.removeEventListener('abort', onAbort);
    }
    if (interrupted) return 1;
    if (format === 'text') {
      if (!noAck) out(`Total Acks: ${acks.length}`);
      out(`Total Responses: ${numResp}`);
    } else {
      out(formatOutput('json', () => '', () => new GoStruct([
        ['Acks', acks.length ? acks : null],
        ['Responses', new GoMap(Object.fromEntries(responses))],
      ])));
    }
    return 0;
  },
});
