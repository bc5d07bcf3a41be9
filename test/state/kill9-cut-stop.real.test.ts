// The kill -9 workload's old finding, made to happen every time (issue 18):
// the agent is killed while `lxc-stop` is running for a busybox container (its
// halt signal sent, init still shutting down). Before the fix the next start
// found the container still RUNNING with desired state "stopped", adopted it as
// "started by hand", and a moment later it stopped on its own: a check right
// after the restart saw the state before the stop, a later one the state after
// it, with no command in between. Now stop and start are written ahead
// (`pending` in containers.json) and the next start finishes a cut stop before
// the containers' commands answer: the first `lxc list` after the restart
// already shows it STOPPED, and nothing is adopted. The same for a cut start
// (RUNNING at the first `lxc list`).
//
// Resources: bridge crcsbr0 (10.226.3.0/24), nft table cr_cutstop, lxc path and
// data dir in a temp dir, container cr-s0, ports chosen at run time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor, sleep } from '../support/wait.ts';
import { freePort } from '../support/net.ts';
import { prepareBundledLxcAgent } from '../support/bundled-lxc-agent.ts';
import { RpcClient } from '../../agent/rpc/client.ts';

const root = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'cr-cs-'));
const BR = 'crcsbr0';
const NET = { bridge: BR, cidr: '10.226.3.0/24', gateway: '10.226.3.1' };
const TABLE = 'cr_cutstop';
const NAME = 'cr-s0';
const data = join(work, 'data');
const lxcPath = join(work, 'lxc');
const logFile = join(work, 'agent.log');
// The bundled agent: it is back in well under a second, before busybox's init has finished halting.
const bundle = join(work, 'agent.cjs');
const sh = (file: string, args: string[]): { code: number; out: string; err: string } => {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
};
const lxcState = (): string => /State:\s+(\S+)/.exec(sh('lxc-info', ['-P', lxcPath, '-n', NAME, '-s']).out)?.[1] ?? 'MISSING';
/** The agent's `lxc-stop`/`lxc-start` for our container, while it runs. */
const toolRunning = (tool: string): boolean => readdirSync('/proc').some((p) => {
  if (!/^\d+$/.test(p)) return false;
  try {
    const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    return argv[0]?.endsWith(tool) === true && argv.includes(lxcPath) && argv.includes(NAME);
  } catch { return false; }
});
const pending = (): string => {
  try {
    const st = JSON.parse(readFileSync(join(data, 'containers/containers.json'), 'utf8')) as { containers: { name: string; pending?: string }[] };
    return st.containers.find((c) => c.name === NAME)?.pending ?? '';
  } catch { return ''; }
};

let agent: ChildProcess | null = null;
const killGroup = async (): Promise<void> => {
  const p = agent;
  if (!p?.pid || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  await exited;
};
test.after(async () => {
  await killGroup();
  sh('lxc-destroy', ['-P', lxcPath, '-f', '-n', NAME]);
  sh('nft', ['delete', 'table', 'ip', TABLE]);
  sh('ip', ['link', 'del', BR]);
  if (!process.env.CR_KEEP) rmSync(work, { recursive: true, force: true });
});

let rpcAddr = '';
let gossip = 0;
let boot = 0;
const start = async (): Promise<RpcClient> => {
  boot++;
  writeFileSync(logFile, `=== boot ${boot} ===\n`, { flag: 'a' });
  const fd = openSync(logFile, 'a');
  agent = spawn(process.execPath, [bundle, 'agent', '-node=cr-cs', `-bind=127.0.0.1:${gossip}`, `-rpc-addr=${rpcAddr}`,
    `-data-dir=${data}`, `-config-file=${join(work, 'agent.json')}`], { cwd: root, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  // The containers' commands answer once the plug-in is up (after it finished cut operations).
  return waitFor('lxc-list', async () => {
    const c = await RpcClient.connect(rpcAddr, { timeoutMs: 2000 });
    try { await c.call('lxc-list', undefined, 'on-success'); return c; } catch (e) { c.close(); throw e; }
  }, 120_000, 200);
};
const listed = async (c: RpcClient): Promise<{ State: string; Desired: string } | undefined> =>
  ((await c.call('lxc-list', undefined, 'on-success')) as { Containers?: { Name: string; State: string; Desired: string }[] }).Containers?.find((x) => x.Name === NAME);

test('a stop or a start cut by kill -9 is finished before the containers answer again: never "before" first and "after" later', async () => {
  prepareBundledLxcAgent({ bundle, work, network: NET, lxcPath, data, nftTable: TABLE });
  rpcAddr = `127.0.0.1:${await freePort()}`;
  gossip = await freePort();
  let c = await start();
  await c.call('lxc-create', { Name: NAME, Template: 'busybox', Restart: 'never' } as never, 'on-success');
  await c.call('lxc-start', { Name: NAME } as never, 'on-success');
  assert.is(lxcState(), 'RUNNING');

  // Cut the stop: once lxc-stop runs (the mark is saved before it), give it a moment to signal init, then kill.
  let cut = false;
  for (let attempt = 0; attempt < 5 && !cut; attempt++) {
    const stop = c.call('lxc-stop', { Name: NAME } as never, 'on-success').catch(() => 'cut');
    await waitFor('lxc-stop running', () => toolRunning('lxc-stop') || lxcState() === 'STOPPED', 30_000, 20);
    assert.is(pending(), 'stop', 'the mark is saved before lxc-stop runs');
    await sleep(300);
    await killGroup();
    await stop;
    c.close();
    // Still running: the kill came mid-stop (else the stop was done already; start it and try again).
    cut = lxcState() === 'RUNNING';
    c = await start();
    if (!cut) await c.call('lxc-start', { Name: NAME } as never, 'on-success');
  }
  assert.ok(cut, 'could not cut a stop in 5 tries');
  // The first answer after the restart already shows the stop finished.
  assert.equal(await listed(c), { ...(await listed(c))!, State: 'STOPPED', Desired: 'stopped' });
  await sleep(3000);
  assert.is(lxcState(), 'STOPPED', 'and it stays so');
  const log = readFileSync(logFile, 'utf8');
  assert.not.match(log, /started-by-hand/);
  assert.match(log, /the agent stopped during its stop: stop finished/);

  // Cut a start the same way: RUNNING at the first answer after the restart.
  const st = c.call('lxc-start', { Name: NAME } as never, 'on-success').catch(() => 'cut');
  await waitFor('lxc-start running', () => toolRunning('lxc-start') || lxcState() === 'RUNNING', 30_000, 20);
  assert.is(pending(), 'start');
  await killGroup();
  await st;
  c.close();
  c = await start();
  assert.equal(await listed(c), { ...(await listed(c))!, State: 'RUNNING', Desired: 'running' });
  assert.is(pending(), '');
  c.close();
});

test.run();
