// kill -9 at random moments against a real agent process doing a scripted
// workload (tags -set rounds through RPC, each rewriting the tags file), with a
// real serf agent watching. After each restart: the node comes back alive under
// the same name, the keyring file is whole and still gossips (the watcher is
// encrypted with it), and the tags file is whole and holds either the last
// acknowledged round or the one in flight - never a mix, never empty.
// Bounded: CR_KILLS kills (default 40, ~2 min here) and CR_KILL_BUDGET_S seconds
// (default 180), whichever first; the 200 kills: CR_KILLS=200 CR_KILL_BUDGET_S=900.
// Containers, key rotation and join/leave are not in this workload yet.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerfAgent } from '../support/real-serf.ts';
import { waitFor } from '../support/wait.ts';
import { serfCliAsync } from '../cli/helpers.ts';
import { freePort } from '../support/net.ts';

const root = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'cr-kill-'));
const KEY = 'HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=';
const KILLS = Number(process.env.CR_KILLS ?? 40);
const BUDGET_MS = Number(process.env.CR_KILL_BUDGET_S ?? 180) * 1000;


let serf: SerfAgent | null = null;
let agent: ChildProcess | null = null;
test.after(async () => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  await serf?.stop(); serf?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

test(`kill -9 at random moments (${KILLS} kills, ${BUDGET_MS / 1000} s bound): state whole, node back each time`, async () => {
  const [sp, sr, ap, ar] = [await freePort(), await freePort(), await freePort(), await freePort()];
  serf = await SerfAgent.launch({ name: 'cr-watch', ip: '127.0.0.1', port: sp, rpcPort: sr, eventHandler: false, encrypt: KEY });
  const rpc = `127.0.0.1:${ar}`;
  const data = join(work, 'data');
  const logFile = join(work, 'agent.log');
  const start = (): ChildProcess => {
    const fd = openSync(logFile, 'a');
    const p = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', 'agent', '-node=cr-k', `-bind=127.0.0.1:${ap}`, `-rpc-addr=${rpc}`,
      `-data-dir=${data}`, `-keyring-file=${data}/keyring.json`, `-tags-file=${data}/tags.json`, `-encrypt=${KEY}`,
      `-join=127.0.0.1:${sp}`, '-containers=false'], { cwd: root, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return p;
  };
  const t0 = Date.now();
  let acked = 0; // last round whose tags -set answered
  let kills = 0;
  const bad: string[] = [];
  while (kills < KILLS && Date.now() - t0 < BUDGET_MS) {
    agent = start();
    const exited = new Promise<void>((r) => agent!.once('exit', () => r()));
    await waitFor('agent RPC', async () => (await serfCliAsync(['members', `-rpc-addr=${rpc}`])).code === 0, 60_000);
    // After a restart: the same node is seen alive again by the real serf.
    await waitFor('serf sees cr-k alive', async () => (await serf!.member('cr-k'))?.status === 'alive', 60_000);
    // Check what the previous kill left.
    if (kills > 0) {
      try {
        const keys = JSON.parse(readFileSync(join(data, 'keyring.json'), 'utf8')) as string[];
        if (keys[0] !== KEY) bad.push(`kill ${kills}: keyring ${JSON.stringify(keys)}`);
        const tags = JSON.parse(readFileSync(join(data, 'tags.json'), 'utf8')) as Record<string, string>;
        const r = Number(tags.round ?? 0);
        if (!(r === acked || r === acked + 1) || (r > 0 && tags.check !== `c${r}`)) bad.push(`kill ${kills}: tags ${JSON.stringify(tags)} (acked ${acked})`);
        acked = r;
      } catch (e) { bad.push(`kill ${kills}: ${(e as Error).message}`); }
    }
    // Workload, killed at a random moment.
    const killAt = Date.now() + Math.floor(Math.random() * 600);
    const timer = setTimeout(() => agent!.kill('SIGKILL'), Math.max(0, killAt - Date.now()));
    while (agent.exitCode === null && agent.signalCode === null) {
      const n = acked + 1;
      const r = await serfCliAsync(['tags', '-set', `round=${n}`, '-set', `check=c${n}`, `-rpc-addr=${rpc}`]);
      if (r.code === 0) acked = n; else break;
    }
    clearTimeout(timer);
    if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    await exited;
    kills++;
  }
  agent = start();
  await waitFor('serf sees cr-k alive at the end', async () => (await serf!.member('cr-k'))?.status === 'alive', 60_000);
  console.log(`kill -9: ${kills} kills, ${acked} tag rounds acknowledged, ${bad.length} inconsistencies`);
  assert.ok(kills >= Math.min(KILLS, 3), `only ${kills} kills in the time bound`);
  assert.equal(bad, []);
});

test.run();
