// The guifi.net registration page of the web GUI in a real browser (Debian's
// chromium through playwright-core): a full node in-process with the API and
// guifi plug-ins, the stand-in guifi.net on loopback. The test logs in to the
// node, then follows Cloudy's steps on #/guifi (guifi.net login, node id, new
// device, the device that gives the IPv4, a service), sees the registration
// state there and on the node page, and keeps screenshots under
// test-artifacts/guifi/.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';
import { apiPlugin } from '../../agent/api/plugin.ts';
import { PasswordFile } from '../../agent/api/auth/password.ts';
import { authFiles } from '../../agent/api/auth/index.ts';
import { guifiPlugin } from '../../agent/guifi/plugin.ts';
import { Logger } from '../../agent/obs/log.ts';
import { world, USER, PASSWORD, MAC_A, type World } from './helpers.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const SHOTS = join(REPO, 'test-artifacts', 'guifi');
const NODE_PASSWORD = 'gf browser test passphrase';
let w: World;
let d: DaemonHandle | null = null;
let browser: Browser | null = null;
let page: Page;
let httpPort = 0;
const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, name), fullPage: true });

test.before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  w = await world();
  const dataDir = w.tmp();
  await new PasswordFile(authFiles(dataDir).password).set(NODE_PASSWORD);
  const cfg = {
    ...defaultAgentConfig(), nodeName: 'gf-full', bind: '127.0.0.1:0', rpcAddr: '127.0.0.1:0', profile: 'local' as const, mode: 'full' as const,
    http: '127.0.0.1:0', dataDir, autoNodeName: false, guifi: { api: w.server.apiUrl, mac: MAC_A },
  };
  d = await startDaemon({ ...cfg, plugins: [apiPlugin({ onListening: (a) => { httpPort = a.port; } }), guifiPlugin({ config: cfg })] }, { logger: Logger.silent() });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  // A loaded machine (the whole suite in parallel) can be slow to answer: wait for conditions, generously.
  page.setDefaultTimeout(60_000);
});

test.after(async () => {
  await browser?.close().catch(() => {});
  await d?.stop();
  await w.close();
});

test("Cloudy's registration steps in the browser: guifi.net login, node, new device, link device, service; state on the guifi and node pages", async () => {
  await page.goto(`http://127.0.0.1:${httpPort}/`);
  await page.waitForSelector('#login-form');
  await page.fill('#password', NODE_PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('nav a[href="#/guifi"]');
  await page.click('nav a[href="#/guifi"]');
  await page.waitForSelector('#guifi-st-registered');
  assert.is(await page.textContent('#guifi-st-registered'), 'no');
  await shot('01-not-registered.png');

  await page.fill('#guifi-user', USER);
  await page.fill('#guifi-password', 'wrong');
  await page.click('#guifi-login-form button[type=submit]');
  await page.waitForSelector('#guifi-login-msg.error');
  assert.match((await page.textContent('#guifi-login-msg'))!, /username or password are not correct/);
  await page.fill('#guifi-password', PASSWORD);
  await page.click('#guifi-login-form button[type=submit]');
  await page.waitForSelector('#guifi-login-msg.ok');
  await page.locator('#guifi-st-user', { hasText: /^alice$/ }).waitFor();

  await page.fill('#guifi-node-id', String(w.nodeId));
  await page.click('#guifi-node-form button[type=submit]');
  await page.waitForSelector('#guifi-register-form');
  assert.match((await page.textContent('#guifi-node-title'))!, /Plaça Catalunya 12/);
  const linkOptions = await page.$$eval('#guifi-link-device option', (os) => os.map((o) => o.textContent));
  assert.ok(linkOptions.some((o) => o?.includes('PlacaCat-RB') && o.includes('10.139.40.1')), String(linkOptions));
  await page.selectOption('#guifi-link-device', String(w.routerId));
  await page.check('#guifi-svc-DNS');
  await shot('02-steps.png');
  await page.click('#guifi-register');
  await page.waitForSelector('#guifi-register-msg.ok', { timeout: 30_000 });
  assert.match((await page.textContent('#guifi-register-msg'))!, /Registered in guifi.net as Placa-Catalunya-12-Cloudy \(\d+\), IPv4 10\.139\.40\.\d+/);
  await page.locator('#guifi-st-registered', { hasText: /^yes$/ }).waitFor();
  assert.is(await page.textContent('#guifi-st-services'), 'DNS');
  await shot('03-registered.png');

  const cloudy = w.server.devicesOf(w.nodeId).filter((x) => x.type === 'cloudy');
  assert.is(cloudy.length, 1);
  assert.equal([cloudy[0]!.mac, w.server.linksOf(cloudy[0]!.id)[0]!.bDevice, w.server.servicesOf(cloudy[0]!.id).map((s) => s.type)], [MAC_A, w.routerId, ['DNS']]);

  await page.click('nav a[href="#/node"]');
  await page.locator('#guifi-summary', { hasText: /Registered in guifi.net as/ }).waitFor();
  assert.match((await page.textContent('#guifi-summary'))!, /Placa-Catalunya-12-Cloudy.*Plaça Catalunya 12.*IPv4 10\.139\.40\.\d+/);
  await shot('04-node-page.png');
});

test.run();
