// End to end, everything real: our whole agent (serf layer over UDP/TCP,
// RPC, discovery and containers plug-ins) joined with a real Debian `serf
// agent`; a busybox container created and started through our RPC. While the
// container runs, the real serf agent's view of our `services` tag (decoded
// with avahi-ps's own shell pipeline: base64 -d | bunzip2) lists its service;
// when the container stops, the service disappears from that view.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';
import { discoveryPlugin } from '../../agent/discovery/plugin.ts';
import type { Discovery } from '../../agent/discovery/index.ts';
import { containersPlugin } from '../../agent/containers/plugin.ts';
import { RpcClient } from '../../agent/rpc/client.ts';
import { Logger } from '../../agent/obs/log.ts';
import { TEMPLATES, createBridge, deleteLink, destroyContainers, removeDir } from './helpers.ts';
import { waitFor } from '../support/wait.ts';
import { SerfAgent } from '../support/real-serf.ts';

const BR = 'catbr20';
const NET = { bridge: BR, cidr: '10.213.20.0/24', gateway: '10.213.20.1' };
const COMMUNITY_IP = '10.213.20.1';
const NAME = 'cattest-rs1';
const HOST_PORT = 18820;
const OURS = { name: 'cat-ours', bind: '127.0.7.1:7946', rpc: '127.0.7.1:7373' };
const SERF = { name: 'cat-serf', bind: '127.0.7.2:7946', rpc: '127.0.7.2:7373' };
const dataDir = mkdtempSync(join(tmpdir(), 'cattest-rs-'));
let serf: SerfAgent | null = null;
let agent: DaemonHandle | null = null;
let rpc: RpcClient | null = null;

interface Record7 { s: string; p: string; i: string; d: string }

/** What the real serf agent says our node announces, decoded like avahi-ps does. */
function servicesSeenBySerf(): Record7[] | null {
  const m = spawnSync('serf', ['members', `-rpc-addr=${SERF.rpc}`, '-status=alive', '-format=json'], { encoding: 'utf8', timeout: 10_000 });
  if (m.status !== 0) return null;
  const me = (JSON.parse(m.stdout) as { members: { name: string; tags: Record<string, string> }[] }).members.find((x) => x.name === OURS.name);
  const tag = me?.tags.services;
  if (tag === undefined) return null;
  const d = spawnSync('sh', ['-c', 'base64 -d | bunzip2'], { input: tag, encoding: 'utf8', timeout: 10_000 });
  assert.is(d.status, 0, `shell pipeline failed: ${d.stderr}`);
  return JSON.parse(d.stdout.replace(/'/g, '"')) as Record7[];
}

test.before(async () => {
  await destroyContainers('cattest-rs');
  await createBridge(BR, `${NET.gateway}/24`);
  serf = await SerfAgent.launch({ name: SERF.name, ip: '127.0.7.2', port: 7946, rpcPort: 7373, eventHandler: false, protocol: null, logLevel: 'warn' });
  let discovery: Discovery | null = null;
  agent = await startDaemon({
    ...defaultAgentConfig(),
    nodeName: OURS.name, bind: OURS.bind, rpcAddr: OURS.rpc, profile: 'lan', join: [SERF.bind], dataDir,
    plugins: [
      discoveryPlugin({ stateDir: join(dataDir, 'discovery'), onStarted: (d) => { discovery = d; } }),
      containersPlugin({
        publisher: () => discovery!.publisher, stateDir: join(dataDir, 'containers'), communityIp: COMMUNITY_IP,
        network: NET, templateDirs: [TEMPLATES], intervalMs: 500,
      }),
    ],
  }, { logger: Logger.silent() });
  rpc = await RpcClient.connect(OURS.rpc);
  await waitFor('the real serf agent sees our agent alive with its serf self-announcement',
    () => servicesSeenBySerf()?.some((r) => r.s === 'serf'), 60_000, 500);
});

test.after(async () => {
  try { rpc?.close(); } catch { /* closing */ }
  try { await agent?.stop(); } catch { /* best effort */ }
  await serf?.stop();
  await destroyContainers('cattest-rs');
  await deleteLink(BR);
  await removeDir(dataDir);
});

const call = (cmd: string, body?: Record<string, unknown>) => rpc!.call(cmd, body as never, 'on-success') as Promise<Record<string, unknown>>;

test('a running container\'s service appears in the real serf agent\'s view of our tag', async () => {
  assert.not.ok(servicesSeenBySerf()!.some((r) => r.p === String(HOST_PORT)), 'no container service before the container exists');
  await call('lxc-create', { Name: NAME, Template: 'busybox', Restart: 'never', HostPort: HOST_PORT });
  await call('lxc-start', { Name: NAME });
  const recs = await waitFor('the container service in serf\'s view', () => {
    const r = servicesSeenBySerf();
    return r?.some((x) => x.p === String(HOST_PORT)) ? r : null;
  }, 60_000, 500);
  const svc = recs.find((x) => x.p === String(HOST_PORT))!;
  assert.is(svc.s, 'web');
  assert.is(svc.i, COMMUNITY_IP);
  assert.ok(recs.some((x) => x.s === 'serf'), 'the agent still announces itself');
});

test('when the container stops, its service disappears from the real serf agent\'s view', async () => {
  await call('lxc-stop', { Name: NAME });
  await waitFor('the container service gone from serf\'s view', () => {
    const r = servicesSeenBySerf();
    return r !== null && !r.some((x) => x.p === String(HOST_PORT)) && r.some((x) => x.s === 'serf');
  }, 60_000, 500);
  await call('lxc-destroy', { Name: NAME });
});

test.run();
