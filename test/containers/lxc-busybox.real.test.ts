// Real LXC, through the agent's RPC commands: create (limits, restart policy,
// service), start, exec, limits in the cgroup, crash -> restart per policy,
// service published while running and withdrawn when stopped, stop by hand,
// config change applied live, destroy. The publisher is the real discovery
// ServiceAnnouncer writing the Cloudy `services` tag (into a tag-only serf stand-in).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { createBridge, deleteLink, destroyContainers, removeDir, sh, startTestAgent, type TestAgent } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const BR = 'catbr1';
const NET = { bridge: BR, cidr: '10.213.1.0/24', gateway: '10.213.1.1' };
const COMMUNITY_IP = '10.213.1.1';
const NAME = 'cattest-bb1';
let agent: TestAgent;

type Wire = Record<string, unknown>;
const call = (cmd: string, body?: Record<string, unknown>): Promise<Wire> => agent.rpc.call(cmd, body as never, 'on-success') as Promise<Wire>;

test.before(async () => {
  await destroyContainers('cattest-bb');
  await createBridge(BR, '10.213.1.1/24');
  agent = await startTestAgent({ network: NET, communityIp: COMMUNITY_IP });
});

test.after(async () => {
  try { await agent?.stop(); } catch { /* best effort */ }
  await destroyContainers('cattest-bb');
  await deleteLink(BR);
  if (agent) await removeDir(agent.stateDir);
});

test('create + start a busybox container through RPC, with limits and a service', async () => {
  const t0 = Date.now();
  const created = await call('lxc-create', {
    Name: NAME, Template: 'busybox', Memory: '64M', MilliCPUs: 500, Restart: 'always', HostPort: 18080,
  });
  const tCreate = Date.now() - t0;
  assert.is(created.Name, NAME);
  assert.is(created.State, 'STOPPED');
  assert.is(created.IPv4, '10.213.1.2');
  const svc = created.Service as Wire;
  assert.is(svc.Type, 'web');
  assert.is(svc.Port, 80);
  assert.is(svc.HostPort, 18080);
  const started = await call('lxc-start', { Name: NAME });
  const tTotal = Date.now() - t0;
  assert.is(started.State, 'RUNNING');
  console.log(`busybox container: create ${tCreate} ms, create+start ${tTotal} ms`);
  const list = (await call('lxc-list')).Containers as Wire[];
  assert.ok(list.some((c) => c.Name === NAME && c.State === 'RUNNING' && c.Desired === 'running'));
});

test('exec runs a command in the container and returns its output', async () => {
  const r = await call('lxc-exec', { Name: NAME, Command: ['/bin/sh', '-c', 'cat /etc/hostname; echo err >&2; exit 3'] });
  assert.is(r.Stdout, `${NAME}\n`);
  assert.is(r.Stderr, 'err\n');
  assert.is(r.ExitCode, 3);
  const web = await call('lxc-exec', { Name: NAME, Command: ['wget', '-qO-', 'http://127.0.0.1/'] });
  assert.match(String(web.Stdout), `cloudy busybox container ${NAME}`);
});

test('limits are in the container cgroup', async () => {
  const mem = (await sh('lxc-cgroup', ['-n', NAME, 'memory.limit_in_bytes'], true)).trim()
    || (await sh('lxc-cgroup', ['-n', NAME, 'memory.max'])).trim();
  assert.is(mem, String(64 * 1024 * 1024));
  // cgroup v1 on this host: the quota file itself, read from the host's hierarchy.
  const quota = await readFile(`/sys/fs/cgroup/cpu/lxc.payload.${NAME}/cpu.cfs_quota_us`, 'utf8').catch(async () =>
    (await readFile(`/sys/fs/cgroup/lxc.payload.${NAME}/cpu.max`, 'utf8')).split(' ')[0]!);
  assert.is(quota.trim(), '50000');
});

test('the service is published with the community IP and published port while it runs', async () => {
  const rec = await waitFor('service in the services tag', () => agent.announced().find((r) => r.s === 'web'));
  assert.is(rec.p, '18080');
  assert.is(rec.i, COMMUNITY_IP);
  const v = await call('lxc-info', { Name: NAME });
  assert.is((v.Service as Wire).Published, true);
});

test('a crash (init killed from the host) is reported, the service withdrawn, and the container restarted (always)', async () => {
  const pid = Number((await call('lxc-info', { Name: NAME })).PID);
  assert.ok(pid > 1);
  const before = agent.events.length;
  process.kill(pid, 'SIGKILL');
  await waitFor('stopped-unexpectedly event', () => agent.events.slice(before).find((e) => e.kind === 'stopped-unexpectedly' && e.name === NAME), 20_000);
  await waitFor('service withdrawn', () => agent.events.slice(before).find((e) => e.kind === 'service-withdrawn'), 20_000);
  const crash = agent.events.slice(before).find((e) => e.kind === 'stopped-unexpectedly')!;
  assert.match(crash.detail, 'exit: failure');
  await waitFor('running again with a new init', async () => {
    const v = await call('lxc-info', { Name: NAME });
    return v.State === 'RUNNING' && Number(v.PID) !== pid && Number(v.PID) > 1;
  }, 30_000);
  await waitFor('service published again', () => agent.announced().some((r) => r.s === 'web'), 30_000);
  assert.ok(agent.counters.get('containers.restarts') >= 1);
});

test('config changes limits live and in the LXC config', async () => {
  const r = await call('lxc-config', { Name: NAME, Memory: '96M', Restart: 'on-failure' });
  assert.is(r.MemoryBytes, 96 * 1024 * 1024);
  assert.is(r.Restart, 'on-failure');
  assert.is((r.Config as Record<string, string>)['lxc.cgroup.memory.limit_in_bytes'], String(96 * 1024 * 1024));
  const live = (await sh('lxc-cgroup', ['-n', NAME, 'memory.limit_in_bytes'])).trim();
  assert.is(live, String(96 * 1024 * 1024));
});

test('a clean stop by hand (lxc-stop) is noticed; on-failure accepts it and withdraws the service', async () => {
  const before = agent.events.length;
  await sh('lxc-stop', ['-n', NAME, '-t', '20']);
  const ev = await waitFor('stop noticed', () => agent.events.slice(before).find((e) => e.kind === 'stopped-unexpectedly'), 20_000);
  assert.match(ev.detail, 'exit: clean');
  await waitFor('desired state now stopped', async () => (await call('lxc-info', { Name: NAME })).Desired === 'stopped', 10_000);
  await waitFor('service withdrawn', () => !agent.announced().some((r) => r.s === 'web'), 10_000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.is((await call('lxc-info', { Name: NAME })).State, 'STOPPED', 'not restarted');
});

test('start/stop through RPC publish and withdraw; the state file keeps desired state', async () => {
  await call('lxc-start', { Name: NAME });
  await waitFor('published', () => agent.announced().some((r) => r.s === 'web'), 20_000);
  const st = JSON.parse(await readFile(`${agent.stateDir}/containers.json`, 'utf8'));
  assert.is(st.containers.find((c: Wire) => c.name === NAME).desired, 'running');
  const stopped = await call('lxc-stop', { Name: NAME });
  assert.is(stopped.State, 'STOPPED');
  assert.is(agent.announced().some((r) => r.s === 'web'), false);
  const st2 = JSON.parse(await readFile(`${agent.stateDir}/containers.json`, 'utf8'));
  assert.is(st2.containers.find((c: Wire) => c.name === NAME).desired, 'stopped');
});

test('errors come back as typed RPC errors', async () => {
  for (const [cmd, body, re] of [
    ['lxc-create', { Name: 'a;rm -rf /', Template: 'busybox' }, /E_INVALID: invalid container name/],
    ['lxc-create', { Name: 'cattest-bbx', Template: 'nosuchtemplate' }, /E_NOT_FOUND: unknown template 'nosuchtemplate'/],
    ['lxc-create', { Name: 'cattest-bbx', Template: 'busybox', Memory: '1K' }, /E_INVALID: memory limit/],
    ['lxc-start', { Name: 'cattest-none' }, /E_NOT_FOUND/],
    ['lxc-exec', { Name: NAME, Command: ['true'] }, /E_STATE: container cattest-bb1 is stopped/],
  ] as const) {
    try {
      await call(cmd, body);
      assert.unreachable(`${cmd} should fail`);
    } catch (e) {
      assert.match((e as Error).message, re);
    }
  }
  assert.not.match(await sh('lxc-ls', ['-1']), 'cattest-bbx');
});

test('destroy removes the container, its state and its service', async () => {
  await call('lxc-start', { Name: NAME });
  await waitFor('published', () => agent.announced().some((r) => r.s === 'web'), 20_000);
  await call('lxc-destroy', { Name: NAME });
  assert.not.match(await sh('lxc-ls', ['-1']), NAME);
  assert.is(agent.announced().some((r) => r.s === 'web'), false);
  const st = JSON.parse(await readFile(`${agent.stateDir}/containers.json`, 'utf8'));
  assert.is(st.containers.length, 0);
});

test.run();
