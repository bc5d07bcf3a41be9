// The one place in the agent that spawns processes. Everything else receives an
// `Exec` and calls it with an argument array (never through a shell, except the
// event-handler path which runs a user-configured shell command by design).
import { AgentError } from '../errors.ts';

// execa is loaded on the first spawn, not at start: an agent that never runs a
// process (no containers, no handlers) then never pays for its module graph,
// and its module set-up compiles a Unicode property RegExp that pages ICU data
// in. One import, shared by every later call.
let execaModule: Promise<typeof import('execa')> | null = null;
function loadExeca(): Promise<typeof import('execa')> {
  execaModule ??= import('execa');
  return execaModule;
}

export interface ExecOptions {
  /** Kill the process (SIGKILL after SIGTERM) after this many ms. Default 60 s. */
  timeoutMs?: number;
  /** Written to stdin, then stdin is closed. */
  input?: string | Uint8Array;
  /** Extra environment variables (the parent environment is inherited). */
  env?: Record<string, string>;
  cwd?: string;
  /** Bytes of stdout/stderr kept (each); the rest is discarded. Default 1 MiB. */
  maxOutputBytes?: number;
  /**
   * Run in its own process group and, on timeout, kill the whole group (a
   * shell's children too: `sh -c 'sleep 60'` would otherwise keep the output
   * pipes open past the timeout). Used for event handler scripts.
   */
  killGroup?: boolean;
}

export interface ExecResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface Exec {
  /** Runs to completion; never throws for a non-zero exit (see `check`). Throws E_UNAVAILABLE when the file is missing. */
  run(file: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
}

/** Throws a typed E_EXEC error carrying exit code and stderr unless the run succeeded. */
export function check(r: ExecResult): ExecResult {
  if (r.exitCode === 0 && !r.timedOut) return r;
  const why = r.timedOut ? 'timed out' : `exited with status ${r.exitCode}`;
  const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
  throw new AgentError('E_EXEC', `${r.command} ${why}${tail ? `: ${tail}` : ''}`, {
    exitCode: r.exitCode,
    stderr: r.stderr,
    stdout: r.stdout,
    timedOut: r.timedOut,
  });
}

export function createExec(defaults: { maxOutputBytes?: number } = {}): Exec {
  return {
    async run(file, args, opts = {}) {
      const max = opts.maxOutputBytes ?? defaults.maxOutputBytes ?? 1024 * 1024;
      const timeoutMs = opts.timeoutMs ?? 60_000;
      let groupTimedOut = false;
      const { execa } = await loadExeca();
      const sub = execa(file, [...args], {
        reject: false,
        ...(opts.killGroup ? { detached: true } : { timeout: timeoutMs }),
        forceKillAfterDelay: 2_000,
        input: opts.input,
        env: opts.env,
        cwd: opts.cwd,
        stripFinalNewline: false,
        maxBuffer: max,
        stdin: opts.input === undefined ? 'ignore' : 'pipe',
      });
      let groupTimer: NodeJS.Timeout | undefined;
      if (opts.killGroup) {
        groupTimer = setTimeout(() => {
          groupTimedOut = true;
          try { if (sub.pid !== undefined) process.kill(-sub.pid, 'SIGKILL'); } catch { /* already gone */ }
        }, timeoutMs);
      }
      const r = await sub.finally(() => clearTimeout(groupTimer));
      if ((r as { code?: string }).code === 'ENOENT') {
        throw new AgentError('E_UNAVAILABLE', `${file}: command not found`, { file });
      }
      const text = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));
      return {
        command: [file, ...args].join(' '),
        exitCode: typeof r.exitCode === 'number' ? r.exitCode : r.timedOut || groupTimedOut ? 124 : 1,
        stdout: text(r.stdout),
        stderr: text(r.stderr),
        timedOut: Boolean(r.timedOut) || groupTimedOut,
      };
    },
  };
}
