// Remote control across a mixed cluster, everything real: a full node and two
// edge nodes (our agent) and a real Debian `serf agent`; the full node joins
// ONLY through the serf node, and sends with a relay factor so answers are
// also relayed by other members (the real serf node among them). Through the
// `cloudy-agent remote` CLI on the full node: `status`; a busybox container
// created, started and destroyed on an edge node (real LXC); a service
// published on the edge node that then shows in the real serf node's
// `serf members` tags; members printed as the edge prints them locally.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Discovery } from '../../agent/discovery/index.ts';
import { discoveryPlugin } from '../../agent/discovery/plugin.ts';
import { containersPlugin } from '../../agent/containers/plugin.ts';
import { createBridge, deleteLink, sh, TEMPLATES } from '../containers/helpers.ts';
import { freePort, keygen, ours, startNode, tempDir, type TestNode } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const BR = 'rcbr0';
const NET = { bridge: BR, cidr: '10.222.0.0/24', gateway: '10.222.0.1' };
const CT = 'rctest-web';
const tmp = tempDir('mixed');
const keyFile = join(tmp, 'op.key');
const nodes: TestNode[] = [];
let serf: ChildProcess | null = null;
let serfRpc = '';
let full: TestNode, edge1: TestNode;

async function destroyMine(): Promise<void> {
  const names = (await sh('lxc-ls', ['-1'], true)).split(/\s+/).filter((n) => n.startsWith('rctest-'));
  for (const n of names) await sh('lxc-destroy', ['-f', '-n', n], true);
}

function serfMembers(): { name: string; status: string; tags: Record<string, string> }[] {
  const m = spawnSync('serf', ['members', `-rpc-addr=${serfRpc}`, '-format=json'], { encoding: 'utf8', timeout: 10_000 });
  return m.status === 0 ? (JSON.parse(m.stdout) as { members: { name: string; status: string; tags: Record<string, string> }[] }).members : [];
}

/** The edge's Cloudy services as the real serf node sees them (avahi-ps's decoding: base64 -d | bunzip2). */
function servicesSeenBySerf(node: string): { s: string; p: string; d: string }[] {
  const tag = serfMembers().find((x) => x.name === node)?.tags.services;
  if (tag === undefined) return [];
  const d = spawnSync('sh', ['-c', 'base64 -d | bunzip2'], { input: tag, encoding: 'utf8', timeout: 10_000 });
  return d.status === 0 ? JSON.parse(d.stdout.replace(/'/g, '"')) as { s: string; p: string; d: string }[] : [];
}

test.before(async () => {
  await destroyMine();
  await createBridge(BR, `${NET.gateway}/24`);
  const pub = await keygen(keyFile);
  const sp = await freePort('127.22.1.9');
  const rp = await freePort('127.22.1.9');
  serfRpc = `127.22.1.9:${rp}`;
  serf = spawn('serf', ['agent', '-node=rc-serf', `-bind=127.22.1.9:${sp}`, `-rpc-addr=${serfRpc}`, '-profile=lan', '-log-level=warn'], { stdio: 'ignore' });
  await waitFor('real serf up', () => spawnSync('serf', ['members', `-rpc-addr=${serfRpc}`], { timeout: 5000 }).status === 0);
  const seed = [`127.22.1.9:${sp}`];
  full = await startNode({ name: 'rc-full', host: '127.22.1.1', dataDir: join(tmp, 'full'), mode: 'full', join: seed, tags: { mode: 'full' } });
  let discovery: Discovery | null = null;
  edge1 = await startNode({
    name: 'rc-edge1', host: '127.22.1.2', dataDir: join(tmp, 'edge1'), join: seed, trust: [pub], tags: { mode: 'edge' },
    plugins: [
      discoveryPlugin({ stateDir: join(tmp, 'edge1'), onStarted: (d) => { discovery = d; } }),
      containersPlugin({ publisher: () => discovery!.publisher, stateDir: join(tmp, 'edge1', 'containers'), communityIp: '127.22.1.2', network: NET, templateDirs: [TEMPLATES], intervalMs: 500 }),
    ],
  });
  const edge2 = await startNode({ name: 'rc-edge2', host: '127.22.1.3', dataDir: join(tmp, 'edge2'), join: seed, trust: [pub], tags: { mode: 'edge' } });
  nodes.push(full, edge1, edge2);
  await waitFor('four alive members everywhere', () => serfMembers().filter((m) => m.status === 'alive').length === 4
    && nodes.every((n) => n.h.serf.members().filter((m) => m.status === 'alive').length === 4), 60_000);
});

test.after(async () => {
  for (const n of nodes) await n.h.stop().catch(() => {});
  serf?.kill('SIGKILL');
  await destroyMine();
  await deleteLink(BR);
  rmSync(tmp, { recursive: true, force: true });
});

const remote = (args: string[]) => ours(['remote', '-key', keyFile, '-rpc-addr', full.rpc, '-relay-factor', '2', '-timeout', '60s', ...args]);

test('status through the real serf node, with a relay factor', async () => {
  const r = await remote(['rc-edge1', 'status']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /name = rc-edge1/);
  const m = await remote(['rc-edge2', 'members']);
  assert.is(m.code, 0, m.stderr);
  assert.match(m.stdout, /rc-serf\s+127\.22\.1\.9:\d+\s+alive/);
});

test('a real busybox container created, started and destroyed on the edge node', async () => {
  const c = await remote(['rc-edge1', 'lxc', 'create', CT, '-t', 'busybox', '-restart', 'never']);
  assert.is(c.code, 0, c.stderr + c.stdout);
  const s = await remote(['rc-edge1', 'lxc', 'start', CT]);
  assert.is(s.code, 0, s.stderr);
  await waitFor('container running', async () => /RUNNING/.test((await sh('lxc-info', ['-n', CT, '-s'], true))), 60_000);
  const l = await remote(['rc-edge1', 'lxc', 'list']);
  assert.match(l.stdout, new RegExp(`${CT}\\s+RUNNING`, 'i'));
  const d = await remote(['rc-edge1', 'lxc', 'destroy', CT]);
  assert.is(d.code, 0, d.stderr);
  assert.not.match(await sh('lxc-ls', ['-1'], true), new RegExp(`^${CT}$`, 'm'));
});

test('a service published remotely shows in the real serf node\'s `serf members` tags', async () => {
  const p = await remote(['rc-edge1', 'publish', 'rc remote test', 'rcsvc', '9999']);
  assert.is(p.code, 0, p.stderr);
  await waitFor('rcsvc in serf members', () => servicesSeenBySerf('rc-edge1').some((x) => x.s === 'rcsvc' && x.p === '9999'), 60_000);
  const u = await remote(['rc-edge1', 'unpublish', 'rcsvc', '9999']);
  assert.is(u.code, 0, u.stderr);
  await waitFor('rcsvc withdrawn', () => !servicesSeenBySerf('rc-edge1').some((x) => x.s === 'rcsvc'), 60_000);
  assert.ok(edge1.h.counters.get('remote.executed') >= 7);
});

test.run();
