// Start-up trace: with CLOUDY_AGENT_STARTUP_TRACE=1 each phase of the start
// (module evaluation, config, re-exec, host probing, RPC, each plug-in, join
// sent, joined) prints one line on stderr,
//   cloudy-agent startup-trace <ms since process start> <phase>
// which bench/scenarios/startup.ts reads into the start-up breakdown.
//
// Process-wide on purpose, like performance.now() itself: the phases belong to
// the one process start, wherever in the code they happen, and passing a tracer
// through every constructor for a diagnostic that is off in production would
// cost more than it tells. Off (the default), a mark is one boolean test.
//
// "Process start" is the first process's: a re-exec (system/v8-budget.ts)
// passes its time origin on in CLOUDY_AGENT_STARTUP_T0 (epoch ms), so the
// re-executed process's marks include the first one's life.
export const STARTUP_TRACE_ENV = 'CLOUDY_AGENT_STARTUP_TRACE';
export const STARTUP_T0_ENV = 'CLOUDY_AGENT_STARTUP_T0';
export const STARTUP_TRACE_PREFIX = 'cloudy-agent startup-trace';

// Read at the first mark, not at module evaluation: the executable's V8 startup
// snapshot evaluates this module at build time (tools/build-sea.mjs), where the
// environment is the build's.
let state: { enabled: boolean; offset: number } | null = null;
const seen = new Set<string>();

function traceState(): { enabled: boolean; offset: number } {
  if (state) return state;
  const enabled = process.env[STARTUP_TRACE_ENV] === '1';
  // Milliseconds between the first process's start and this process's time origin.
  const inherited = Number(process.env[STARTUP_T0_ENV]);
  state = { enabled, offset: enabled && Number.isFinite(inherited) && inherited > 0 ? performance.timeOrigin - inherited : 0 };
  return state;
}

export function startupTraceEnabled(): boolean {
  return traceState().enabled;
}

/** Marks a phase (the first time only: later joins or restarts of a phase are not start-up). */
export function startupMark(phase: string): void {
  const { enabled, offset } = traceState();
  if (!enabled || seen.has(phase)) return;
  seen.add(phase);
  // A re-executed process marks its phases as such (its own bootstrap, its own modules).
  const tag = offset > 0 ? ' (re-exec)' : '';
  if (seen.size === 1) {
    // Node's own bootstrap, from its timing of this process (ms since its time origin), and
    // the moment the bundle's first line ran (its banner, tools/bundle.mjs): compile before it.
    // From the executable's startup snapshot, the bundle ran at build time: its entry
    // sets __cloudyBundleStartHr when the snapshot's main function starts (deserialized).
    write(offset + performance.nodeTiming.bootstrapComplete, `node bootstrap done${tag}`);
    // (process.hrtime() there: `performance` is touched only when tracing, see tools/bundle.mjs.)
    const g = globalThis as { __cloudyBundleStartHr?: [number, number]; __cloudyFromSnapshot?: boolean };
    if (Array.isArray(g.__cloudyBundleStartHr)) {
      const [s, ns] = process.hrtime(g.__cloudyBundleStartHr);
      write(offset + performance.now() - (s * 1e3 + ns / 1e6), g.__cloudyFromSnapshot ? `snapshot deserialized${tag}` : `bundle compiled${tag}`);
    }
  }
  write(offset + performance.now(), `${phase}${tag}`);
}

function write(ms: number, phase: string): void {
  process.stderr.write(`${STARTUP_TRACE_PREFIX} ${ms.toFixed(1)} ${phase}\n`);
}

/** Environment for a re-executed process: keeps the first process's time origin. */
export function startupTraceEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!traceState().enabled) return {};
  return { [STARTUP_T0_ENV]: env[STARTUP_T0_ENV] ?? String(performance.timeOrigin) };
}

/** Parses the trace lines out of an agent's stderr: [ms, phase] in order. */
export function parseStartupTrace(stderr: string): { ms: number; phase: string }[] {
  const out: { ms: number; phase: string }[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith(STARTUP_TRACE_PREFIX + ' ')) continue;
    const rest = line.slice(STARTUP_TRACE_PREFIX.length + 1);
    const sp = rest.indexOf(' ');
    const ms = Number(rest.slice(0, sp));
    if (sp > 0 && Number.isFinite(ms)) out.push({ ms, phase: rest.slice(sp + 1) });
  }
  return out;
}
