// The start-up trace (agent/obs/startup-trace.ts): one stderr line per phase with
// CLOUDY_AGENT_STARTUP_TRACE=1, nothing without it; times count from the first
// process's start across a re-exec (CLOUDY_AGENT_STARTUP_T0).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { parseStartupTrace } from '../../agent/obs/startup-trace.ts';

const script = "import { startupMark } from './agent/obs/startup-trace.ts'; startupMark('a'); startupMark('b'); startupMark('a');";

function run(env: Record<string, string>): string {
  // process.execArgv: the TypeScript loader this test runs under (tsx, or run-all's --precompiled one).
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.is(r.status, 0, r.stderr);
  return r.stderr;
}

test('off by default: nothing printed', () => {
  assert.equal(parseStartupTrace(run({ CLOUDY_AGENT_STARTUP_TRACE: '' })), []);
});

test('on: node bootstrap, then each phase once, in order, times rising', () => {
  const t = parseStartupTrace(run({ CLOUDY_AGENT_STARTUP_TRACE: '1' }));
  assert.equal(t.map((x) => x.phase), ['node bootstrap done', 'a', 'b']);
  assert.ok(t[0]!.ms > 0 && t[1]!.ms >= t[0]!.ms && t[2]!.ms >= t[1]!.ms);
});

test('after a re-exec: phases marked as such, counted from the first process start', () => {
  const firstStart = Date.now() - 5000;
  const t = parseStartupTrace(run({ CLOUDY_AGENT_STARTUP_TRACE: '1', CLOUDY_AGENT_STARTUP_T0: String(firstStart) }));
  assert.equal(t.map((x) => x.phase), ['node bootstrap done (re-exec)', 'a (re-exec)', 'b (re-exec)']);
  assert.ok(t[1]!.ms >= 5000, `${t[1]!.ms}`);
});

test('parse: other stderr lines are ignored', () => {
  assert.equal(parseStartupTrace('x\ncloudy-agent startup-trace 12.5 RPC listening\n2026 [WARN] y\ncloudy-agent startup-trace bad\n'), [{ ms: 12.5, phase: 'RPC listening' }]);
});

test.run();
