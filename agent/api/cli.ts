// `cloudy-agent passwd` and `cloudy-agent token ...`: the web GUI's admin
// password and the API's tokens, written straight into the data dir (like
// `serf keygen`, they need no running agent; a running agent sees the change
// at the next request). The password is read from a tty without echo, or as
// the first line of stdin; it is never printed or logged.
// Built on the one CLI scaffold (cli-kit/rpc-command.ts) with `rpc: false`: no RPC flags.
import { homedir } from 'node:os';
import type { CliCommand } from '../cli-kit/command.ts';
import type { Flags } from '../cli-kit/flags.ts';
import { rpcCommand, rpcCommandGroup, type RpcCommandDef, type RpcCommandEnv } from '../cli-kit/rpc-command.ts';
import { defaultDataDir } from '../config/host-defaults.ts';
import { AgentError } from '../errors.ts';
import { authFiles } from './auth/index.ts';
import { PasswordFile } from './auth/password.ts';
import { TokenStore } from './auth/tokens.ts';
import { defaultLimits } from '../config/limits.ts';
import { isoTime } from '../obs/iso-time.ts';

function dataDirOf(f: Flags): string {
  return f.has('data-dir') ? f.str('data-dir') : defaultDataDir({ isRoot: process.getuid?.() === 0, home: homedir() });
}

/** Reads one line from stdin; on a tty, prompts on stderr and turns echo off. */
export async function readSecretLine(prompt: string, stdin: NodeJS.ReadStream = process.stdin, stderr: NodeJS.WriteStream = process.stderr): Promise<string> {
  const tty = stdin.isTTY === true;
  if (tty) { stderr.write(prompt); stdin.setRawMode(true); }
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let buf = '';
      const onData = (d: Buffer): void => {
        for (const ch of d.toString('utf8')) {
          if (ch === '\n' || ch === '\r') { done(); resolve(buf); return; }
          if (tty && ch === '\u0003') { done(); reject(new AgentError('E_STATE', 'interrupted')); return; }
          if (tty && (ch === '\u007f' || ch === '\b')) { buf = buf.slice(0, -1); continue; }
          buf += ch;
          if (buf.length > 4096) { done(); reject(new AgentError('E_TOO_LARGE', 'password line too long')); return; }
        }
      };
      const onEnd = (): void => { done(); resolve(buf); };
      const done = (): void => { stdin.off('data', onData); stdin.off('end', onEnd); };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
    });
  } finally {
    if (tty) { stdin.setRawMode(false); stderr.write('\n'); }
    stdin.pause();
  }
}

const PASSWD_HELP = `Usage: cloudy-agent passwd [-data-dir DIR]

  Sets the admin password of the web GUI (port 7000 on a full node). Reads it
  from the terminal (twice, without echo) or as the first line of stdin:
    echo 'a long passphrase' | cloudy-agent passwd
  Stored as an scrypt hash in DIR/api/admin.passwd (mode 0600).
  There is no default password: until one is set, nobody can log in.

Options:
  -data-dir=DIR  Agent data dir (default /var/lib/cloudy-agent as root).`;

export function passwdCommand(read: (prompt: string) => Promise<string> = (p) => readSecretLine(p)): CliCommand {
  return rpcCommand({
    name: 'passwd',
    summary: 'Sets the admin password of the web GUI and API',
    style: 'cloudy',
    rpc: false,
    help: PASSWD_HELP,
    flags: { 'data-dir': 'string' },
    async run(env) {
      if (env.flags.args.length) return env.usage(`unexpected argument: ${env.flags.args[0]}`);
      const tty = process.stdin.isTTY === true;
      const pw = await read('New password: ');
      if (tty && (await read('Again: ')) !== pw) return env.usage('Passwords differ; nothing changed.');
      const dir = dataDirOf(env.flags);
      await new PasswordFile(authFiles(dir).password).set(pw);
      env.out(`Admin password set (${authFiles(dir).password.path}).`);
      return 0;
    },
  });
}

const TOKEN_HELP = `Usage: cloudy-agent token create NAME [-role admin|viewer] [-data-dir DIR]
       cloudy-agent token list [-data-dir DIR]
       cloudy-agent token revoke NAME [-data-dir DIR]

  API tokens for scripts: send "Authorization: Bearer TOKEN" to /api/v1/.
  create prints the token once, on its last line (only its hash is kept).
  viewer (default) may read; admin may also act (containers, services).`;

/** A `token` subcommand: local files only, flags anywhere. */
function tokenSub(name: string, want: number, run: (env: RpcCommandEnv, store: TokenStore, name: string) => Promise<number>): RpcCommandDef {
  return {
    name, summary: '', help: TOKEN_HELP, rpc: false, flags: { 'data-dir': 'string', ...(name === 'create' ? { role: 'string' } : {}) },
    async run(env) {
      if (env.flags.args.length !== want) return env.usage(TOKEN_HELP);
      return run(env, new TokenStore(authFiles(dataDirOf(env.flags)).tokens, defaultLimits().apiTokens), env.flags.args[0] ?? '');
    },
  };
}

export const tokenCommand = rpcCommandGroup({
  name: 'token',
  summary: 'Creates, lists and revokes API tokens',
  usage: `${TOKEN_HELP}\n`,
  subcommands: [
    tokenSub('create', 1, async (env, store, name) => {
      const role = env.flags.has('role') ? env.flags.str('role') : 'viewer';
      const token = await store.create(name, role);
      env.out(`Token ${name} (${role}) created. It is shown only now:\n${token}`);
      return 0;
    }),
    tokenSub('list', 0, async (env, store) => {
      const list = await store.list();
      if (list.length === 0) { env.out('No tokens.'); return 0; }
      const w = Math.max(4, ...list.map((t) => t.name.length));
      env.out(`${'NAME'.padEnd(w)}  ROLE    CREATED\n` + list.map((t) => `${t.name.padEnd(w)}  ${t.role.padEnd(6)}  ${isoTime(t.created)}`).join('\n'));
      return 0;
    }),
    tokenSub('revoke', 1, async (env, store, name) => {
      await store.revoke(name);
      env.out(`Token ${name} revoked.`);
      return 0;
    }),
  ],
});
