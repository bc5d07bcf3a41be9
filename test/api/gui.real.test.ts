// The web GUI in a real browser (Debian's chromium through playwright-core)
// against a full node with everything real: a Debian `serf agent` and an edge
// cloudy-agent joined to it, LXC containers on a private bridge. The test
// logs in, sees both in the members list, filters services by type, creates
// and starts a busybox container from the GUI and sees it running and its
// service announced to the real serf agent, sees the statistics chart drawn
// with points, and saves a screenshot of each page under test-artifacts/.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig, type AgentConfig } from '../../agent/config/agent-config.ts';
import { discoveryPlugin } from '../../agent/discovery/plugin.ts';
import type { Discovery } from '../../agent/discovery/index.ts';
import { containersPlugin } from '../../agent/containers/plugin.ts';
import { apiPlugin } from '../../agent/api/plugin.ts';
import { PasswordFile } from '../../agent/api/auth/password.ts';
import { authFiles } from '../../agent/api/auth/index.ts';
import { Logger } from '../../agent/obs/log.ts';
import { TEMPLATES, createBridge, deleteLink, destroyContainers, removeDir } from '../containers/helpers.ts';
import { waitFor } from '../support/wait.ts';
import { freePort } from '../support/net.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const SHOTS = join(REPO, 'test-artifacts', 'gui');
const BR = 'fnbr0';
const NET = { bridge: BR, cidr: '10.221.1.0/24', gateway: '10.221.1.1' };
const CONTAINER = 'fnweb1';
const PASSWORD = 'fn browser test passphrase';
const dataDir = mkdtempSync(join(tmpdir(), 'fn-gui-'));
let serf: ChildProcess | null = null;
const daemons: DaemonHandle[] = [];
let browser: Browser | null = null;
let page: Page;
let httpPort = 0;
let serfRpc = '';
let hostPort = 0;

function serfMembers(): { name: string; status: string; tags: Record<string, string> }[] {
  const m = spawnSync('serf', ['members', `-rpc-addr=${serfRpc}`, '-format=json'], { encoding: 'utf8', timeout: 10_000 });
  return m.status === 0 ? (JSON.parse(m.stdout) as { members: { name: string; status: string; tags: Record<string, string> }[] }).members : [];
}

/** Our node's services as the real serf agent sees them, decoded like avahi-ps (base64 -d | bunzip2). */
function servicesSeenBySerf(): { s: string; p: string }[] {
  const tag = serfMembers().find((m) => m.name === 'fn-full')?.tags.services;
  if (tag === undefined) return [];
  const d = spawnSync('sh', ['-c', 'base64 -d | bunzip2'], { input: tag, encoding: 'utf8', timeout: 10_000 });
  return d.status === 0 ? JSON.parse(d.stdout.replace(/'/g, '"')) as { s: string; p: string }[] : [];
}

const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, name), fullPage: true });

test.before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await destroyContainers('fnweb');
  await createBridge(BR, `${NET.gateway}/24`);
  const serfPort = await freePort();
  const serfRpcPort = await freePort();
  serfRpc = `127.0.0.1:${serfRpcPort}`;
  serf = spawn('serf', ['agent', '-node=fn-serf', `-bind=127.0.0.1:${serfPort}`, `-rpc-addr=${serfRpc}`, '-profile=lan', '-log-level=warn',
    '-tag', 'services=' + spawnSync('sh', ['-c', 'printf "%s" "[{\'s\':\'syncthing\',\'d\':\'fn sync\',\'m\':\'fnserf.guifi.local\',\'i\':\'10.221.1.9\',\'p\':\'22000\',\'e\':\'guifi\',\'t\':\'\'}]" | bzip2 | base64 -w0'], { encoding: 'utf8' }).stdout],
  { stdio: 'ignore' });
  await waitFor('the real serf agent answers RPC', () => spawnSync('serf', ['members', `-rpc-addr=${serfRpc}`]).status === 0, 30_000, 300);
  await new PasswordFile(authFiles(join(dataDir, 'full')).password).set(PASSWORD);
  hostPort = await freePort();
  const base = (name: string, over: Partial<AgentConfig>): AgentConfig => ({
    ...defaultAgentConfig(), nodeName: name, bind: '127.0.0.1:0', rpcAddr: '127.0.0.1:0', profile: 'lan', join: [`127.0.0.1:${serfPort}`], ...over,
  });
  let discovery: Discovery | null = null;
  daemons.push(await startDaemon({
    ...base('fn-full', { mode: 'full', http: '127.0.0.1:0', dataDir: join(dataDir, 'full'), limitOverrides: { historySampleMs: 1000 } }),
    plugins: [
      discoveryPlugin({ stateDir: join(dataDir, 'full'), onStarted: (d) => { discovery = d; } }),
      containersPlugin({ publisher: () => discovery!.publisher, stateDir: join(dataDir, 'full', 'containers'), communityIp: NET.gateway, network: NET, templateDirs: [TEMPLATES], intervalMs: 500 }),
      apiPlugin({ onListening: (a) => { httpPort = a.port; } }),
    ],
  }, { logger: Logger.silent() }));
  daemons.push(await startDaemon({ ...base('fn-edge', { mode: 'edge' }), plugins: [discoveryPlugin({ stateDir: join(dataDir, 'edge') })] }, { logger: Logger.silent() }));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('dialog', (d) => { void d.accept(); });
});

test.after(async () => {
  await browser?.close().catch(() => {});
  for (const d of daemons.reverse()) { try { await d.stop(); } catch { /* best effort */ } }
  serf?.kill('SIGKILL');
  await destroyContainers('fnweb');
  await deleteLink(BR);
  await removeDir(dataDir);
});

test('login page, then the federation: the real serf agent and the edge agent in the members list, live', async () => {
  await page.goto(`http://127.0.0.1:${httpPort}/`);
  await page.waitForSelector('#login-form');
  await shot('01-login.png');
  await page.fill('#password', 'not the password');
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#login-error:has-text("wrong password")');
  await page.fill('#password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#members-body tr[data-name="fn-serf"] td.status-alive', { timeout: 60_000 });
  await page.waitForSelector('#members-body tr[data-name="fn-edge"]', { timeout: 60_000 });
  assert.is(await page.textContent('#node-name'), 'fn-full');
  assert.match((await page.textContent('#fed-size')) ?? '', /3/);
  assert.is(await page.textContent('#members-body tr[data-name="fn-full"] td:nth-child(4)'), 'full');
  assert.is(await page.textContent('#members-body tr[data-name="fn-edge"] td:nth-child(4)'), 'edge');
  await shot('02-federation.png');
});

test('services search: one tab per type, filtered by type and host', async () => {
  await page.click('#service-tabs button[data-type="serf"]');
  await waitFor('two serf services listed', async () => (await page.locator('#services-body tr[data-type="serf"]').count()) === 2, 30_000, 200);
  await page.click('#service-tabs button[data-type="syncthing"]');
  await page.waitForSelector('#services-body tr[data-type="syncthing"]:has-text("fn sync")');
  assert.is(await page.locator('#services-body tr').count(), 1);
  await shot('03-services-syncthing.png');
  await page.click('#service-tabs button[data-type="serf"]');
  await page.fill('#service-host', 'fn-edge');
  await waitFor('one serf service for host fn-edge', async () => (await page.locator('#services-body tr[data-type="serf"]').count()) === 1, 30_000, 200);
  await page.fill('#service-host', '');
});

test('this node: a busybox container created and started from the GUI runs, and the real serf agent sees its service', async () => {
  await page.goto(`http://127.0.0.1:${httpPort}/#/node`);
  await page.waitForSelector('#create-template option[value="busybox"]', { state: 'attached' });
  await page.fill('#create-name', CONTAINER);
  await page.selectOption('#create-template', 'busybox');
  await page.fill('#create-memory', '64M');
  await page.fill('#create-service-type', 'web');
  await page.fill('#create-host-port', String(hostPort));
  await page.click('#create-submit');
  await page.waitForSelector('#create-msg.ok, #create-msg.error', { timeout: 180_000 });
  assert.is(await page.getAttribute('#create-msg', 'class'), 'row-msg ok', (await page.textContent('#create-msg')) ?? '');
  await page.waitForSelector(`#containers-body tr[data-name="${CONTAINER}"] td.state:has-text("RUNNING")`, { timeout: 60_000 });
  await waitFor('the real serf agent sees the web service', () => servicesSeenBySerf().some((r) => r.s === 'web' && r.p === String(hostPort)), 60_000, 500);
  await page.waitForSelector(`#containers-body tr[data-name="${CONTAINER}"] td.service:has-text("✓")`, { timeout: 30_000 });
  await shot('04-node.png');
  // An error is shown where it happened: a second container with the same name.
  await page.fill('#create-name', CONTAINER);
  await page.click('#create-submit');
  await page.waitForSelector('#create-msg.error:has-text("exists")', { timeout: 30_000 });
});

test('statistics: the chart is drawn with data points; CSV export link', async () => {
  await page.goto(`http://127.0.0.1:${httpPort}/#/stats`);
  await page.click('#range-tabs button[data-range="1h"]');
  await page.waitForSelector('#chart-federation circle.point', { timeout: 30_000 });
  assert.ok(await page.locator('#chart-federation circle.point').count() >= 3, 'points for 3 series');
  assert.ok(await page.locator('#chart-types circle.point').count() >= 1);
  assert.match((await page.getAttribute('#export a', 'href')) ?? '', /format=csv&range=1h/);
  await shot('05-statistics.png');
});

test('one member\'s page (#/node/NAME, what an edge node\'s proxy opens): tags and decoded services', async () => {
  await page.goto(`http://127.0.0.1:${httpPort}/#/federation`);
  await page.click('#members-body tr[data-name="fn-serf"] a');
  await page.waitForSelector('#member-services tr[data-type="syncthing"]');
  assert.match((await page.textContent('#member-facts')) ?? '', /alive/);
  await shot('06-member-fn-serf.png');
});

test('phone-sized screen; destroy from the GUI withdraws the service', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`http://127.0.0.1:${httpPort}/#/federation`);
  await page.waitForSelector('#members-body tr[data-name="fn-serf"]');
  await shot('07-federation-phone.png');
  await page.goto(`http://127.0.0.1:${httpPort}/#/node`);
  await page.click(`#containers-body tr[data-name="${CONTAINER}"] button[data-action="destroy"]`);
  await page.waitForSelector(`#containers-body tr[data-name="${CONTAINER}"]`, { state: 'detached', timeout: 60_000 });
  await waitFor('the real serf agent no longer sees the web service', () => !servicesSeenBySerf().some((r) => r.s === 'web'), 60_000, 500);
  await shot('08-node-phone.png');
});

test.run();
