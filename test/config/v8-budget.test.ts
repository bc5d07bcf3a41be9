// V8 heap flags baked in by re-executing the agent (process.execve, Node >= 22.15).
// The built executable doing it for real: v8-budget.real.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REEXEC_MARK, SETTINGS_MARK, launcherSettings, applyRuntimeV8Flags, appliedV8Flags, mallocEnvFor, reexecWithV8Flags, runtimeV8FlagsFor, v8FlagsFor } from '../../agent/system/v8-budget.ts';

test('flags: small young generation in edge mode; old space = 60% of -memory-budget', () => {
  assert.equal(v8FlagsFor({ mode: 'edge', memoryBudget: null }), ['--max-semi-space-size=1']);
  assert.equal(v8FlagsFor({ mode: 'full', memoryBudget: null }), []);
  assert.equal(v8FlagsFor({ mode: 'edge', memoryBudget: 64 * 1024 * 1024 }), ['--max-semi-space-size=1', '--max-old-space-size=38']);
  assert.equal(v8FlagsFor({ mode: 'full', memoryBudget: 20 * 1024 * 1024 }), ['--max-old-space-size=16']);
});

test('run-time flags: no TurboFan in edge mode, set once, listed with the NODE_OPTIONS ones', () => {
  assert.equal(runtimeV8FlagsFor({ mode: 'edge' }), ['--max-opt=2']);
  assert.equal(runtimeV8FlagsFor({ mode: 'full' }), []);
  assert.equal(runtimeV8FlagsFor({ mode: 'edge' }, '11.3.244.8-node.38'), ['--max-opt=2']);
  assert.equal(runtimeV8FlagsFor({ mode: 'edge' }, '10.2.154.26-node.37'), ['--no-opt']);
  const set: string[] = [];
  applyRuntimeV8Flags(['--max-opt=2'], (f) => set.push(f));
  applyRuntimeV8Flags(['--max-opt=2'], (f) => set.push(f));
  assert.equal(set, ['--max-opt=2']);
  assert.equal(appliedV8Flags({ NODE_OPTIONS: '--trace-warnings --max-semi-space-size=1' }), ['--max-semi-space-size=1', '--max-opt=2']);
});

test('launcher settings: one marked line with the flags and the malloc environment', () => {
  assert.is(launcherSettings({ mode: 'edge', memoryBudget: 64 * 1024 * 1024 }, {}),
    `${SETTINGS_MARK} --max-semi-space-size=1 --max-old-space-size=38 MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072`);
  assert.is(launcherSettings({ mode: 'full', memoryBudget: null }, {}), SETTINGS_MARK);
});

test('malloc settings ride on the re-exec in edge mode; a value the user set is kept', () => {
  assert.equal(mallocEnvFor({ mode: 'edge' }, {}), { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' });
  assert.equal(mallocEnvFor({ mode: 'edge' }, { MALLOC_ARENA_MAX: '8' }), { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' });
  assert.equal(mallocEnvFor({ mode: 'full' }, {}), {});
  const calls: unknown[][] = [];
  reexecWithV8Flags(['--x'], fakeProc({}, (...a: unknown[]) => { calls.push(a); }), { MALLOC_ARENA_MAX: '2' });
  assert.is((calls[0]![2] as Record<string, string>).MALLOC_ARENA_MAX, '2');
});

function fakeProc(env: Record<string, string>, execve: unknown) {
  return { env, execve, execPath: '/usr/bin/cloudy-agent', execArgv: ['--import', 'tsx'], argv: ['/usr/bin/node', '/x/main.ts', 'agent', '-node', 'a'] } as unknown as NodeJS.Process;
}

test('re-exec: same arguments, NODE_OPTIONS extended, marked so it happens once', () => {
  const calls: unknown[][] = [];
  reexecWithV8Flags(['--max-semi-space-size=1'], fakeProc({ NODE_OPTIONS: '--trace-warnings' }, (...a: unknown[]) => { calls.push(a); }));
  assert.is(calls.length, 1);
  const [file, args, env] = calls[0] as [string, string[], Record<string, string>];
  assert.is(file, '/usr/bin/cloudy-agent');
  assert.equal(args, ['/usr/bin/cloudy-agent', '--import', 'tsx', '/x/main.ts', 'agent', '-node', 'a']);
  assert.is(env.NODE_OPTIONS, '--trace-warnings --max-semi-space-size=1');
  assert.is(env[REEXEC_MARK], '1');
  // Already re-executed, opted out, no flags, or no execve: nothing happens.
  reexecWithV8Flags(['--x'], fakeProc({ [REEXEC_MARK]: '1' }, () => calls.push([])));
  reexecWithV8Flags(['--x'], fakeProc({ CLOUDY_AGENT_NO_REEXEC: '1' }, () => calls.push([])));
  reexecWithV8Flags([], fakeProc({}, () => calls.push([])));
  reexecWithV8Flags(['--x'], fakeProc({}, undefined));
  assert.is(calls.length, 1);
});

test('re-exec only for what is missing: the executable carries the edge flags in its execArgv, the unit sets malloc', () => {
  const calls: unknown[][] = [];
  const sea = (env: Record<string, string>) => ({ env, execve: (...a: unknown[]) => { calls.push(a); }, execPath: '/usr/bin/cloudy-agent', execArgv: ['--max-semi-space-size=1'], argv: ['/usr/bin/cloudy-agent', '/usr/bin/cloudy-agent', 'agent'] } as unknown as NodeJS.Process);
  const malloc = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };
  // As the systemd unit starts it: flags baked in, malloc settings in the environment: no second start.
  reexecWithV8Flags(['--max-semi-space-size=1'], sea({ ...malloc }), mallocEnvFor({ mode: 'edge' }, malloc));
  assert.is(calls.length, 0);
  // By hand: the malloc settings are missing; the re-exec adds them and no flag twice.
  reexecWithV8Flags(['--max-semi-space-size=1'], sea({}), mallocEnvFor({ mode: 'edge' }, {}));
  assert.is(calls.length, 1);
  const env = calls[0]![2] as Record<string, string>;
  assert.is(env.MALLOC_ARENA_MAX, '2');
  assert.is(env.NODE_OPTIONS, undefined);
  // A memory budget: the old-space flag is missing, so it goes in NODE_OPTIONS.
  reexecWithV8Flags(['--max-semi-space-size=1', '--max-old-space-size=38'], sea({ ...malloc }), {});
  assert.is((calls[1]![2] as Record<string, string>).NODE_OPTIONS, '--max-old-space-size=38');
  assert.equal(appliedV8Flags({}, ['--max-semi-space-size=1']).slice(0, 1), ['--max-semi-space-size=1']);
});

test.run();
