// `tags`: sets or deletes tags of the running agent (serf tags).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { unmarshalTags } from '../../cli-kit/flags.ts';
import { errorMessage } from '../../errors.ts';

const HELP = `Usage: cloudy-agent tags [options] ...

  Modifies the tags of the running agent.

Options:
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).
  -set key=value            Creates or modifies the value of a tag; repeatable.
  -delete key               Removes a tag, if present; repeatable.`;

export const tagsCommand = rpcCommand({
  name: 'tags',
  summary: 'Modify tags of the running agent',
  help: HELP,
  flags: { set: 'list', delete: 'list' },
  async run({ flags, connect, out, err }) {
    const set = flags.list('set');
    const del = flags.list('delete');
    if (set.length === 0 && del.length === 0) { out(HELP); return 1; }
    const client = await connect();
    if (!client) return 1;
    let tags: Record<string, string>;
    try { tags = unmarshalTags(set); } catch (e) { err(`Error: ${errorMessage(e)}`); return 1; }
    try {
      await client.updateTags(tags, del);
    } catch (e) {
      err(`Error setting tags: ${errorMessage(e)}`);
      return 1;
    }
    out('Successfully updated agent tags');
    return 0;
  },
});
