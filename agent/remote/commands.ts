// What a remote operator may run: a fixed allow-list, each entry with the
// role it needs. Nothing here runs a shell. Most entries run the SAME CLI verb
// a local operator would (in-process, against this agent's own RPC), so the
// requester prints exactly what the local command prints and exits with the
// same code. `-rpc-*` arguments are refused (they could point a verb at
// another agent), and so is `lxc exec`.
import type { CliCommand } from '../cli/command.ts';
import { AgentError } from '../errors.ts';
import type { LogRecord } from '../obs/log.ts';
import type { CommandOutput, RemoteCommand } from './executor.ts';
import type { Role } from './trust.ts';

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
  /** The role the command registry (agent/commands/) declares for a command, when it has it: one source of truth for roles. */
  registryRole?: (name: string) => Role | undefined;
}

const LXC_VIEW = new Set(['list', 'info', 'events']);
const LXC_ADMIN = new Set(['create', 'start', 'stop', 'restart', 'destroy', 'config']);

function noRpcFlags(args: readonly string[]): void {
  for (const a of args) if (/^--?rpc-/.test(a)) throw new AgentError('E_INVALID', `${a} is not allowed remotely`);
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
  const roleOf = (registryName: string | null, fallback: Role): Role => (registryName ? d.registryRole?.(registryName) : undefined) ?? fallback;
  const simple = (name: string, role: Role, verbName = name, registryName: string | null = null): RemoteCommand => ({
    name, role: (args) => { noRpcFlags(args); return roleOf(registryName, role); }, run: (args) => verb(verbName, args),
  });
  const list: RemoteCommand[] = [
    simple('status', 'viewer', 'info', 'info'),
    simple('members', 'viewer'),
    simple('services', 'viewer', 'services', 'services'),
    simple('publish', 'admin', 'publish', 'publish'),
    simple('unpublish', 'admin', 'unpublish', 'unpublish'),
    simple('join', 'admin'),
    simple('leave', 'admin'),
    {
      name: 'lxc',
      role(args) {
        noRpcFlags(args);
        const sub = args[0] ?? '';
        if (LXC_VIEW.has(sub)) return roleOf(`lxc.${sub}`, 'viewer');
        // `lxc config NAME` alone shows; with options it changes.
        if (sub === 'config' && args.filter((a) => a.startsWith('-') && !a.startsWith('-format')).length === 0) return 'viewer';
        if (LXC_ADMIN.has(sub)) return roleOf(`lxc.${sub}`, 'admin');
        throw new AgentError('E_INVALID', `lxc ${sub} is not allowed remotely (allowed: ${[...LXC_VIEW, ...LXC_ADMIN].join(', ')})`);
      },
      run: (args) => verb('lxc', args),
    },
    {
      name: 'tags',
      role(args) {
        noRpcFlags(args);
        if ((args[0] !== 'set' && args[0] !== 'delete') || args.length < 2) throw new AgentError('E_INVALID', 'usage: tags set KEY=VALUE... | tags delete KEY...');
        return 'admin';
      },
      run: (args) => verb('tags', args.slice(1).flatMap((a) => [args[0] === 'set' ? '-set' : '-delete', a])),
    },
    {
      name: 'logs',
      role(args) {
        if (args.length > 0 && !(args.length === 2 && (args[0] === '-lines' || args[0] === '--lines') && /^\d+$/.test(args[1]!))) {
          throw new AgentError('E_INVALID', 'usage: logs [-lines N]');
        }
        return 'viewer';
      },
      async run(args) {
        const n = args.length === 2 ? Number(args[1]) : 100;
        const lines = d.recentLog().slice(-Math.max(0, n)).map((r) => r.line);
        // Keep the newest lines when the tail is larger than one answer.
        let out = '';
        for (let i = lines.length - 1; i >= 0 && out.length + lines[i]!.length < d.maxOutputBytes; i--) out = `${lines[i]}\n${out}`;
        return { exit: 0, stdout: out, stderr: '' };
      },
    },
    {
      name: 'config',
      role(args) {
        if (args[0] === 'get' && args.length <= 2) return 'viewer';
        if (args[0] === 'set' && args.length === 3) return 'admin';
        throw new AgentError('E_INVALID', 'usage: config get [NAME] | config set NAME VALUE');
      },
      async run(args) {
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
      },
    },
  ];
  return new Map(list.map((c) => [c.name, c]));
}
