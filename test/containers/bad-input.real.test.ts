// Bad input and broken environments give clear typed errors and leave nothing
// half-created behind: invalid names, unknown templates, out-of-range limits,
// a template that fails (real LXC), a host without the lxc tools.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { access } from 'node:fs/promises';
import { isAgentError } from '../../agent/errors.ts';
import type { Exec } from '../../agent/system/exec.ts';
import { createBridge, deleteLink, destroyContainers, exec, removeDir, sh, startTestAgent, type TestAgent } from './helpers.ts';
import { LxcDriver } from '../../agent/containers/lxc-driver.ts';
import { ContainerManager } from '../../agent/containers/manager.ts';
import { createContainerHealth } from '../../agent/containers/container-health.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { TEMPLATES } from './helpers.ts';

const BR = 'catbr5';
const NET = { bridge: BR, cidr: '10.213.5.0/24', gateway: '10.213.5.1' };
let agent: TestAgent;

async function expectError(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAgentError(e), `not an AgentError: ${String(e)}`);
    assert.is((e as { code: string }).code, code, (e as Error).message);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

async function lxcNames(): Promise<string[]> {
  return (await sh('lxc-ls', ['-1'])).split(/\s+/).filter(Boolean);
}

test.before(async () => {
  await destroyContainers('cattest-bad');
  await createBridge(BR, '10.213.5.1/24');
  agent = await startTestAgent({ network: NET, communityIp: '10.213.5.1', intervalMs: 60_000 });
});

test.after(async () => {
  try { await agent?.stop(); } catch { /* best effort */ }
  await destroyContainers('cattest-bad');
  await deleteLink(BR);
  if (agent) await removeDir(agent.stateDir);
});

test('invalid names, templates and limits are refused before anything is created', async () => {
  const m = agent.containers.manager;
  const before = await lxcNames();
  await expectError(m.create({ name: 'a;rm -rf /', template: 'busybox' }), 'E_INVALID', /invalid container name/);
  await expectError(m.create({ name: '../x', template: 'busybox' }), 'E_INVALID', /invalid container name/);
  await expectError(m.create({ name: 'x'.repeat(80), template: 'busybox' }), 'E_INVALID', /at most 63/);
  await expectError(m.create({ name: 'cattest-bad1', template: 'nope' }), 'E_NOT_FOUND', /unknown template 'nope'; available: .*busybox/);
  await expectError(m.create({ name: 'cattest-bad1', template: '../../bin/sh' }), 'E_INVALID', /invalid template name/);
  await expectError(m.create({ name: 'cattest-bad1', template: 'busybox', memory: '2M' }), 'E_INVALID', /between 4M and 1T/);
  await expectError(m.create({ name: 'cattest-bad1', template: 'busybox', cpus: '999' }), 'E_INVALID', /cpus 999 out of range/);
  await expectError(m.create({ name: 'cattest-bad1', template: 'busybox', restart: 'maybe' }), 'E_INVALID', /restart policy/);
  await expectError(m.create({ name: 'cattest-bad1', template: 'busybox', startDelay: -1 }), 'E_INVALID', /start delay/);
  await expectError(m.create({ name: 'cattest-bad1', template: 'busybox', serviceType: 'x y' }), 'E_INVALID', /invalid service type/);
  assert.equal(await lxcNames(), before);
  assert.equal(await m.list().then((l) => l.filter((c) => c.managed)), []);
});

test('a template that fails early (a tahoe-lafs grid name avahi-ps cannot carry; peerstreamer) leaves no container behind', async () => {
  const m = agent.containers.manager;
  await expectError(m.create({ name: 'cattest-bad2', template: 'tahoe-lafs', templateArgs: ['--grid-name', 'my grid'] }), 'E_EXEC', /--grid-name: letters, digits, _ \. - only/);
  await expectError(m.create({ name: 'cattest-bad3', template: 'peerstreamer' }), 'E_EXEC', /PeerStreamer is not packaged by Debian/);
  assert.not.ok((await lxcNames()).some((n) => n.startsWith('cattest-bad')));
  let exists = true;
  try { await access('/var/lib/lxc/cattest-bad2'); } catch { exists = false; }
  assert.is(exists, false, 'container directory removed');
  assert.equal((await m.list()).filter((c) => c.managed), []);
});

test('a missing bridge is reported clearly', async () => {
  await deleteLink(BR);
  try {
    await expectError(agent.containers.manager.create({ name: 'cattest-bad4', template: 'busybox' }), 'E_UNAVAILABLE', /bridge catbr5 does not exist/);
  } finally {
    await createBridge(BR, '10.213.5.1/24');
  }
  assert.not.ok((await lxcNames()).includes('cattest-bad4'));
});

test('a host without lxc tools: E_UNAVAILABLE with a clear message', async () => {
  // An Exec whose PATH lacks the lxc tools (as on a host without the lxc package).
  const noLxc: Exec = { run: (file, args, opts) => exec.run(file, args, { ...opts, env: { ...(opts?.env ?? {}), PATH: '/nonexistent' } }) };
  const driver = new LxcDriver({ exec: noLxc, logger: Logger.silent(), maxOutputBytes: 65536, templateDirs: [TEMPLATES] });
  await expectError(driver.list(), 'E_UNAVAILABLE', /LXC is not installed or not in PATH \(lxc-ls not found\): install the Debian package "lxc"/);
  const m = new ContainerManager({
    driver, forwarder: { apply: async () => {} }, publisher: { publish: async () => {}, unpublish: async () => {} },
    store: { load: async () => null, save: async () => {} }, checker: createContainerHealth(driver), logger: Logger.silent(),
    counters: new Counters(), limits: defaultLimits(), network: NET, communityIp: '10.213.5.1', cgroupLayout: { memory: 1, cpu: 1 },
    hostCpus: 2, bootId: 'x',
  });
  await expectError(m.create({ name: 'cattest-bad5', template: 'busybox' }), 'E_UNAVAILABLE', /LXC is not installed/);
  await expectError(m.list(), 'E_UNAVAILABLE', /lxc-ls not found/);
});

test('the container limit (maxContainers) is enforced', async () => {
  const m = new ContainerManager({
    driver: new LxcDriver({ exec, logger: Logger.silent(), maxOutputBytes: 65536, templateDirs: [TEMPLATES] }),
    forwarder: { apply: async () => {} }, publisher: { publish: async () => {}, unpublish: async () => {} },
    store: { load: async () => ({ version: 1, bootId: 'x', containers: [{ name: 'cattest-ghost' } as never] }), save: async () => {} },
    checker: { check: async () => true }, logger: Logger.silent(), counters: new Counters(), limits: { ...defaultLimits(), maxContainers: 1 },
    network: NET, communityIp: '10.213.5.1', cgroupLayout: { memory: 1, cpu: 1 }, hostCpus: 2, bootId: 'x',
  });
  await m.init();
  await expectError(m.create({ name: 'cattest-bad6', template: 'busybox' }), 'E_LIMIT', /maxContainers=1/);
  assert.not.ok((await lxcNames()).includes('cattest-bad6'));
});

test.run();
