// What a remote operator may run: a fixed allow-list, each invocation mapped
// to the registry command it amounts to (registryNameOf), whose role the
// registry declares: no role table here. Nothing here runs a shell. Most entries run the SAME CLI verb
// a local operator would (in-process, against this agent's own RPC), so the
// requester prints exactly what the local command prints and exits with the
// same code. `-rpc-*` arguments are refused (they could point a verb at
// another agent), and so is `lxc exec`.
import type { CliCommand } from '../cli-kit/command.ts';
import { AgentError } from '../errors.ts';
import type { LogRecord } from '../obs/log.ts';
import type { CommandOutput, RemoteCommand } from './executor.ts';

export interface ConfigAccess {
  /** Allow-listed settings and their current values (as strings). */
  get(): Record<string, string>;
  /** Changes one allow-listed setting; E_INVALID for names outside the list or bad values. */
  set(name: string, value: string): Promise<string>;
}

export interface RemoteCommandDeps {
  /** The agent's CLI verbs by name (info, members, services, lxc, publish, unpublish, tags, join, leave). */
  verbs: Readonly<Record<string, CliCommand>>;
  /** This agent's RPC address and auth key (the verbs connect there). */
  rpcAddr: string;
  rpcAuth: string;
  recentLog: () => readonly LogRecord[];
  config: ConfigAccess;
  maxOutputBytes: number;
}

/** lxc subcommands allowed remotely (exec never: it would run a shell). */
const LXC_ALLOWED = new Set(['list', 'info', 'events', 'create', 'start', 'stop', 'restart', 'destroy', 'config']);

function noRpcFlags(args: readonly string[]): void {
  for (const a of args) if (/^--?rpc-/.test(a)) throw new AgentError('E_INVALID', `${a} is not allowed remotely`);
}

/**
 * The registry command a remote invocation amounts to (its role is the
 * registry's: registry.roleOf); E_INVALID for invocations never allowed.
 */
export function registryNameOf(command: string, args: readonly string[]): string {
  noRpcFlags(args);
  switch (command) {
    case 'status': return 'info';
    case 'members': case 'services': case 'publish': case 'unpublish': case 'join': case 'leave': return command;
    case 'lxc': {
      const sub = args[0] ?? '';
      if (!LXC_ALLOWED.has(sub)) throw new AgentError('E_INVALID', `lxc ${sub} is not allowed remotely (allowed: ${[...LXC_ALLOWED].join(', ')})`);
      return `lxc.${sub}`;
    }
    case 'tags':
      if ((args[0] !== 'set' && args[0] !== 'delete') || args.length < 2) throw new AgentError('E_INVALID', 'usage: tags set KEY=VALUE... | tags delete KEY...');
      return `tags.${args[0]}`;
    case 'logs':
      if (args.length > 0 && !(args.length === 2 && (args[0] === '-lines' || args[0] === '--lines') && /^\d+$/.test(args[1]!))) {
        throw new AgentError('E_INVALID', 'usage: logs [-lines N]');
      }
      return 'logs';
    case 'config':
      if (args[0] === 'get' && args.length <= 2) return 'config.get';
      if (args[0] === 'set' && args.length === 3) return 'config.set';
      throw new AgentError('E_INVALID', 'usage: config get [NAME] | config set NAME VALUE');
    default: throw new AgentError('E_INVALID', `${command} is not a remote command`);
  }
}

/** One remote invocation that amounts to `registryName` (the inverse of registryNameOf; null: not offered remotely). */
export function remoteInvocationOf(registryName: string): string[] | null {
  const byName: Record<string, string[]> = {
    info: ['status'], members: ['members'], services: ['services'], publish: ['publish', 'x', 'web', '8080'], unpublish: ['unpublish', 'web', '8080'],
    join: ['join', '127.0.0.1:1'], leave: ['leave'], 'tags.set': ['tags', 'set', 'k=v'], 'tags.delete': ['tags', 'delete', 'k'],
    logs: ['logs'], 'config.get': ['config', 'get'], 'config.set': ['config', 'set', 'log_level', 'info'],
  };
  if (byName[registryName]) return byName[registryName]!;
  const m = /^lxc\.(\w+)$/.exec(registryName);
  return m && LXC_ALLOWED.has(m[1]!) ? ['lxc', m[1]!, 'x'] : null;
}

export function remoteCommands(d: RemoteCommandDeps): Map<string, RemoteCommand> {
  const verb = async (name: string, argv: readonly string[]): Promise<CommandOutput> => {
    const v = d.verbs[name];
    if (!v) throw new AgentError('E_UNAVAILABLE', `command ${name} is not available on this node`);
    let stdout = '';
    let stderr = '';
    const cap = (s: string, add: string): string => (s.length < d.maxOutputBytes ? s + add : s);
    const exit = await v.run([...argv], {
      stdout: (s) => { stdout = cap(stdout, s); }, stderr: (s) => { stderr = cap(stderr, s); },
      env: { SERF_RPC_ADDR: d.rpcAddr, SERF_RPC_AUTH: d.rpcAuth },
    });
    return { exit, stdout, stderr };
  };
  const cmd = (name: string, run: (args: readonly string[]) => Promise<CommandOutput>): RemoteCommand => ({
    name, registryName: (args) => registryNameOf(name, args), run,
  });
  const list: RemoteCommand[] = [
    cmd('status', (args) => verb('info', args)),
    ...['members', 'services', 'publish', 'unpublish', 'join', 'leave', 'lxc'].map((n) => cmd(n, (args) => verb(n, args))),
    cmd('tags', (args) => verb('tags', args.slice(1).flatMap((a) => [args[0] === 'set' ? '-set' : '-delete', a]))),
    cmd('logs', async (args) => {
      const n = args.length === 2 ? Number(args[1]) : 100;
      const lines = d.recentLog().slice(-Math.max(0, n)).map((r) => r.line);
      // Keep the newest lines when the tail is larger than one answer.
      let out = '';
      for (let i = lines.length - 1; i >= 0 && out.length + lines[i]!.length < d.maxOutputBytes; i--) out = `${lines[i]}\n${out}`;
      return { exit: 0, stdout: out, stderr: '' };
    }),
    cmd('config', async (args) => {
      if (args[0] === 'set') {
        try { return { exit: 0, stdout: `${args[1]} = ${await d.config.set(args[1]!, args[2]!)}\n`, stderr: '' }; } catch (e) {
          return { exit: 1, stdout: '', stderr: `${(e as Error).message}\n` };
        }
      }
      const all = d.config.get();
      const names = args[1] !== undefined ? [args[1]] : Object.keys(all).sort();
      const missing = names.filter((n) => !(n in all));
      if (missing.length > 0) return { exit: 1, stdout: '', stderr: `unknown setting ${missing[0]} (known: ${Object.keys(all).sort().join(', ')})\n` };
      return { exit: 0, stdout: names.map((n) => `${n} = ${all[n]}\n`).join(''), stderr: '' };
    }),
  ];
  return new Map(list.map((c) => [c.name, c]));
}
