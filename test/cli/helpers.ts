// Test helpers: start real Debian `serf` agents on loopback, run the serf CLI,
// and run our CLI commands in-process with captured output.
import { spawn, spawnSync } from 'node:child_process';
import { COMMANDS, findCommand } from '../../agent/cli/index.ts';
import { SerfAgent, SERF_BIN } from '../support/real-serf.ts';

export { SerfAgent };

export const SERF = SERF_BIN;

/**
 * A real serf agent for the CLI tests (test/support/real-serf.ts with the CLI
 * tests' habits): addresses as "ip:port", serf's own profile and protocol, the
 * log in a file (these tests call the serf CLI with spawnSync).
 */
export function startSerfAgent(o: {
  name: string; bind: string; rpc: string; tags?: Record<string, string>; encrypt?: string;
  join?: string; handlers?: string[]; rpcAuth?: string; keyringFile?: string;
}): Promise<SerfAgent> {
  const [ip, port] = splitHostPort(o.bind);
  const [rpcIp, rpcPort] = splitHostPort(o.rpc);
  if (rpcIp !== ip) throw new Error(`${o.name}: bind and rpc must share an address`);
  return SerfAgent.launch({
    name: o.name, ip, port, rpcPort, eventHandler: false, profile: null, protocol: null, logToFile: true,
    ...(o.tags ? { tags: o.tags } : {}), ...(o.encrypt ? { encrypt: o.encrypt } : {}), ...(o.join ? { join: [o.join] } : {}),
    ...(o.handlers ? { handlers: o.handlers } : {}), ...(o.rpcAuth ? { rpcAuth: o.rpcAuth } : {}),
    ...(o.keyringFile ? { keyringFile: o.keyringFile } : {}),
  });
}

function splitHostPort(a: string): [string, number] {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i), Number(a.slice(i + 1))];
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the real serf CLI (synchronously; it is quick). */
export function serfCli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(SERF, args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Async variant (for commands that take a while, like query). */
export function serfCliAsync(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return serfCliProc(args, env).done;
}

/** A running serf CLI process (monitor): interrupt it with `interrupt()`. */
export function serfCliProc(args: string[], env: Record<string, string> = {}): { done: Promise<CliResult>; interrupt(): void } {
  const p = spawn(SERF, args, { env: { ...process.env, ...env } });
  const done = new Promise<CliResult>((resolve) => {
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
  });
  return { done, interrupt: () => { p.kill('SIGINT'); } };
}

/** Runs one of our CLI commands in-process. */
export async function ours(args: string[], opts: { env?: Record<string, string>; signal?: AbortSignal } = {}): Promise<CliResult> {
  const [name, ...rest] = args;
  const cmd = findCommand(name!, COMMANDS);
  if (!cmd) throw new Error(`no command ${name}`);
  let stdout = '';
  let stderr = '';
  const code = await cmd.run(rest, {
    stdout: (s) => { stdout += s; },
    stderr: (s) => { stderr += s; },
    env: { ...(opts.env ?? {}) },
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { code, stdout, stderr };
}

/** Sorts the tag list inside each `members` text line (serf prints Go map order). */
export function sortTagsInMembers(text: string): string {
  return text.split('\n').map((line) => line.replace(/(\S+=\S*(?:,\S+=\S*)*)(\s*)$/, (_m, tags: string, sp: string) => tags.split(',').sort().join(',') + sp)).join('\n');
}

export function hasSerf(): boolean {
  return spawnSync(SERF, ['version'], { encoding: 'utf8' }).status === 0;
}
