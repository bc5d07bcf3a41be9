// Starting and stopping the agents of a bench run on loopback: real Debian
// `serf agent`s and ours (the `dist/cloudy-agent` executable, or the TypeScript
// sources through tsx when no executable is built), with the same serf flags.
//
// The bench is a tool outside the agent, so it spawns long-running children
// itself (agent/system/exec.ts only runs commands to completion). Every child is
// registered in a ProcessRegistry so that a failed or interrupted run still kills
// everything it started (by pid, never by name).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RpcClient } from '../../agent/rpc/client.ts';
import { sleep } from './stats.ts';

export type AgentKind = 'serf' | 'ours';

export const REPO_ROOT = new URL('../..', import.meta.url).pathname;
export const OURS_BINARY = join(REPO_ROOT, 'dist/cloudy-agent');

export interface AgentSpec {
  kind: AgentKind;
  name: string;
  /** Gossip bind port on 127.0.0.1 (UDP + TCP). */
  port: number;
  /** RPC port on 127.0.0.1. */
  rpcPort: number;
  /** Addresses to join at start (`-join`). */
  join?: string[];
  extraArgs?: string[];
  /** Ours only: run this instead of oursCommand() (the bundle on another node, through its launcher). */
  runtime?: AgentRuntime;
}

/** Another way to start ours: `file prefix... agent <flags>` with `env` added to the environment. */
export interface AgentRuntime {
  /** Short name for reports and node names (e.g. node20). */
  name: string;
  file: string;
  prefix: string[];
  env: Record<string, string>;
}

export interface RunningAgent {
  spec: AgentSpec;
  pid: number;
  /** performance.now() at spawn. */
  spawnedAt: number;
  bindAddr: string;
  rpcAddr: string;
  /** Last lines of stderr/stdout (bounded), for diagnostics. */
  output(): string;
  exited(): boolean;
  exitInfo(): string;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the process has exited (or after timeoutMs). */
  waitExit(timeoutMs: number): Promise<boolean>;
}

/** How ours is started: the built executable (default when present) or the sources through tsx. */
export function oursCommand(): { file: string; prefix: string[]; how: string } {
  const mode = process.env.BENCH_OURS ?? (existsSync(OURS_BINARY) ? 'binary' : 'tsx');
  if (mode === 'binary') return { file: OURS_BINARY, prefix: [], how: 'dist/cloudy-agent' };
  return { file: process.execPath, prefix: ['--import', 'tsx', join(REPO_ROOT, 'agent/main.ts')], how: 'node --import tsx agent/main.ts' };
}

/** The executable file a kind runs from (its page cache is dropped before memory figures: procfs.ts). */
export function executableOf(kind: AgentKind): string {
  if (kind === 'ours') return oursCommand().file;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const f = join(dir || '.', 'serf');
    if (existsSync(f)) return f;
  }
  return 'serf';
}

export function agentArgv(spec: AgentSpec): { file: string; args: string[] } {
  const common = [
    '-node', spec.name,
    '-bind', `127.0.0.1:${spec.port}`,
    '-rpc-addr', `127.0.0.1:${spec.rpcPort}`,
    '-profile', 'lan',
    '-log-level', 'warn',
    ...(spec.join ?? []).flatMap((j) => ['-join', j]),
    ...(spec.extraArgs ?? []),
  ];
  if (spec.kind === 'serf') return { file: 'serf', args: ['agent', ...common] };
  const o = spec.runtime ?? oursCommand();
  return { file: o.file, args: [...o.prefix, 'agent', ...common] };
}

/** Bound on the diagnostic output kept per child. */
const OUTPUT_TAIL_BYTES = 8192;

export class ProcessRegistry {
  private readonly children = new Set<ChildProcess>();

  spawn(file: string, args: string[], opts: { stdin?: 'pipe' | 'ignore'; env?: Record<string, string> } = {}): ChildProcess {
    const env = opts.env ? { ...process.env, ...opts.env } : undefined;
    const child = spawn(file, args, { stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, ...(env ? { env } : {}) });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  startAgent(spec: AgentSpec): RunningAgent {
    const { file, args } = agentArgv(spec);
    const spawnedAt = performance.now();
    const child = this.spawn(file, args, spec.runtime ? { env: spec.runtime.env } : {});
    let tail = '';
    const keep = (d: Buffer): void => { tail = (tail + d.toString()).slice(-OUTPUT_TAIL_BYTES); };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exitInfo = '';
    const exited = new Promise<void>((resolve) => {
      child.on('exit', (code, sig) => { exitInfo = sig ? `killed by ${sig}` : `exited with status ${code}`; resolve(); });
      child.on('error', (e) => { exitInfo = `failed to start: ${e.message}`; resolve(); });
    });
    return {
      spec,
      pid: child.pid ?? -1,
      spawnedAt,
      bindAddr: `127.0.0.1:${spec.port}`,
      rpcAddr: `127.0.0.1:${spec.rpcPort}`,
      output: () => tail,
      exited: () => exitInfo !== '',
      exitInfo: () => exitInfo,
      kill: (signal = 'SIGKILL') => { if (!exitInfo) child.kill(signal); },
      waitExit: async (timeoutMs) => {
        let timer: NodeJS.Timeout | undefined;
        const t = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); });
        const ok = await Promise.race([exited.then(() => true), t]);
        clearTimeout(timer);
        return ok;
      },
    };
  }

  /** SIGKILLs every child still running and waits (bounded) for them to go. */
  async killAll(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const c of this.children) {
      waits.push(new Promise((r) => { c.once('exit', () => r()); setTimeout(r, 3000); }));
      try { c.kill('SIGKILL'); } catch { /* gone */ }
    }
    await Promise.all(waits);
  }
}

/** Waits until the agent's RPC answers; undefined if it exits first or the deadline passes. */
export async function waitRpc(a: RunningAgent, deadlineMs: number): Promise<RpcClient | undefined> {
  const end = Date.now() + deadlineMs;
  for (let i = 0; i < 10_000 && Date.now() < end && !a.exited(); i++) {
    try {
      return await RpcClient.connect(a.rpcAddr, { timeoutMs: 2000 });
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  return undefined;
}

/** Alive members as the agent's RPC reports them. */
export async function aliveCount(c: RpcClient): Promise<number> {
  return (await c.members()).filter((m) => m.status === 'alive').length;
}
