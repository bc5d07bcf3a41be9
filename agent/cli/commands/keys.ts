// `keys`: cluster-wide keyring operations (serf keys -install/-use/-remove/-list).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { columnize } from '../output.ts';
import { errorMessage } from '../../errors.ts';
import { RpcRemoteError, type RpcKeyResponse } from '../../rpc/client.ts';

const HELP = `Usage: cloudy-agent keys [options]...

  Manages the gossip encryption keyring of every member of the cluster.
  Returns 0 when all nodes reply without errors, 1 otherwise.

Options:
  -install=<key>            Install a new key (used for decryption only).
  -use=<key>                Make an installed key the primary (encryption) key.
  -remove=<key>             Remove a key (not the primary one).
  -list                     List the keys installed across the cluster.
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`;

export const keysCommand = rpcCommand({
  name: 'keys',
  summary: 'Manipulate the gossip encryption keyring',
  help: HELP,
  flags: { install: 'string', use: 'string', remove: 'string', list: 'bool' },
  async run({ flags, connect, out, err }) {
    // serf wraps its Ui in a PrefixedUi: Info lines get "==> ".
    const info = (l: string) => out(`==> ${l}`);
    const list = flags.bool('list');
    const install = flags.str('install');
    const use = flags.str('use');
    const remove = flags.str('remove');
    let found = list;
    for (const a of [install, use, remove]) {
      if (found && a.length > 0) { err('Only one of -install, -use, -remove, or -list allowed'); return 1; }
      found = found || a.length > 0;
    }
    if (!found) { err(HELP); return 1; }
    const client = await connect();
    if (!client) return 1;

    const failures = (e: unknown): void => {
      const body = e instanceof RpcRemoteError ? (e.body as RpcKeyResponse | undefined) : undefined;
      const msgs = body?.messages ?? {};
      const lines = Object.keys(msgs).sort().map((n) => `failed: | ${n} | ${msgs[n]}`);
      if (lines.length) err(columnize(lines));
      err('');
    };

    if (list) {
      info('Asking all members for installed keys...');
      let r: RpcKeyResponse;
      try { r = await client.keyOp('list-keys'); } catch (e) {
        failures(e);
        err(`Failed to gather member keys: ${errorMessage(e)}`);
        return 1;
      }
      info('Keys gathered, listing cluster keys...');
      out('');
      const keys = r.keys ?? {};
      out(columnize(Object.keys(keys).sort().map((k) => `${k} | [${keys[k]}/${r.numNodes}]`)));
      return 0;
    }
    const ops = [
      [install, 'install-key', 'Installing key on all members...', 'Error installing key', 'Successfully installed key!'],
      [use, 'use-key', 'Changing primary key on all members...', 'Error changing primary key', 'Successfully changed primary key!'],
      [remove, 'remove-key', 'Removing key on all members...', 'Error removing key', 'Successfully removed key!'],
    ] as const;
    for (const [key, op, start, fail, ok] of ops) {
      if (key === '') continue;
      info(start);
      try {
        await client.keyOp(op, key);
      } catch (e) {
        failures(e);
        err(`${fail}: ${errorMessage(e)}`);
        return 1;
      }
      info(ok);
      return 0;
    }
    return 0;
  },
});
