import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_TUNING, reconcile, type Action, type ExitCause, type ReconcileInput, type RuntimeInfo } from '../../agent/containers/reconcile.ts';
import type { ContainerSpec, LxcState, ObservedContainer, RestartPolicy } from '../../agent/containers/types.ts';

function spec(name: string, o: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name, template: 'busybox', desired: 'running', memoryBytes: 0, cpus: 0, autostart: false, startOrder: 0, startDelaySec: 0,
    restart: 'on-failure', ipv4: '10.213.0.2', createdAt: 0,
    service: { type: 'web', port: 80, hostPort: 8080, protocol: 'tcp', description: 'd', txt: '', check: { kind: 'tcp', arg: '80' } },
    ...o,
  };
}

function obs(name: string, state: LxcState, pid = state === 'RUNNING' ? 100 : 0): ObservedContainer {
  return { name, state, pid, autostart: false };
}

function input(o: Partial<ReconcileInput>): ReconcileInput {
  return {
    now: 1_000_000, specs: [], observed: new Map(), runtime: new Map(), healthy: new Map(), published: new Set(),
    exitCause: new Map(), afterReboot: false, firstPass: false, tuning: { ...DEFAULT_TUNING, backoffBaseMs: 1000, backoffMaxMs: 8000, onFailureMaxRetries: 3 },
    ...o,
  };
}

const kinds = (a: Action[]): string[] => a.map((x) => (x.kind === 'event' ? `event:${x.event}` : `${x.kind}`));

/** Runs passes of a container that keeps crashing, returning the times of the restarts. */
function crashLoop(policy: RestartPolicy, cause: ExitCause, passes: number): { starts: number[]; actions: Action[] } {
  const s = spec('c', { restart: policy });
  let runtime = new Map<string, RuntimeInfo>([['c', { lastState: 'RUNNING', lastPid: 100, attempts: 0, nextRestartAt: 0, runningSince: 0 }]]);
  const starts: number[] = [];
  const all: Action[] = [];
  for (let i = 0; i < passes; i++) {
    const now = 1_000_000 + i * 500;
    const out = reconcile(input({ now, specs: [s], observed: new Map([['c', obs('c', 'STOPPED')]]), runtime, exitCause: new Map([['c', cause]]) }));
    runtime = out.runtime;
    all.push(...out.actions);
    for (const a of out.actions) {
      if (a.kind === 'start') starts.push(now);
      if (a.kind === 'set-desired') s.desired = a.desired;
    }
    if (s.desired === 'stopped') break;
  }
  return { starts, actions: all };
}

test('running + healthy service is published; unhealthy is withdrawn', () => {
  const s = spec('a');
  let out = reconcile(input({ specs: [s], observed: new Map([['a', obs('a', 'RUNNING')]]), healthy: new Map([['a', true]]) }));
  assert.equal(kinds(out.actions), ['publish']);
  out = reconcile(input({ specs: [s], observed: new Map([['a', obs('a', 'RUNNING')]]), healthy: new Map([['a', false]]), published: new Set(['a']), runtime: out.runtime }));
  assert.equal(kinds(out.actions), ['event:service-check-failed', 'unpublish']);
});

test('a crash is reported once and restarted with exponential backoff (always)', () => {
  const { starts, actions } = crashLoop('always', 'failure', 60);
  assert.is(actions.filter((a) => a.kind === 'event' && a.event === 'stopped-unexpectedly').length, 1);
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  assert.ok(starts.length >= 4, `restarts: ${starts.length}`);
  // 1 s, 2 s, 4 s, 8 s, 8 s (cap) between restarts, each measured in 500 ms passes.
  assert.equal(gaps.slice(0, 4), [2500, 4500, 8500, 8500]);
});

test('on-failure gives up after the retry budget and sets desired=stopped', () => {
  const { starts, actions } = crashLoop('on-failure', 'failure', 200);
  assert.is(starts.length, 3);
  assert.ok(actions.some((a) => a.kind === 'event' && a.event === 'gave-up'));
  assert.ok(actions.some((a) => a.kind === 'set-desired' && a.desired === 'stopped'));
});

test('on-failure does not restart after a clean stop by hand; always does', () => {
  const clean = crashLoop('on-failure', 'clean', 10);
  assert.is(clean.starts.length, 0);
  assert.ok(clean.actions.some((a) => a.kind === 'event' && a.event === 'stopped-unexpectedly'));
  assert.ok(clean.actions.some((a) => a.kind === 'set-desired' && a.desired === 'stopped'));
  assert.ok(crashLoop('always', 'clean', 10).starts.length > 0);
});

test('never: report only', () => {
  const r = crashLoop('never', 'failure', 10);
  assert.is(r.starts.length, 0);
  assert.equal(kinds(r.actions), ['event:stopped-unexpectedly', 'set-desired']);
});

test('stopped container with a published service is withdrawn', () => {
  const s = spec('a', { desired: 'stopped' });
  const out = reconcile(input({ specs: [s], observed: new Map([['a', obs('a', 'STOPPED')]]), published: new Set(['a']) }));
  assert.equal(kinds(out.actions), ['unpublish']);
});

test('after a host reboot autostart containers start in lxc.start.order with their delays; others are left stopped', () => {
  const specs = [
    spec('late', { autostart: true, startOrder: 20, startDelaySec: 0 }),
    spec('first', { autostart: true, startOrder: 1, startDelaySec: 3 }),
    spec('manual', { autostart: false }),
    spec('second', { autostart: true, startOrder: 5, startDelaySec: 1 }),
  ];
  const observed = new Map(specs.map((s) => [s.name, obs(s.name, 'STOPPED')]));
  const out = reconcile(input({ specs, observed, afterReboot: true, firstPass: true }));
  const starts = out.actions.filter((a): a is Extract<Action, { kind: 'start' }> => a.kind === 'start');
  assert.equal(starts.map((a) => [a.name, a.reason, a.delayAfterSec]), [['first', 'autostart', 3], ['second', 'autostart', 1], ['late', 'autostart', 0]]);
  assert.ok(out.actions.some((a) => a.kind === 'set-desired' && a.name === 'manual' && a.desired === 'stopped'));
});

test('agent restart (same boot): running containers are adopted, nothing is started or stopped', () => {
  const s = spec('a');
  const out = reconcile(input({ specs: [s], observed: new Map([['a', obs('a', 'RUNNING')]]), firstPass: true, healthy: new Map([['a', true]]) }));
  assert.equal(kinds(out.actions), ['publish']);
});

test('a container started by hand is reported and adopted; one destroyed by hand is forgotten', () => {
  const s = spec('a', { desired: 'stopped' });
  const rt = new Map([['a', { lastState: 'STOPPED' as LxcState, lastPid: 0, attempts: 0, nextRestartAt: 0, runningSince: 0 }]]);
  let out = reconcile(input({ specs: [s], observed: new Map([['a', obs('a', 'RUNNING')]]), runtime: rt }));
  assert.equal(kinds(out.actions).slice(0, 2), ['event:started-by-hand', 'set-desired']);
  out = reconcile(input({ specs: [s], observed: new Map(), published: new Set(['a']) }));
  assert.equal(kinds(out.actions), ['event:vanished', 'unpublish', 'forget']);
});

test('attempts reset once the container has been stable', () => {
  const s = spec('a');
  const rt = new Map([['a', { lastState: 'RUNNING' as LxcState, lastPid: 100, attempts: 3, nextRestartAt: 0, runningSince: 0 }]]);
  const out = reconcile(input({ now: DEFAULT_TUNING.stableAfterMs + 1, specs: [s], observed: new Map([['a', obs('a', 'RUNNING')]]), runtime: rt }));
  assert.is(out.runtime.get('a')!.attempts, 0);
});

test.run();
