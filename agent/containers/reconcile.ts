// The reconciler's decisions (pure): from what the user wants (specs), what LXC
// reports (observed), and what we remember between passes (runtime), decide
// which containers to start, which changes to report, and which services to
// publish or withdraw. No I/O, no clock: `now` is an input, so every policy
// (backoff, retries, boot order) is unit-tested without LXC.
import type { ContainerEventKind, ContainerSpec, DesiredRun, LxcState, ObservedContainer } from './types.ts';

export interface RestartTuning {
  /** First restart delay; doubles per consecutive attempt. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** on-failure gives up after this many consecutive restarts. */
  onFailureMaxRetries: number;
  /** A container running this long after a restart resets its attempt count. */
  stableAfterMs: number;
}

export const DEFAULT_TUNING: Readonly<RestartTuning> = Object.freeze({
  backoffBaseMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  onFailureMaxRetries: 5,
  stableAfterMs: 60_000,
});

/** Per-container memory of the reconciler (not persisted: rebuilt after an agent restart). */
export interface RuntimeInfo {
  lastState: LxcState | null;
  lastPid: number;
  attempts: number;
  /** When the pending restart is due (0 = none scheduled). */
  nextRestartAt: number;
  runningSince: number;
}

export function freshRuntime(): RuntimeInfo {
  return { lastState: null, lastPid: 0, attempts: 0, nextRestartAt: 0, runningSince: 0 };
}

/** How the container's init ended the last time (from LXC's log), when known. */
export type ExitCause = 'clean' | 'failure' | 'unknown';

export interface ReconcileInput {
  now: number;
  specs: readonly ContainerSpec[];
  observed: ReadonlyMap<string, ObservedContainer>;
  runtime: ReadonlyMap<string, RuntimeInfo>;
  /** Service check result of running containers with a service. */
  healthy: ReadonlyMap<string, boolean>;
  /** Containers whose service is published now. */
  published: ReadonlySet<string>;
  exitCause: ReadonlyMap<string, ExitCause>;
  /** First pass after the host booted (boot id changed since the state was saved). */
  afterReboot: boolean;
  /** First pass after the agent started. */
  firstPass: boolean;
  tuning: RestartTuning;
}

export type Action =
  | { kind: 'start'; name: string; reason: 'restart' | 'autostart'; delayAfterSec: number }
  | { kind: 'event'; name: string; event: ContainerEventKind; detail: string }
  | { kind: 'set-desired'; name: string; desired: DesiredRun }
  | { kind: 'publish'; name: string }
  | { kind: 'unpublish'; name: string }
  | { kind: 'forget'; name: string };

export interface ReconcileOutput {
  actions: Action[];
  runtime: Map<string, RuntimeInfo>;
}

export function backoffMs(attempts: number, t: RestartTuning): number {
  return Math.min(t.backoffBaseMs * 2 ** Math.min(attempts, 30), t.backoffMaxMs);
}

/** Start order: lxc.start.order ascending (lower starts earlier, as lxc-autostart does), then name. */
export function byStartOrder(a: ContainerSpec, b: ContainerSpec): number {
  return a.startOrder - b.startOrder || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export function reconcile(inp: ReconcileInput): ReconcileOutput {
  const actions: Action[] = [];
  const runtime = new Map<string, RuntimeInfo>();
  const ev = (name: string, event: ContainerEventKind, detail: string): void => { actions.push({ kind: 'event', name, event, detail }); };

  for (const spec of [...inp.specs].sort(byStartOrder)) {
    const name = spec.name;
    const rt: RuntimeInfo = { ...(inp.runtime.get(name) ?? freshRuntime()) };
    const obs = inp.observed.get(name);
    const published = inp.published.has(name);

    if (!obs) {
      ev(name, 'vanished', 'container no longer exists in LXC (destroyed outside the agent)');
      if (published) actions.push({ kind: 'unpublish', name });
      actions.push({ kind: 'forget', name });
      continue;
    }

    const state = obs.state;
    if (state === 'RUNNING') {
      if (rt.lastState !== 'RUNNING') rt.runningSince = inp.now;
      rt.nextRestartAt = 0;
      if (spec.desired === 'stopped' && (rt.lastState !== 'RUNNING' || inp.firstPass)) {
        ev(name, 'started-by-hand', 'running although its desired state is stopped; adopting it as running');
        actions.push({ kind: 'set-desired', name, desired: 'running' });
      } else if (rt.lastState === 'RUNNING' && rt.lastPid > 0 && obs.pid > 0 && obs.pid !== rt.lastPid) {
        ev(name, 'stopped-unexpectedly', `init restarted outside the agent (pid ${rt.lastPid} -> ${obs.pid})`);
      }
      if (rt.attempts > 0 && inp.now - rt.runningSince >= inp.tuning.stableAfterMs) rt.attempts = 0;
      if (spec.service) {
        const ok = inp.healthy.get(name) === true;
        if (ok && !published) actions.push({ kind: 'publish', name });
        if (!ok && published) {
          ev(name, 'service-check-failed', `${spec.service.type} check ${spec.service.check.kind} failed; withdrawing`);
          actions.push({ kind: 'unpublish', name });
        }
      }
    } else if (state === 'STOPPED') {
      if (published) actions.push({ kind: 'unpublish', name });
      if (spec.desired === 'running') decideStopped(inp, spec, rt, actions, ev);
    } else if (published && state !== 'FROZEN' && state !== 'FREEZING' && state !== 'THAWED') {
      // STOPPING / ABORTING / STARTING: not serving.
      actions.push({ kind: 'unpublish', name });
    }

    rt.lastState = state;
    rt.lastPid = obs.pid;
    runtime.set(name, rt);
  }
  return { actions, runtime };
}

function decideStopped(
  inp: ReconcileInput,
  spec: ContainerSpec,
  rt: RuntimeInfo,
  actions: Action[],
  ev: (name: string, event: ContainerEventKind, detail: string) => void,
): void {
  const name = spec.name;
  if (inp.afterReboot && inp.firstPass) {
    if (spec.autostart) {
      actions.push({ kind: 'start', name, reason: 'autostart', delayAfterSec: spec.startDelaySec });
    } else {
      ev(name, 'stopped', 'host rebooted and the container is not set to autostart');
      actions.push({ kind: 'set-desired', name, desired: 'stopped' });
    }
    return;
  }
  const cause = inp.exitCause.get(name) ?? 'unknown';
  const newlyStopped = rt.lastState !== 'STOPPED';
  if (newlyStopped && rt.nextRestartAt === 0) {
    ev(name, 'stopped-unexpectedly', `stopped outside the agent (exit: ${cause}); restart policy ${spec.restart}`);
  }
  if (spec.restart === 'never' || (spec.restart === 'on-failure' && cause === 'clean')) {
    // A clean stop by hand (lxc-stop) under on-failure, or any stop under never: accept it.
    actions.push({ kind: 'set-desired', name, desired: 'stopped' });
    return;
  }
  if (spec.restart === 'on-failure' && rt.attempts >= inp.tuning.onFailureMaxRetries) {
    ev(name, 'gave-up', `not restarting after ${rt.attempts} consecutive attempts`);
    actions.push({ kind: 'set-desired', name, desired: 'stopped' });
    rt.attempts = 0;
    rt.nextRestartAt = 0;
    return;
  }
  if (rt.nextRestartAt === 0) {
    rt.nextRestartAt = inp.now + backoffMs(rt.attempts, inp.tuning);
  }
  if (inp.now >= rt.nextRestartAt) {
    rt.attempts += 1;
    rt.nextRestartAt = 0;
    actions.push({ kind: 'start', name, reason: 'restart', delayAfterSec: 0 });
  }
}
