// `info`: the agent's stats sections (serf info).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { formatOutput, GoMap } from '../output.ts';
import { errorMessage } from '../../errors.ts';

export function statsText(stats: Record<string, Record<string, string>>): string {
  let s = '';
  for (const section of Object.keys(stats).sort()) {
    s += `${section}:\n`;
    const kv = stats[section]!;
    for (const k of Object.keys(kv).sort()) s += `\t${k} = ${kv[k]}\n`;
  }
  return s;
}

export const infoCommand = rpcCommand({
  name: 'info',
  summary: 'Provides debugging information for operators',
  help: `Usage: cloudy-agent info [options]

  Prints the running agent's statistics for operators.

Options:
  -format=text|json         Output format (default text).
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`,
  flags: { format: 'string' },
  async run({ flags, connect, out, err }) {
    const format = flags.str('format', 'text');
    const client = await connect();
    if (!client) return 1;
    let stats: Record<string, Record<string, string>>;
    try { stats = await client.stats(); } catch (e) { err(`Error querying agent: ${errorMessage(e)}`); return 1; }
    try {
      out(formatOutput(format, () => statsText(stats),
        () => new GoMap(Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, new GoMap(v)])))));
    } catch (e) {
      err(`Encoding error: ${errorMessage(e)}`);
      return 1;
    }
    return 0;
  },
});
