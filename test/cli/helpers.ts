// Test helpers: spawn real Debian `serf` agents on loopback, run the serf CLI,
// and run our CLI commands in-process with captured output.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS, findCommand } from '../../agent/cli/index.ts';
import { waitFor } from '../support/wait.ts';

export const SERF = '/usr/bin/serf';

export interface SerfAgent {
  name: string;
  rpc: string;
  bind: string;
  proc: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

export async function startSerfAgent(opts: {
  name: string; bind: string; rpc: string; tags?: Record<string, string>; encrypt?: string;
  join?: string; handlers?: string[]; extra?: string[]; rpcAuth?: string; keyringFile?: string;
}): Promise<SerfAgent> {
  const args = ['agent', `-node=${opts.name}`, `-bind=${opts.bind}`, `-rpc-addr=${opts.rpc}`, '-log-level=debug'];
  for (const [k, v] of Object.entries(opts.tags ?? {})) args.push(`-tag`, `${k}=${v}`);
  if (opts.encrypt) args.push(`-encrypt=${opts.encrypt}`);
  if (opts.keyringFile) args.push(`-keyring-file=${opts.keyringFile}`);
  if (opts.join) args.push(`-join=${opts.join}`);
  for (const h of opts.handlers ?? []) args.push(`-event-handler=${h}`);
  args.push(...(opts.extra ?? []));
  // The agent logs to a file, not a pipe: tests call the serf CLI with spawnSync,
  // which blocks our event loop; a full pipe would block the agent itself.
  const dir = mkdtempSync(join(tmpdir(), `serf-${opts.name}-`));
  if (opts.rpcAuth) {
    // serf agent has no -rpc-auth flag: rpc_auth is a config-file key.
    writeFileSync(join(dir, 'rpc.json'), JSON.stringify({ rpc_auth: opts.rpcAuth }));
    args.push(`-config-file=${join(dir, 'rpc.json')}`);
  }
  const logPath = join(dir, 'agent.log');
  const fd = openSync(logPath, 'w');
  const proc = spawn(SERF, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const agent: SerfAgent = {
    name: opts.name, rpc: opts.rpc, bind: opts.bind, proc,
    log: () => { try { return readFileSync(logPath, 'utf8'); } catch { return ''; } },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const authArgs = opts.rpcAuth ? [`-rpc-auth=${opts.rpcAuth}`] : [];
  await waitFor(`serf agent ${opts.name}`, () => serfCli(['members', `-rpc-addr=${opts.rpc}`, ...authArgs]).code === 0);
  return agent;
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
