// The management proxy in front of a REAL full node: our agent in full mode
// with its API plug-in (GUI and JSON API on -http), which announces
// mode=full and http=PORT; a browser opening the edge node's port gets the
// full node's GUI for this edge node, and the GUI's own API calls go through
// the proxy to the full node (guest view: /api/v1/info answers without login).
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
import { freePort, startNode, tempDir, type TestNode } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const ART = join(new URL('../..', import.meta.url).pathname, 'test-artifacts', 'remote');
mkdirSync(ART, { recursive: true });
const tmp = tempDir('proxy-gui');
let full: DaemonHandle | null = null;
let edge: TestNode | null = null;
let browser: Browser | null = null;
let proxyUrl = '';

test.before(async () => {
  const host = '127.22.4.1';
  const gport = await freePort(host);
  full = await startDaemon({
    ...defaultAgentConfig(), nodeName: 'rc-gfull', bind: `${host}:${gport}`, rpcAddr: `${host}:${await freePort(host)}`, profile: 'lan', mode: 'full',
    dataDir: join(tmp, 'full'), containers: false, http: `${host}:${await freePort(host)}`, httpGuest: true,
    plugins: [discoveryPlugin({ stateDir: join(tmp, 'full') }), apiPlugin()],
  }, { writeLog: null });
  const eport = await freePort('127.22.4.2');
  proxyUrl = `http://127.22.4.2:${eport}`;
  edge = await startNode({ name: 'rc-gedge', host: '127.22.4.2', dataDir: join(tmp, 'edge'), join: [`${host}:${gport}`], extraPlugins: [proxyPlugin({ host: '127.22.4.2', port: eport })] });
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

test.run();
