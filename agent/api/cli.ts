// `cloudy-agent passwd` and `cloudy-agent token ...`: the web GUI's admin
// password and the API's tokens, written straight into the data dir (like
// `serf keygen`, they need no running agent; a running agent sees the change
// at the next request). The password is read from a tty without echo, or as
// the first line of stdin; it is never printed or logged.
import { homedir } from 'node:os';
import type { CliCommand, CliIO } from '../cli-kit/command.ts';
import { Flags, FlagError, HelpRequested, parseFlags } from '../cli-kit/flags.ts';
import { defaultDataDir } from '../config/host-defaults.ts';
import { AgentError, errorMessage } from '../errors.ts';
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
  return {
    name: 'passwd',
    summary: 'Sets the admin password of the web GUI and API',
    async run(argv: string[], io: CliIO): Promise<number> {
      let f: Flags;
      try {
        f = new Flags(parseFlags(argv, { 'data-dir': 'string' }));
        if (f.args.length) throw new FlagError(`unexpected argument: ${f.args[0]}`);
      } catch (e) {
        if (e instanceof HelpRequested) { io.stdout(PASSWD_HELP + '\n'); return 0; }
        io.stderr(`${errorMessage(e)}\n`); return 1;
      }
      const tty = process.stdin.isTTY === true;
      try {
        const pw = await read('New password: ');
        if (tty && (await read('Again: ')) !== pw) { io.stderr('Passwords differ; nothing changed.\n'); return 1; }
        const dir = dataDirOf(f);
        await new PasswordFile(authFiles(dir).password).set(pw);
        io.stdout(`Admin password set (${authFiles(dir).password.path}).\n`);
        return 0;
      } catch (e) {
        io.stderr(`Error: ${errorMessage(e)}\n`);
        return 1;
      }
    },
  };
}

const TOKEN_HELP = `Usage: cloudy-agent token create NAME [-role admin|viewer] [-data-dir DIR]
       cloudy-agent token list [-data-dir DIR]
       cloudy-agent token revoke NAME [-data-dir DIR]

  API tokens for scripts: send "Authorization: Bearer TOKEN" to /api/v1/.
  create prints the token once, on its last line (only its hash is kept).
  viewer (default) may read; admin may also act (containers, services).`;

export const tokenCommand: CliCommand = {
  name: 'token',
  summary: 'Creates, lists and revokes API tokens',
  async run(argv: string[], io: CliIO): Promise<number> {
    let f: Flags;
    // `token VERB [NAME] [flags]`: flags come after the words (Go's flag package stops at the first word).
    const words: string[] = [];
    while (words.length < 2 && argv[words.length] !== undefined && !argv[words.length]!.startsWith('-')) words.push(argv[words.length]!);
    try {
      f = new Flags(parseFlags(argv.slice(words.length), { 'data-dir': 'string', role: 'string' }));
    } catch (e) {
      if (e instanceof HelpRequested) { io.stdout(TOKEN_HELP + '\n'); return 0; }
      io.stderr(`${errorMessage(e)}\n`); return 1;
    }
    const [verb, name] = words;
    const extra = f.args;
    const store = new TokenStore(authFiles(dataDirOf(f)).tokens, defaultLimits().apiTokens);
    try {
      if (verb === 'create' && name !== undefined && extra.length === 0) {
        const role = f.has('role') ? f.str('role') : 'viewer';
        const token = await store.create(name, role);
        io.stdout(`Token ${name} (${role}) created. It is shown only now:\n${token}\n`);
        return 0;
      }
      if (verb === 'list' && name === undefined) {
        const list = await store.list();
        if (list.length === 0) { io.stdout('No tokens.\n'); return 0; }
        const w = Math.max(4, ...list.map((t) => t.name.length));
        io.stdout(`${'NAME'.padEnd(w)}  ROLE    CREATED\n` + list.map((t) => `${t.name.padEnd(w)}  ${t.role.padEnd(6)}  ${isoTime(t.created)}`).join('\n') + '\n');
        return 0;
      }
      if (verb === 'revoke' && name !== undefined && extra.length === 0) {
        await store.revoke(name);
        io.stdout(`Token ${name} revoked.\n`);
        return 0;
      }
      io.stderr(TOKEN_HELP + '\n');
      return 1;
    } catch (e) {
      io.stderr(`Error: ${errorMessage(e)}\n`);
      return 1;
    }
  },
};
