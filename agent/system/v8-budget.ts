// Bakes V8 heap limits into the running agent. A single executable (pkg SEA on
// Node 22) cannot carry node flags, but it honours NODE_OPTIONS, and Node
// >= 22.15 can replace the process image (process.execve, same PID, same fds,
// so systemd, signals and parents see nothing). The `agent` command therefore
// re-executes itself once with:
//   --max-semi-space-size=1   (edge mode) the young generation otherwise grows
//                             to 3 x 16 MB under allocation bursts such as a
//                             large push/pull, and that RSS is not given back
//   --max-old-space-size=N    when -memory-budget is set: 60% of the budget
// Skipped where execve is missing (Node 20 in development), when already done,
// or with CLOUDY_AGENT_NO_REEXEC=1.
import { isSea } from 'node:sea';
import type { AgentConfig } from '../config/agent-config.ts';

export const REEXEC_MARK = 'CLOUDY_AGENT_V8';

export function v8FlagsFor(cfg: Pick<AgentConfig, 'mode' | 'memoryBudget'>): string[] {
  const flags: string[] = [];
  if (cfg.mode === 'edge') flags.push('--max-semi-space-size=1');
  if (cfg.memoryBudget !== null) flags.push(`--max-old-space-size=${Math.max(16, Math.floor((cfg.memoryBudget * 0.6) / (1024 * 1024)))}`);
  return flags;
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/** Re-executes the process with the V8 flags; returns (doing nothing) when not applicable. */
export function reexecWithV8Flags(flags: string[], proc: NodeJS.Process = process): void {
  const execve = (proc as unknown as { execve?: Execve }).execve;
  if (flags.length === 0 || typeof execve !== 'function') return;
  if (proc.env[REEXEC_MARK] === '1' || proc.env.CLOUDY_AGENT_NO_REEXEC === '1') return;
  const nodeOptions = [proc.env.NODE_OPTIONS ?? '', ...flags].join(' ').trim();
  // A single executable gets its user arguments after argv[0] (it puts its own
  // path in argv[1]); plain node needs its flags and the script path back.
  const args = isSea() ? proc.argv.slice(2) : [...proc.execArgv, ...proc.argv.slice(1)];
  execve.call(proc, proc.execPath, [proc.execPath, ...args], {
    ...proc.env, NODE_OPTIONS: nodeOptions, [REEXEC_MARK]: '1',
  });
}
