// The edge node's management proxy with a real browser (Debian chromium via
// playwright-core): opening the edge node's port reaches the nearest full
// node's page for that edge node; with that full node killed the next one is
// used; with none left the edge's own small fallback page. A client sending a
// huge body, or never finishing its request, stays within the proxy's limits
// (body bytes, time, requests in flight).
//
// The full nodes here are our agents in full mode whose GUI is a small page
// served by a test plug-in (it echoes which edge asked), announced with the
// same tags a real full node announces (announceFullNode).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { DaemonPlugin } from '../../agent/plugin.ts';
import { ManagementProxy, announceFullNode, proxyPlugin } from '../../agent/api/proxy.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { freePort, startNode, tempDir, type TestNode } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const ART = join(new URL('../..', import.meta.url).pathname, 'test-artifacts', 'remote');
mkdirSync(ART, { recursive: true });
const tmp = tempDir('proxy');
const nodes: TestNode[] = [];
const received: Record<string, number> = {};
let browser: Browser | null = null;
let edge: TestNode;
let proxyUrl = '';
const LIMITS = { proxyConcurrent: 4, proxyMaxBodyBytes: 64 * 1024, proxyTimeoutMs: 3000 };

/** A full node's page stand-in: says which full node it is and for which edge node it was opened. */
function guiFixture(name: string): DaemonPlugin {
  return {
    name: 'gui-fixture',
    async start(ctx) {
      const srv = createServer((req, res) => {
        let n = 0;
        req.on('data', (c: Buffer) => { n += c.length; received[name] = (received[name] ?? 0) + c.length; });
        req.on('end', () => {
          const u = new URL(req.url ?? '/', 'http://x');
          const esc = (s: string) => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(`<!doctype html><title>Cloudy full node ${esc(name)}</title><h1 id="full">${esc(name)}</h1><p id="edge">${esc(u.searchParams.get('node') ?? '')}</p><p id="via">${esc(String(req.headers['x-cloudy-edge'] ?? ''))}</p><p id="bytes">${n}</p>`);
        });
      });
      await new Promise<void>((r) => srv.listen(0, ctx.serf.localMember().addr, () => r()));
      await announceFullNode(ctx.serf, (srv.address() as { port: number }).port);
      return { stop: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
    },
  };
}

test.before(async () => {
  const fa = await startNode({ name: 'rc-fullA', host: '127.22.2.1', dataDir: join(tmp, 'a'), mode: 'full', extraPlugins: [guiFixture('rc-fullA')] });
  const fb = await startNode({ name: 'rc-fullB', host: '127.22.2.2', dataDir: join(tmp, 'b'), mode: 'full', join: [fa.gossip], extraPlugins: [guiFixture('rc-fullB')] });
  const port = await freePort('127.22.2.3');
  proxyUrl = `http://127.22.2.3:${port}`;
  edge = await startNode({ name: 'rc-pedge', host: '127.22.2.3', dataDir: join(tmp, 'e'), join: [fa.gossip], limits: LIMITS, extraPlugins: [proxyPlugin({ host: '127.22.2.3', port })] });
  nodes.push(fa, fb, edge);
  await waitFor('edge sees both full nodes with their GUI port', () => edge.h.serf.members().filter((m) => m.status === 'alive' && m.tags.mode === 'full' && m.tags.http).length === 2);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
});

test.after(async () => {
  await browser?.close();
  for (const n of nodes) await n.h.stop().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

async function open(shot: string): Promise<{ status: number; full: string; edge: string; via: string; url: string; text: string }> {
  const page = await browser!.newPage();
  try {
    const resp = await page.goto(`${proxyUrl}/`, { timeout: 20_000 });
    await page.screenshot({ path: join(ART, `${shot}.png`) });
    const text = await page.locator('body').innerText();
    const get = async (id: string) => (await page.locator(`#${id}`).count()) ? await page.locator(`#${id}`).innerText() : '';
    return { status: resp!.status(), full: await get('full'), edge: await get('edge'), via: await get('via'), url: page.url(), text };
  } finally {
    await page.close();
  }
}

let first = '';
test('the edge port opens the nearest full node\'s page for this edge node', async () => {
  const r = await open('proxy-1-full-node');
  assert.is(r.status, 200);
  assert.ok(['rc-fullA', 'rc-fullB'].includes(r.full), r.text);
  assert.is(r.edge, 'rc-pedge');
  assert.is(r.via, 'rc-pedge');
  assert.match(r.url, /\?node=rc-pedge#\/node\/rc-pedge$/);
  first = r.full;
});

test('with that full node killed, the next one serves the page', async () => {
  const victim = nodes.find((n) => n.opts.name === first)!;
  await victim.h.stop(); // killed: its GUI port refuses connections while gossip still calls it alive
  // The order the proxy will try (Vivaldi RTT moves, so the victim is not always first any more).
  const order = new ManagementProxy({ serf: edge.h.serf, limits: LIMITS, logger: edge.h.logger, counters: new Counters() }).candidates().map((u) => u.name);
  const failuresBefore = edge.h.counters.get('proxy.upstream_failures');
  const r = await open('proxy-2-next-full-node');
  assert.is(r.status, 200);
  assert.is(r.full, first === 'rc-fullA' ? 'rc-fullB' : 'rc-fullA');
  assert.is(r.edge, 'rc-pedge');
  // (Which node the proxy tried first depends on RTT estimates that move; the next test pins the order.)
  void order; void failuresBefore;
});

test('nearest first, and the next one when it refuses the connection (fixed RTTs)', async () => {
  const up = createServer((req, res) => { req.resume(); req.on('end', () => res.end('from B')); });
  await new Promise<void>((r) => up.listen(0, '127.22.2.4', () => r()));
  const deadPort = await freePort('127.22.2.5');
  const coord = (x: number) => ({ vec: [x, 0, 0, 0, 0, 0, 0, 0], error: 0.1, adjustment: 0, height: 0.00001 });
  const member = (name: string, addr: string, port: number) => ({ name, addr, port: 1, status: 'alive' as const, tags: { mode: 'full', http: String(port) },
    protocolMin: 1, protocolMax: 5, protocolCur: 2, delegateMin: 2, delegateMax: 5, delegateCur: 4 });
  const fakeSerf = {
    localMember: () => ({ ...member('me', '127.0.0.1', 0), tags: {} }),
    members: () => [member('far-B', '127.22.2.4', (up.address() as { port: number }).port), member('near-A', '127.22.2.5', deadPort)],
    getCoordinate: (n?: string) => coord(n === undefined ? 0 : n === 'near-A' ? 0.001 : 0.01),
  };
  const counters = new Counters();
  const p = new ManagementProxy({ serf: fakeSerf, limits: LIMITS, logger: edge.h.logger, counters });
  assert.equal(p.candidates().map((u) => u.name), ['near-A', 'far-B']);
  const addr = await p.listen('127.22.2.6', 0);
  const body = await new Promise<string>((resolve) => {
    request(`http://127.22.2.6:${addr.port}/x`, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(b)); }).end();
  });
  assert.is(body, 'from B');
  assert.is(counters.get('proxy.upstream_failures'), 1);
  // The failed one now waits out its cool-down behind the others.
  assert.equal(p.candidates().map((u) => u.name), ['far-B', 'near-A']);
  await p.close();
  await new Promise<void>((r) => up.close(() => r()));
});

test('a huge body is refused within the size limit; a never-finishing request is cut by the time limit', async () => {
  const other = first === 'rc-fullA' ? 'rc-fullB' : 'rc-fullA';
  const before = received[other] ?? 0;
  // Declared too large: 413 before anything is read.
  const declared = await new Promise<number>((resolve, reject) => {
    const req = request(`${proxyUrl}/upload`, { method: 'POST', headers: { 'content-length': String(500 * 1024 * 1024) } }, (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
    req.write(Buffer.alloc(1024));
  });
  assert.is(declared, 413);
  // Chunked and endless: cut once it passes the limit; the full node got at most the limit.
  const chunked = await new Promise<string>((resolve) => {
    const req = request(`${proxyUrl}/upload`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => { res.resume(); resolve(String(res.statusCode)); });
    req.on('error', (e) => resolve(`error ${e.message}`));
    const block = Buffer.alloc(16 * 1024, 1);
    let sent = 0;
    const pump = () => { while (sent < 64 * 1024 * 1024 && req.write(block)) sent += block.length; if (sent < 64 * 1024 * 1024) req.once('drain', pump); };
    pump();
  });
  assert.ok(chunked === '413' || chunked.startsWith('error'), chunked);
  assert.ok((received[other] ?? 0) - before <= LIMITS.proxyMaxBodyBytes + 16 * 1024, `full node received ${(received[other] ?? 0) - before} bytes`);
  // Never finishing: headers and part of a body, then silence: the proxy closes within its time limit.
  const t0 = Date.now();
  const closed = await new Promise<number>((resolve) => {
    const s = connect(Number(new URL(proxyUrl).port), '127.22.2.3', () => s.write('POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc'));
    s.on('data', () => {});
    s.on('close', () => resolve(Date.now() - t0));
    s.on('error', () => {});
  });
  assert.ok(closed < LIMITS.proxyTimeoutMs + 10_000, `closed after ${closed} ms`);
  // More stalled requests than may be in flight: the extra ones get 503 at once, and later ones work again.
  const stalled = Array.from({ length: LIMITS.proxyConcurrent }, () => {
    const s = connect(Number(new URL(proxyUrl).port), '127.22.2.3', () => s.write('POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc'));
    s.on('error', () => {});
    s.on('data', () => {});
    return s;
  });
  await waitFor('stalled requests in flight', () => edge.h.counters.get('proxy.requests') >= 4 + LIMITS.proxyConcurrent, 10_000);
  const busy = await new Promise<number>((resolve) => { request(`${proxyUrl}/x`, (res) => { res.resume(); resolve(res.statusCode!); }).end(); });
  assert.is(busy, 503);
  await waitFor('stalled requests cut', () => stalled.every((s) => s.destroyed || s.closed), 20_000);
  for (const s of stalled) s.destroy();
  const ok = await open('proxy-3-after-limits');
  assert.is(ok.status, 200);
});

test('with no full node left, the edge answers with its own small page', async () => {
  for (const n of nodes.slice(0, 2)) await n.h.stop().catch(() => {});
  const r = await open('proxy-4-fallback');
  assert.is(r.status, 503);
  assert.match(r.text, /No full node reachable/);
  assert.match(r.text, /rc-pedge/);
  assert.match(r.text, /127\.22\.2\.3/);
  assert.match(r.text, /Members alive: \d+/);
  assert.ok(edge.h.counters.get('proxy.fallback_pages') >= 1);
});

test.run();
