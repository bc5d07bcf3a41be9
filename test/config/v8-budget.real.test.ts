// The single executable re-executing itself with V8 heap flags (process.execve,
// Node >= 22.15): needs the built binary (make binary; make test sets CLOUDY_AGENT_BIN).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { REEXEC_MARK } from '../../agent/system/v8-budget.ts';

// The real executable (make test builds it and sets CLOUDY_AGENT_BIN): the daemon
// runs with the flags in its environment, under the same PID it was started with.
test('the single executable re-executes itself with the heap flags of -memory-budget', async () => {
  const bin = process.env.CLOUDY_AGENT_BIN ?? 'dist/cloudy-agent';
  assert.ok(existsSync(bin), `${bin} missing: run make binary`);
  const p = spawn(bin, ['agent', '-node', 'v8probe', '-bind', '127.0.9.7:25020', '-rpc-addr', '127.0.9.7:25021', '-profile', 'lan', '-memory-budget', '64MB'], { stdio: 'ignore' });
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      await new Promise((r) => setTimeout(r, 200));
      up = spawnSync(bin, ['members', '-rpc-addr', '127.0.9.7:25021'], { encoding: 'utf8' }).stdout.includes('v8probe');
    }
    assert.ok(up, 'agent answered on its RPC port');
    const env = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0');
    assert.ok(env.includes(`${REEXEC_MARK}=1`), 'same PID, re-executed');
    if (process.env.MALLOC_ARENA_MAX === undefined) assert.ok(env.includes('MALLOC_ARENA_MAX=2'), 'malloc settings of edge mode');
    // The edge flag is the executable's own (its SEA execArgv): only the budget's flag is added.
    assert.ok(env.includes('NODE_OPTIONS=--max-old-space-size=38'), env.filter((e) => e.startsWith('NODE_OPTIONS')).join());
    // The agent reports the flags it runs with, the run-time ones included.
    const info = spawnSync(bin, ['info', '-rpc-addr', '127.0.9.7:25021', '-format', 'json'], { encoding: 'utf8' });
    const flags = (JSON.parse(info.stdout) as { runtime: { v8_flags: string } }).runtime.v8_flags;
    assert.is(flags, '--max-semi-space-size=1 --expose-gc --max-old-space-size=38 --max-opt=2');
  } finally {
    p.kill('SIGKILL');
  }
});

// As the systemd unit starts it (the unit sets the malloc environment): the edge
// flags come from the executable itself, no second process start, and V8 takes
// the code cache built into it (Node warns on stderr when it rejects one).
test('started with the unit\'s environment, the executable runs with its edge flags without re-executing', async () => {
  const bin = process.env.CLOUDY_AGENT_BIN ?? 'dist/cloudy-agent';
  assert.ok(existsSync(bin), `${bin} missing: run make binary`);
  const unit = readFileSync('image/overlay/etc/systemd/system/cloudy-agent.service', 'utf8');
  const unitEnv = Object.fromEntries([...unit.matchAll(/^Environment=(.*)$/gm)].flatMap((m) => m[1]!.split(/\s+/)).map((w) => w.split('=') as [string, string]));
  assert.is(unitEnv.MALLOC_ARENA_MAX, '2');
  const { NODE_OPTIONS: _n, ...base } = process.env;
  const p = spawn(bin, ['agent', '-node', 'v8unit', '-bind', '127.0.9.7:25022', '-rpc-addr', '127.0.9.7:25023', '-profile', 'lan'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...base, ...unitEnv } });
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      await new Promise((r) => setTimeout(r, 200));
      up = spawnSync(bin, ['members', '-rpc-addr', '127.0.9.7:25023'], { encoding: 'utf8' }).stdout.includes('v8unit');
    }
    assert.ok(up, 'agent answered on its RPC port');
    const env = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0');
    assert.not.ok(env.includes(`${REEXEC_MARK}=1`), 'not re-executed');
    const info = spawnSync(bin, ['info', '-rpc-addr', '127.0.9.7:25023', '-format', 'json'], { encoding: 'utf8' });
    assert.is((JSON.parse(info.stdout) as { runtime: { v8_flags: string } }).runtime.v8_flags, '--max-semi-space-size=1 --expose-gc --max-opt=2');
    assert.not.match(stderr, /rejected/i);
  } finally {
    p.kill('SIGKILL');
  }
});

test.run();
