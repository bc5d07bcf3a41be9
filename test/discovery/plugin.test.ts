// The discovery plug-in inside two real daemons on loopback: CLI subcommands
// from the CLI index reach the agents over RPC; a service published on one is
// found from the other; it survives a restart of its agent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig, type AgentConfig } from '../../agent/config/agent-config.ts';
import { Logger } from '../../agent/obs/log.ts';
import { findCommand } from '../../agent/cli/index.ts';
import { discoveryPlugin } from '../../agent/discovery/plugin.ts';
import { waitFor } from '../support/wait.ts';

const A = { ip: '127.0.5.51', gossip: 20651, rpc: 20652 };
const B = { ip: '127.0.5.52', gossip: 20653, rpc: 20654 };
let dir = '';
const daemons: DaemonHandle[] = [];

function config(n: typeof A, name: string, join: string[]): AgentConfig {
  return {
    ...defaultAgentConfig(),
    nodeName: name, bind: `${n.ip}:${n.gossip}`, rpcAddr: `${n.ip}:${n.rpc}`, profile: 'lan', join,
    snapshotPath: join.length ? '' : `${dir}/a/serf.snapshot`,
  };
}

async function start(n: typeof A, name: string, joinAddrs: string[]): Promise<DaemonHandle> {
  const d = await startDaemon({ ...config(n, name, joinAddrs), plugins: [discoveryPlugin({ federationIntervalMs: 60_000, microcloud: 'guifi' })] }, { logger: Logger.silent() });
  daemons.push(d);
  return d;
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const [name, ...rest] = args;
  const cmd = findCommand(name!);
  assert.ok(cmd, `command ${name} is in the CLI index`);
  let out = '';
  let err = '';
  const code = await cmd!.run(rest, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { code, out, err };
}

async function searchFrom(n: typeof A, ...args: string[]): Promise<Record<string, string>[]> {
  const r = await cli(['search', ...args, `-rpc-addr=${n.ip}:${n.rpc}`]);
  assert.is(r.code, 0, r.err);
  return JSON.parse(r.out) as Record<string, string>[];
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'disc-plugin-'));
});

test.after(async () => {
  for (const d of daemons.reverse()) { try { await d.stop(); } catch { /* ignore */ } }
  await rm(dir, { recursive: true, force: true });
});

test('publish on A, found from B; A announces itself as type serf on its gossip port', async () => {
  await start(A, 'node-a', []);
  await start(B, 'node-b', [`${A.ip}:${A.gossip}`]);
  const p = await cli(['publish', 'Syncthing instance running', 'syncthing', '22000', 'node_id=XYZ', `-rpc-addr=${A.ip}:${A.rpc}`]);
  assert.is(p.code, 0, p.err);
  await waitFor('B sees the syncthing of A', async () => (await searchFrom(B, 'syncthing')).length === 1, 30_000, 200);
  const [e] = await searchFrom(B, 'syncthing');
  assert.equal({ ...e }, { node_id: 'node-a', s: 'syncthing', d: 'Syncthing_instance_running', m: e!.m, i: A.ip, p: '22000', e: 'guifi', t: 'node_id=XYZ' });
  assert.match(e!.m, /\.guifi\.local$/);
  const serfs = await searchFrom(B, 'serf');
  assert.equal(serfs.map((x) => `${x.node_id} ${x.i}:${x.p}`).sort(), [`node-a ${A.ip}:${A.gossip}`, `node-b ${B.ip}:${B.gossip}`]);
  // Errors reach the CLI with their code.
  const bad = await cli(['publish', 'x', 'bad type', '1', `-rpc-addr=${A.ip}:${A.rpc}`]);
  assert.is(bad.code, 1);
  assert.match(bad.err, /E_INVALID/);
});

test('published services survive a restart of the agent', async () => {
  const a = daemons[0]!;
  await a.stop();
  daemons.shift();
  await start(A, 'node-a', []);
  const own = await searchFrom(A, '', 'node-a');
  // The federation history was saved at stop and restored: 1 sample from the first run + 1 now.
  const st = await cli(['stats', '-format=json', `-rpc-addr=${A.ip}:${A.rpc}`]);
  assert.is(st.code, 0, st.err);
  const stats = JSON.parse(st.out);
  assert.is(stats.history.length, 2);
  assert.ok(stats.history[0].t < stats.history[1].t);
  assert.equal(own.map((x) => x.s).sort(), ['serf', 'syncthing']);
  const list = await cli(['services', `-rpc-addr=${A.ip}:${A.rpc}`]);
  assert.is(list.code, 0, list.err);
  assert.match(list.out, /^serf  20651  SERF instance running  announced$/m);
  assert.match(list.out, /^syncthing  22000  Syncthing instance running  announced$/m);
  const u = await cli(['unpublish', 'syncthing', '22000', `-rpc-addr=${A.ip}:${A.rpc}`]);
  assert.is(u.code, 0, u.err);
  assert.equal((await searchFrom(A, '', 'node-a')).map((x) => x.s), ['serf']);
});

test.run();
