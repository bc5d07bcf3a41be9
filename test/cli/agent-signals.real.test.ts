// The agent executable's signal handling, like serf: SIGINT leaves gracefully,
// SIGTERM stops without leaving (leave_on_terminate=false by default, true via
// config), SIGHUP reloads log level and event handlers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serfCli } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const root = new URL('../..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'agent-signals-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

async function runAgent(name: string, port: number, extra: string[], act: (log: () => string, pid: number) => Promise<void>): Promise<{ code: number | null; log: string }> {
  const logFile = join(tmp, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const rpc = `127.0.4.50:${port + 10}`;
  const p = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', 'agent', `-node=${name}`, `-bind=127.0.4.50:${port}`, `-rpc-addr=${rpc}`, '-profile=lan', ...extra], { cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exit = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  const log = () => readFileSync(logFile, 'utf8');
  try {
    await waitFor(`${name} RPC`, () => serfCli(['members', `-rpc-addr=${rpc}`]).code === 0, 60_000);
    await act(log, p.pid!);
    const code = await Promise.race([exit, new Promise<'t'>((r) => setTimeout(() => r('t'), 20_000))]);
    assert.ok(code !== 't', `${name} did not exit`);
    return { code: code as number | null, log: log() };
  } finally {
    if (p.exitCode === null && p.signalCode === null) { p.kill('SIGKILL'); await exit; }
  }
}

test('SIGINT: graceful leave, exit 0', async () => {
  const r = await runAgent('sig1', 19501, [], async (_l, pid) => { process.kill(pid, 'SIGINT'); });
  assert.is(r.code, 0);
  assert.match(r.log, /Caught signal: interrupt/);
  assert.match(r.log, /Gracefully leaving the cluster/);
});

test('SIGTERM: no leave by default; leave with leave_on_terminate', async () => {
  const r = await runAgent('sig2', 19502, [], async (_l, pid) => { process.kill(pid, 'SIGTERM'); });
  assert.is(r.code, 0);
  assert.match(r.log, /Caught signal: terminated/);
  assert.not.match(r.log, /Gracefully leaving/);
  const cfgFile = join(tmp, 'lot.json');
  writeFileSync(cfgFile, JSON.stringify({ leave_on_terminate: true }));
  const r2 = await runAgent('sig3', 19503, ['-config-file', cfgFile], async (_l, pid) => { process.kill(pid, 'SIGTERM'); });
  assert.is(r2.code, 0);
  assert.match(r2.log, /Gracefully leaving the cluster/);
});

test('SIGHUP: reload re-reads the config file (log level, handlers)', async () => {
  const cfgFile = join(tmp, 'hup.json');
  writeFileSync(cfgFile, JSON.stringify({ log_level: 'info' }));
  const r = await runAgent('sig4', 19504, ['-config-file', cfgFile], async (log, pid) => {
    writeFileSync(cfgFile, JSON.stringify({ log_level: 'debug', event_handlers: ['user:x=true'] }));
    process.kill(pid, 'SIGHUP');
    await waitFor('reload logged', () => /reloaded: log level DEBUG, 1 event handler/.test(log()));
    assert.match(serfCli(['info', '-rpc-addr=127.0.4.50:19514']).stdout, /user:x = true/);
    process.kill(pid, 'SIGINT');
  });
  assert.is(r.code, 0);
});

test.run();
