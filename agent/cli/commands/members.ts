// `members`: the member list, in serf's text table or JSON (serf members).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { marshalTags, unmarshalTags } from '../../cli-kit/flags.ts';
import { columnize, formatOutput, GoMap, GoStruct, type JsonValue } from '../output.ts';
import { formatHostPort } from '../../config/address.ts';
import { errorMessage } from '../../errors.ts';
import type { RpcMember } from '../../rpc/client.ts';

export const membersCommand = rpcCommand({
  name: 'members',
  summary: 'Lists the members of the cluster',
  help: `Usage: cloudy-agent members [options]

  Outputs the members of the cluster as seen by the running agent.

Options:
  -detailed                 Also show protocol versions (text output only).
  -format=text|json         Output format (default text).
  -name=<regexp>            Only members whose name fully matches the regexp.
  -role=<regexp>            Deprecated: same as -tag role=<regexp>.
  -status=<regexp>          Only members whose status fully matches the regexp.
  -tag <key>=<regexp>       Only members whose tag fully matches; repeatable.
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`,
  flags: { detailed: 'bool', role: 'string', status: 'string', format: 'string', tag: 'list', name: 'string' },
  async run({ flags, connect, out, err }) {
    const detailed = flags.bool('detailed');
    const format = flags.str('format', 'text');
    const tagPairs = [...flags.list('tag')];
    const role = flags.str('role');
    if (role !== '') {
      out("Deprecation warning: 'Role' has been replaced with 'Tags'");
      tagPairs.push(`role=${role}`);
    }
    let tags: Record<string, string>;
    try { tags = unmarshalTags(tagPairs); } catch (e) { err(`Error: ${errorMessage(e)}`); return 1; }
    const client = await connect();
    if (!client) return 1;
    let members: RpcMember[];
    try {
      members = await client.membersFiltered(tags, flags.str('status'), flags.str('name'));
    } catch (e) {
      err(`Error retrieving members: ${errorMessage(e)}`);
      return 1;
    }
    let text: string;
    try {
      text = formatOutput(format, () => membersText(members, detailed), () => membersJson(members));
    } catch (e) {
      err(`Encoding error: ${errorMessage(e)}`);
      return 1;
    }
    out(text);
    return 0;
  },
});

export function membersText(members: RpcMember[], detailed: boolean): string {
  return columnize(members.map((m) => {
    let line = `${m.name}|${formatHostPort(m.addr, m.port)}|${m.status}|${marshalTags(m.tags).join(',')}`;
    if (detailed) line += `|Protocol Version: ${m.delegateCur}|Available Protocol Range: [${m.delegateMin}, ${m.delegateMax}]`;
    return line;
  }));
}

export function membersJson(members: RpcMember[]): JsonValue {
  return new GoStruct([['members', members.length === 0 ? null : members.map((m) => new GoStruct([
    ['name', m.name],
    ['addr', formatHostPort(m.addr, m.port)],
    ['port', m.port],
    ['tags', new GoMap(m.tags)],
    ['status', m.status],
    ['protocol', new GoMap({ max: m.delegateMax, min: m.delegateMin, version: m.delegateCur })],
  ]))]]);
}
