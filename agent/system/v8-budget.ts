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
//
// Flags that NODE_OPTIONS refuses are set at run time instead, before the
// agent's code gets hot (v8.setFlagsFromString):
//   --max-opt=2               (edge mode) no TurboFan: Maglev is the top tier.
//                             An agent's hot paths are small (codecs, timers);
//                             TurboFan's compiler alone pages in ~9 MB of the
//                             executable's text (measured with /proc/PID/pagemap
//                             against the binary's symbols) and its zones
//                             allocate more, for no measurable CPU gain here.
import { isSea } from 'node:sea';
import { setFlagsFromString } from 'node:v8';
import type { AgentConfig } from '../config/agent-config.ts';

export const REEXEC_MARK = 'CLOUDY_AGENT_V8';

export function v8FlagsFor(cfg: Pick<AgentConfig, 'mode' | 'memoryBudget'>): string[] {
  const flags: string[] = [];
  if (cfg.mode === 'edge') flags.push('--max-semi-space-size=1');
  if (cfg.memoryBudget !== null) flags.push(`--max-old-space-size=${Math.max(16, Math.floor((cfg.memoryBudget * 0.6) / (1024 * 1024)))}`);
  return flags;
}

/** V8 flags set at run time (not accepted in NODE_OPTIONS). */
export function runtimeV8FlagsFor(cfg: Pick<AgentConfig, 'mode'>): string[] {
  return cfg.mode === 'edge' ? ['--max-opt=2'] : [];
}

const applied: string[] = [];

/** Sets `flags` in this V8 (once each); they are listed by appliedV8Flags(). */
export function applyRuntimeV8Flags(flags: string[], set: (f: string) => void = setFlagsFromString): void {
  for (const f of flags) {
    if (applied.includes(f)) continue;
    set(f);
    applied.push(f);
  }
}

/** The V8 flags this process runs with: NODE_OPTIONS' and the run-time ones. */
export function appliedV8Flags(env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = (env.NODE_OPTIONS ?? '').split(/\s+/).filter((f) => f.startsWith('--max-') || f.startsWith('--expose'));
  return [...fromEnv, ...applied];
}

/**
 * glibc malloc settings for the re-executed process (edge mode), read by glibc
 * at start, so they ride on the same re-exec. Measured with a 10,000-member
 * swarm: RssAnon x1.43 -> x1.26 of its 100-member value.
 *   MALLOC_ARENA_MAX=2         V8's worker threads otherwise each get their own
 *                              arena, whose freed pages stay resident
 *   MALLOC_MMAP_THRESHOLD_     fixed at 128 KiB: push/pull buffers are mmapped
 *                              and unmapped on free; the default raises the
 *                              threshold after the first large free, and later
 *                              large buffers fragment the heap for good
 *   MALLOC_TRIM_THRESHOLD_     128 KiB: free memory at the heap top goes back
 * A value the user already set is kept.
 */
export function mallocEnvFor(cfg: Pick<AgentConfig, 'mode'>, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (cfg.mode !== 'edge') return {};
  const want: Record<string, string> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };
  return Object.fromEntries(Object.entries(want).filter(([k]) => env[k] === undefined));
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/** Re-executes the process with the V8 flags; returns (doing nothing) when not applicable. */
export function reexecWithV8Flags(flags: string[], proc: NodeJS.Process = process, extraEnv: Record<string, string> = {}): void {
  const execve = (proc as unknown as { execve?: Execve }).execve;
  if (flags.length === 0 || typeof execve !== 'function') return;
  if (proc.env[REEXEC_MARK] === '1' || proc.env.CLOUDY_AGENT_NO_REEXEC === '1') return;
  const nodeOptions = [proc.env.NODE_OPTIONS ?? '', ...flags].join(' ').trim();
  // A single executable gets its user arguments after argv[0] (it puts its own
  // path in argv[1]); plain node needs its flags and the script path back.
  const args = isSea() ? proc.argv.slice(2) : [...proc.execArgv, ...proc.argv.slice(1)];
  execve.call(proc, proc.execPath, [proc.execPath, ...args], {
    ...proc.env, ...extraEnv, NODE_OPTIONS: nodeOptions, [REEXEC_MARK]: '1',
  });
}
