// Desired state across agent restarts and host reboots (real LXC):
// - stopping the agent never stops containers; a new agent adopts them;
// - after a "reboot" (boot id in the state file differs from the kernel's and
//   the containers are down) autostart containers come up in lxc.start.order
//   with their lxc.start.delay, the others stay stopped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBridge, deleteLink, destroyContainers, removeDir, sh, startTestAgent, type TestAgent } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const BR = 'catbr6';
const NET = { bridge: BR, cidr: '10.213.6.0/24', gateway: '10.213.6.1' };
const IP = '10.213.6.1';
let stateDir = '';
let agent: TestAgent | null = null;

const state = async (n: string): Promise<string> => ((await sh('lxc-info', ['-sH', '-n', n])).trim());

test.before(async () => {
  await destroyContainers('cattest-rb');
  await createBridge(BR, '10.213.6.1/24');
  stateDir = await mkdtemp(join(tmpdir(), 'cattest-rb-'));
});

test.after(async () => {
  try { await agent?.stop(); } catch { /* best effort */ }
  await destroyContainers('cattest-rb');
  await deleteLink(BR);
  await removeDir(stateDir);
});

test('stopping the agent leaves containers running; a restarted agent adopts them and republishes', async () => {
  agent = await startTestAgent({ network: NET, communityIp: IP, stateDir });
  const mk = (Name: string, o: Record<string, unknown>) => agent!.rpc.call('lxc-create', { Name, Template: 'busybox', Start: true, ...o } as never, 'on-success');
  await mk('cattest-rb-c', { Autostart: true, StartOrder: 30, HostPort: 18603 });
  await mk('cattest-rb-a', { Autostart: true, StartOrder: 10, StartDelay: 2, HostPort: 18601 });
  await mk('cattest-rb-b', { Autostart: true, StartOrder: 20, HostPort: 18602 });
  await mk('cattest-rb-m', { Autostart: false, HostPort: 18604 });
  await waitFor('4 services announced', () => agent!.announced().length === 4, 20_000);
  const pids = await Promise.all(['a', 'b', 'c', 'm'].map((x) => sh('lxc-info', ['-pH', '-n', `cattest-rb-${x}`])));
  assert.match(await readFile(`/var/lib/lxc/cattest-rb-a/config`, 'utf8'), /lxc\.start\.auto = 1[\s\S]*lxc\.start\.order = 10[\s\S]*lxc\.start\.delay = 2/);
  await agent.stop();
  agent = null;
  for (const x of ['a', 'b', 'c', 'm']) assert.is(await state(`cattest-rb-${x}`), 'RUNNING', `cattest-rb-${x} survives the agent`);

  agent = await startTestAgent({ network: NET, communityIp: IP, stateDir });
  await waitFor('services announced again', () => agent!.announced().length === 4, 20_000);
  const pids2 = await Promise.all(['a', 'b', 'c', 'm'].map((x) => sh('lxc-info', ['-pH', '-n', `cattest-rb-${x}`])));
  assert.equal(pids2, pids, 'same init processes: nothing was restarted');
  assert.not.ok(agent.events.some((e) => e.kind === 'restarting' || e.kind === 'stopped-unexpectedly'));
  await agent.stop();
  agent = null;
});

test('after a host reboot autostart containers start in order with their delays; the others stay stopped', async () => {
  // Simulate the reboot: every container is down and the saved boot id is an older one.
  for (const x of ['a', 'b', 'c', 'm']) await sh('lxc-stop', ['-k', '-n', `cattest-rb-${x}`]);
  const file = join(stateDir, 'containers.json');
  const st = JSON.parse(await readFile(file, 'utf8'));
  st.bootId = 'an-earlier-boot';
  await writeFile(file, JSON.stringify(st));

  agent = await startTestAgent({ network: NET, communityIp: IP, stateDir });
  await waitFor('autostart containers running', async () => (await state('cattest-rb-c')) === 'RUNNING', 30_000);
  const starts = agent.events.filter((e) => e.kind === 'restarting');
  assert.equal(starts.map((e) => e.name), ['cattest-rb-a', 'cattest-rb-b', 'cattest-rb-c']);
  assert.ok(starts.every((e) => e.detail.startsWith('autostart')));
  // lxc.start.delay of a (2 s) separates a from b.
  assert.ok(starts[1]!.at - starts[0]!.at >= 1900, `delay honoured: ${starts[1]!.at - starts[0]!.at} ms`);
  assert.is(await state('cattest-rb-m'), 'STOPPED');
  await waitFor('3 services announced', () => agent!.announced().length === 3, 20_000);
  const saved = JSON.parse(await readFile(file, 'utf8'));
  assert.is(saved.containers.find((c: { name: string }) => c.name === 'cattest-rb-m').desired, 'stopped');
  assert.is.not(saved.bootId, 'an-earlier-boot');
});

test.run();
