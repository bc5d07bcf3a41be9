// Bakes V8 heap limits into the running agent:
//   --max-semi-space-size=1   (edge mode) the young generation otherwise grows
//                             to 3 x 16 MB under allocation bursts such as a
//                             large push/pull, and that RSS is not given back
//   --max-old-space-size=N    when -memory-budget is set: 60% of the budget
// The single executable (a Node 22 SEA, tools/build-sea.mjs) carries the edge
// flags in its own execArgv, so it starts with them; they cannot be undone
// there (NODE_OPTIONS loses to a SEA's execArgv), so its full mode keeps the
// small young generation too. What a process still lacks (a -memory-budget's
// old-space limit; the malloc settings below when the service manager did not
// set them) is applied by re-executing once: Node >= 22.15 can replace the
// process image (process.execve, same PID, same fds, so systemd, signals and
// parents see nothing), and the new process gets the flags in NODE_OPTIONS.
// Skipped where execve is missing (Node 18/20: Debian's and OpenWrt's node, and
// development), when already done, or with CLOUDY_AGENT_NO_REEXEC=1.
//
// The bundle on a system node (the cloudy-agent-js .deb, the OpenWrt package)
// cannot re-execute itself, so its launcher asks first: with
// CLOUDY_AGENT_PRINT_V8=1 the `agent` command parses its flags and config files
// as usual, prints launcherSettings() and exits; the launcher then starts node
// with those flags and environment, marked so no re-exec is attempted.
//
// Flags that NODE_OPTIONS refuses are set at run time instead, before the
// agent's code gets hot (v8.setFlagsFromString):
//   --max-opt=2               (edge mode) no TurboFan: Maglev is the top tier where it is on (Node 24);
//                             Node 20/22 leave Maglev off by default, so there Sparkplug is
//                             (--no-opt on Node 18's V8, which has neither).
//                             An agent's hot paths are small (codecs, timers);
//                             TurboFan's compiler alone pages in ~9 MB of the
//                             executable's text (measured with /proc/PID/pagemap
//                             against the binary's symbols) and its zones
//                             allocate more, for no measurable CPU gain here.
import { setFlagsFromString } from 'node:v8';
import { startupMark, startupTraceEnv } from '../obs/startup-trace.ts';
/** The part of the agent's config the V8 settings follow (AgentConfig's fields; system/ does not import config/). */
export interface MemorySettings {
  mode: 'edge' | 'full';
  /** Bytes, or null for no budget. */
  memoryBudget: number | null;
}

export const REEXEC_MARK = 'CLOUDY_AGENT_V8';
export const PRINT_SETTINGS_ENV = 'CLOUDY_AGENT_PRINT_V8';
/** First word of the line launcherSettings() prints. */
export const SETTINGS_MARK = 'cloudy-agent-v8:';

/**
 * One line for a launcher: the marker, then the node flags and the NAME=VALUE
 * environment settings the re-exec would have applied (values are plain
 * tokens: flags and numbers, nothing a shell would expand).
 */
export function launcherSettings(cfg: MemorySettings, env: NodeJS.ProcessEnv = process.env): string {
  const envWords = Object.entries(mallocEnvFor(cfg, env)).map(([k, v]) => `${k}=${v}`);
  return [SETTINGS_MARK, ...v8FlagsFor(cfg), ...envWords].join(' ');
}

export function v8FlagsFor(cfg: MemorySettings): string[] {
  const flags: string[] = [];
  if (cfg.mode === 'edge') flags.push('--max-semi-space-size=1');
  if (cfg.memoryBudget !== null) flags.push(`--max-old-space-size=${Math.max(16, Math.floor((cfg.memoryBudget * 0.6) / (1024 * 1024)))}`);
  return flags;
}

/**
 * V8 flags set at run time (not accepted in NODE_OPTIONS). V8 10.2 (Node 18)
 * has no --max-opt (an unknown flag is reported on stderr and ignored) and no
 * Maglev: there --no-opt gives the same ceiling below TurboFan (Sparkplug).
 */
export function runtimeV8FlagsFor(cfg: Pick<MemorySettings, 'mode'>, v8Version: string = process.versions.v8): string[] {
  if (cfg.mode !== 'edge') return [];
  return Number(v8Version.split('.')[0]) >= 11 ? ['--max-opt=2'] : ['--no-opt'];
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

/** The V8 flags this process runs with: its execArgv's (the executable's own), NODE_OPTIONS' and the run-time ones. */
export function appliedV8Flags(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string[] {
  const ours = (f: string): boolean => f.startsWith('--max-') || f.startsWith('--expose');
  const fromEnv = (env.NODE_OPTIONS ?? '').split(/\s+/).filter(ours);
  return [...new Set([...execArgv.filter(ours), ...fromEnv, ...applied])];
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
export function mallocEnvFor(cfg: Pick<MemorySettings, 'mode'>, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (cfg.mode !== 'edge') return {};
  const want: Record<string, string> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };
  return Object.fromEntries(Object.entries(want).filter(([k]) => env[k] === undefined));
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/**
 * Re-executes the process with the V8 flags and the environment it lacks;
 * returns (doing nothing) when not applicable or nothing is missing. The
 * single executable carries the edge mode's flags in its own execArgv
 * (tools/build-sea.mjs), and the systemd unit sets the malloc environment, so
 * the agent started as a service does not re-execute at all (start-up: no
 * second process start); started by hand it still does, for the malloc settings.
 */
export function reexecWithV8Flags(flags: string[], proc: NodeJS.Process = process, extraEnv: Record<string, string> = {}): void {
  const execve = (proc as unknown as { execve?: Execve }).execve;
  if (typeof execve !== 'function') return;
  if (proc.env[REEXEC_MARK] === '1' || proc.env.CLOUDY_AGENT_NO_REEXEC === '1') return;
  const have = [...(proc.execArgv ?? []), ...(proc.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const missing = flags.filter((f) => !have.includes(f));
  const envMissing = Object.fromEntries(Object.entries(extraEnv).filter(([k, v]) => proc.env[k] !== v));
  if (missing.length === 0 && Object.keys(envMissing).length === 0) return;
  const nodeOptions = [proc.env.NODE_OPTIONS ?? '', ...missing].join(' ').trim();
  // A single executable gets its user arguments after argv[0] (it puts its own
  // path in argv[1]) and its execArgv from itself; plain node needs its flags
  // and the script path back. node:sea is loaded only here: it does not exist
  // before Node 20.12, and execve (Node >= 22.15) implies it does, and
  // process.getBuiltinModule (>= 22.3) with it.
  const { isSea } = (process as unknown as { getBuiltinModule(id: 'node:sea'): typeof import('node:sea') }).getBuiltinModule('node:sea');
  const args = isSea() ? proc.argv.slice(2) : [...proc.execArgv, ...proc.argv.slice(1)];
  startupMark('re-exec');
  execve.call(proc, proc.execPath, [proc.execPath, ...args], {
    ...proc.env, ...envMissing, ...startupTraceEnv(proc.env), ...(nodeOptions !== '' ? { NODE_OPTIONS: nodeOptions } : {}), [REEXEC_MARK]: '1',
  });
}
