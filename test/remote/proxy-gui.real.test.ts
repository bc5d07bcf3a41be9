// The management proxy in front of a REAL full node: our agent in full mode
// with its API plug-in (GUI and JSON API on -http), which announces
// mode=full and http=PORT; a browser opening the edge node's port gets the
// full node's GUI for this edge node, and the GUI's own API calls go through
// the proxy to the full node (guest view: /api/v1/info answers without login).
// State-changing requests through the proxy: an HTTP client and a browser log
// in on the full node through the edge's port and, with the full node's CSRF
// token, publish a service on the edge node by remote control (the full
// node's page for that edge node); the result shows on the page and in the
// edge node's own services. Without the CSRF token: 403.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { apiPlugin } from '../../agent/api/plugin.ts';
import { proxyPlugin } from '../../agent/api/proxy.ts';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';
import { discoveryPlugin } from '../../agent/discovery/plugin.ts';
import { remotePlugin } from '../../agent/remote/plugin.ts';
import { containersPlugin } from '../../agent/containers/plugin.ts';
import { PasswordFile } from '../../agent/api/auth/password.ts';
import { authFiles } from '../../agent/api/auth/index.ts';
import { COMMANDS } from '../../agent/cli/index.ts';
import { freePort, keygen, startNode, tempDir, type TestNode } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const ART = join(new URL('../..', import.meta.url).pathname, 'test-artifacts', 'remote');
mkdirSync(ART, { recursive: true });
const tmp = tempDir('proxy-gui');
let full: DaemonHandle | null = null;
let edge: TestNode | null = null;
let browser: Browser | null = null;
let proxyUrl = '';
const PASSWORD = 'rc proxied posts passphrase';

test.before(async () => {
  const host = '127.22.4.1';
  const gport = await freePort(host);
  // The full node signs remote commands with <data-dir>/operator.key; the edge trusts it.
  const fullPub = await keygen(join(tmp, 'full', 'operator.key'));
  await new PasswordFile(authFiles(join(tmp, 'full')).password).set(PASSWORD);
  full = await startDaemon({
    ...defaultAgentConfig(), nodeName: 'rc-gfull', bind: `${host}:${gport}`, rpcAddr: `${host}:${await freePort(host)}`, profile: 'lan', mode: 'full',
    dataDir: join(tmp, 'full'), containers: false, http: `${host}:${await freePort(host)}`, httpGuest: true,
    plugins: [
      discoveryPlugin({ stateDir: join(tmp, 'full') }),
      containersPlugin({ enabled: false, publisher: () => null }),
      remotePlugin({ dataDir: join(tmp, 'full'), trustSpecs: [], verbs: () => Object.fromEntries(COMMANDS.map((c) => [c.name, c])) }),
      apiPlugin(),
    ],
  }, { writeLog: null });
  const eport = await freePort('127.22.4.2');
  proxyUrl = `http://127.22.4.2:${eport}`;
  edge = await startNode({ name: 'rc-gedge', host: '127.22.4.2', dataDir: join(tmp, 'edge'), trust: [fullPub], join: [`${host}:${gport}`], extraPlugins: [proxyPlugin({ host: '127.22.4.2', port: eport })] });
  await waitFor('the full node announces its GUI port', () => edge!.h.serf.members().some((m) => m.name === 'rc-gfull' && m.status === 'alive' && m.tags.mode === 'full' && m.tags.http !== undefined));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
});

test.after(async () => {
  await browser?.close();
  await edge?.h.stop();
  await full?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('the edge port serves the real full node\'s GUI for this edge node; its API calls go through the proxy', async () => {
  const page = await browser!.newPage();
  const apiCalls: { url: string; status: number }[] = [];
  page.on('response', (r) => { if (r.url().includes('/api/v1/')) apiCalls.push({ url: r.url(), status: r.status() }); });
  const resp = await page.goto(`${proxyUrl}/`, { timeout: 20_000 });
  assert.is(resp!.status(), 200);
  assert.match(await page.title(), /^Cloudy agent/);
  assert.match(page.url(), new RegExp(`^${proxyUrl}/\\?node=rc-gedge#/node/rc-gedge$`));
  await waitFor('the GUI called its API through the proxy', () => apiCalls.length > 0, 20_000);
  assert.ok(apiCalls.every((c) => c.url.startsWith(proxyUrl)));
  await page.screenshot({ path: join(ART, 'proxy-gui-full-node.png') });
  const info = await page.evaluate(async () => (await fetch('/api/v1/info')).json()) as Record<string, unknown>;
  assert.match(JSON.stringify(info), /rc-gfull/);
  await page.close();
  assert.ok(edge!.h.counters.get('proxy.forwarded') >= 2);
});

/** A request through the edge's proxy; returns status, headers and body text. */
async function viaProxy(method: string, path: string, o: { body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(`${proxyUrl}${path}`, {
    method, headers: { ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}), redirect: 'manual',
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

const edgeServices = async (): Promise<string> => {
  const r = await edge!.h.registry.invoke('services', {}, { origin: 'rpc', role: 'admin' }) as { Services: { Type: string; Port: number; Description: string }[] };
  return r.Services.map((x) => `${x.Type}:${x.Port}:${x.Description}`).join(',');
};

test('an HTTP client logs in through the proxy and publishes a service on the edge node (POST with the full node\'s CSRF token)', async () => {
  const login = await viaProxy('POST', '/api/v1/session', { body: { password: PASSWORD } });
  assert.is(login.status, 200, login.text);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const csrf = (JSON.parse(login.text) as { csrf: string }).csrf;
  const body = { Node: 'rc-gedge', Command: 'publish', Args: ['Edge web', 'web', '8081'], TimeoutMs: 30_000 };
  // Without the token: refused by the full node, nothing sent to the edge.
  const noCsrf = await viaProxy('POST', '/api/v1/commands/remote.run', { body, headers: { cookie } });
  assert.is(noCsrf.status, 403);
  assert.match(noCsrf.text, /E_CSRF/);
  const r = await viaProxy('POST', '/api/v1/commands/remote.run', { body, headers: { cookie, 'x-csrf-token': csrf } });
  assert.is(r.status, 200, r.text);
  const res = (JSON.parse(r.text) as { result: { Results: { Node: string; Status: string; Exit: number }[] } }).result.Results;
  assert.equal(res.map((x) => [x.Node, x.Status, x.Exit]), [['rc-gedge', 'ok', 0]]);
  assert.match(await edgeServices(), /web:8081:Edge web/);
  // Visible on the full node's page data for that node, through the proxy: its gossiped services (avahi-ps writes spaces as _).
  let seen = '';
  await waitFor(`the full node sees the new service (${seen})`, async () => /Edge_web/.test(seen = (await viaProxy('GET', '/api/v1/members/rc-gedge', { headers: { cookie } })).text), 30_000).catch((e) => { throw new Error(`${(e as Error).message}: ${seen} / edge tags ${JSON.stringify(edge!.h.serf.localMember().tags)}`); });
  assert.is(edge!.h.counters.get('remote.executed'), 1);
});

test('a browser on the edge port logs in and publishes a service on the edge node from the full node\'s page for it', async () => {
  const page = await browser!.newPage();
  const posts: { url: string; status: number; csrf: boolean }[] = [];
  page.on('response', (r) => {
    const q = r.request();
    if (q.method() === 'POST') posts.push({ url: r.url(), status: r.status(), csrf: q.headers()['x-csrf-token'] !== undefined });
  });
  // (not `/`: the proxy redirects that to this node's page)
  await page.goto(`${proxyUrl}/?login=1#/login`, { timeout: 20_000 });
  await page.waitForSelector('#login-form');
  await page.fill('#password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#members-body', { timeout: 30_000 });
  await page.goto(`${proxyUrl}/?node=rc-gedge#/node/rc-gedge`);
  await page.waitForSelector('#remote-publish-form', { timeout: 30_000 });
  await page.waitForSelector('#remote-services:has-text("Edge web")', { timeout: 30_000 });
  // The edge runs without containers here: its own answer, shown as text.
  await page.waitForSelector('#remote-containers:has-text("unavailable")', { timeout: 30_000 });
  await page.fill('#remote-pub-description', 'Edge browser');
  await page.fill('#remote-pub-type', 'tahoe');
  await page.fill('#remote-pub-port', '3456');
  await page.click('#remote-publish-form button[type=submit]');
  await page.waitForSelector('#remote-result:has-text("Done.")', { timeout: 60_000 });
  // The page reloads the edge's services (remote.view) and shows the new one, as text.
  await page.waitForSelector('#remote-services:has-text("Edge browser")', { timeout: 30_000 });
  await page.screenshot({ path: join(ART, 'proxy-gui-remote-publish.png'), fullPage: true });
  assert.match(await edgeServices(), /tahoe:3456:Edge browser/);
  // And withdrawn again from the same page.
  await page.fill('#remote-unpub-type', 'tahoe');
  await page.fill('#remote-unpub-port', '3456');
  await page.click('#remote-unpublish-form button[type=submit]');
  await page.waitForSelector('#remote-result:has-text("Done.")', { timeout: 60_000 });
  await waitFor('the service withdrawn on the edge', async () => !/tahoe:3456/.test(await edgeServices()), 30_000);
  await waitFor('the page shows it gone', async () => !((await page.textContent('#remote-services')) ?? '').includes('Edge browser'), 30_000);
  // A container action reaches the edge's registry (containers are off on this edge: its refusal, as text).
  await page.fill('#remote-action-name', 'rcweb');
  await page.selectOption('#remote-action', 'start');
  await page.click('#remote-action-form button[type=submit]');
  await page.waitForSelector('#remote-result:has-text("unavailable")', { timeout: 60_000 });
  const run = posts.filter((p) => p.url.endsWith('/api/v1/commands/remote.run'));
  assert.is(run.length, 3);
  assert.ok(run.every((r) => r.url.startsWith(proxyUrl) && r.status === 200 && r.csrf));
  await page.close();
});

test.run();
