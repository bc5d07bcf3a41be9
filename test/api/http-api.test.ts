// The full node's JSON API over real HTTP, on real in-process daemons (a full
// node with the API, an edge node joined to it, a guest-view full node): every
// route of docs/API.md and each error code, CSRF, token roles, session expiry,
// the login slow-down, and `passwd` / `token` from the CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonHandle } from '../../agent/daemon.ts';
import type { Api } from '../../agent/api/index.ts';
import type { Limits } from '../../agent/config/limits.ts';
import { agentConfig as cfg, InProcessAgents } from '../support/agents.ts';
import { SteppedClock } from '../support/fakes.ts';
import { ours as cli } from '../cli/helpers.ts';
import { Browser, call, waitFor } from './helpers.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const PASSWORD = 'fn correct horse battery';
let dir = '';
const agents = new InProcessAgents();
let full: DaemonHandle, edge: DaemonHandle;
let port = 0, guestPort = 0;
let api: Api;
// The full node's API time (sessions, the login slow-down): moved forward by the tests, never waited for.
const clock = new SteppedClock();

const LIMITS: Partial<Limits> = { httpSessionIdleMs: 2_500, loginFreeFailures: 2, httpMaxBodyBytes: 4096, historySampleMs: 500 };

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fn-api-'));
  full = await agents.start(cfg('fn-full', { mode: 'full', http: '127.0.0.1:0', dataDir: join(dir, 'full'), limitOverrides: LIMITS }), { onListening: (p, a) => { port = p; api = a; }, clock });
  const seed = `127.0.0.1:${full.serf.localMember().port}`;
  edge = await agents.start(cfg('fn-edge', { mode: 'edge', join: [seed] }));
  await agents.start(cfg('fn-guest', { mode: 'full', http: '127.0.0.1:0', httpGuest: true, join: [seed], dataDir: join(dir, 'guest') }), { onListening: (p) => { guestPort = p; } });
  assert.ok(port > 0 && guestPort > 0);
});

test.after(async () => {
  await agents.stopAll();
  await rm(dir, { recursive: true, force: true });
});

test('edge mode has no HTTP server; full mode does', () => {
  assert.not.ok(edge.counters.get('api.requests'));
  assert.ok(port > 0);
});

test('no password yet: the session says so and login is 503 E_NO_PASSWORD; `passwd` from stdin sets it (0600, never echoed)', async () => {
  const s = await call(port, 'GET', '/api/v1/session');
  assert.is(s.status, 200);
  assert.is(s.json.password_set, false);
  assert.is(s.json.node.name, 'fn-full');
  const l = await call(port, 'POST', '/api/v1/session', { body: { password: 'anything at all' } });
  assert.is(l.status, 503);
  assert.is(l.json.error.code, 'E_NO_PASSWORD');
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    // process.execArgv: the TypeScript loader this test runs under (tsx, or run-all's --precompiled one).
    const p = execFile(process.execPath, [...process.execArgv, 'agent/main.ts', 'passwd', '-data-dir', join(dir, 'full')], { cwd: REPO }, (e, stdout, stderr) => resolve({ code: e ? 1 : 0, stdout, stderr }));
    p.stdin!.end(PASSWORD + '\n');
  });
  assert.is(out.code, 0, out.stderr);
  assert.not.ok((out.stdout + out.stderr).includes(PASSWORD));
  const file = await readFile(join(dir, 'full', 'api', 'admin.passwd'), 'utf8');
  assert.match(file, /^scrypt\$/);
  assert.is((await call(port, 'GET', '/api/v1/session')).json.password_set, true);
});

test('401 without credentials, wrong password 401, login sets an HttpOnly SameSite=Strict cookie', async () => {
  const r = await call(port, 'GET', '/api/v1/members');
  assert.is(r.status, 401);
  assert.is(r.json.error.code, 'E_AUTH');
  const b = new Browser(port);
  assert.is((await b.login('wrong password!')).status, 401);
  const ok = await b.login(PASSWORD);
  assert.is(ok.status, 200);
  const sc = String(ok.headers['set-cookie']);
  assert.match(sc, /HttpOnly/);
  assert.match(sc, /SameSite=Strict/);
  assert.is((await b.req('GET', '/api/v1/session')).json.authenticated, true);
});

test('members: every node with mode and RTT, serf-like filters, 400 naming the field', async () => {
  const b = new Browser(port);
  await b.login(PASSWORD);
  await waitFor('3 alive members', async () => (await b.req('GET', '/api/v1/members?status=alive')).json.total === 3);
  const all = (await b.req('GET', '/api/v1/members')).json.members as { name: string; mode: string; rtt_ms: number | null; services: number }[];
  const byName = Object.fromEntries(all.map((m) => [m.name, m]));
  assert.is(byName['fn-full']!.mode, 'full');
  assert.is((byName['fn-full'] as unknown as { tags: Record<string, string> }).tags.http, String(port), 'full nodes announce their GUI port for edge proxies');
  assert.is(byName['fn-edge']!.mode, 'edge');
  assert.is(byName['fn-full']!.rtt_ms, 0);
  assert.is(byName['fn-edge']!.services, 1, 'the edge agent announces itself as serf');
  assert.equal((await b.req('GET', '/api/v1/members?name=' + encodeURIComponent('^fn-e'))).json.members.map((m: { name: string }) => m.name), ['fn-edge']);
  assert.is((await b.req('GET', '/api/v1/members?tag=mode=full')).json.total, 2);
  assert.is((await b.req('GET', '/api/v1/members?status=failed')).json.total, 0);
  const bad = await b.req('GET', '/api/v1/members?status=dead');
  assert.is(bad.status, 400);
  assert.is(bad.json.error.field, 'status');
  const badRe = await b.req('GET', '/api/v1/members?name=' + encodeURIComponent('(['));
  assert.is(badRe.status, 400);
  assert.is(badRe.json.error.field, 'name');
  const d = await b.req('GET', '/api/v1/members/fn-edge');
  assert.is(d.status, 200);
  assert.is(d.json.services[0].s, 'serf');
  // A member's coordinate is known once a ping to it has been answered: on a busy machine that can come after "alive".
  const withCoordinate = await waitFor('a coordinate for fn-edge', async () => {
    const r = await b.req('GET', '/api/v1/members/fn-edge');
    return r.json.coordinate ? r : undefined;
  });
  assert.ok(Array.isArray(withCoordinate.json.coordinate.vec));
  const nf = await b.req('GET', '/api/v1/members/nobody');
  assert.is(nf.status, 404);
  assert.is(nf.json.error.code, 'E_NOT_FOUND');
});

test('services: the registry search with type/host filters, nearest first; 400 on a bad sort', async () => {
  const b = new Browser(port);
  await b.login(PASSWORD);
  const r = await b.req('GET', '/api/v1/services?type=serf');
  assert.is(r.status, 200);
  assert.is(r.json.total, 3);
  assert.is(r.json.services[0].node_id, 'fn-full', 'self (RTT 0) first');
  const rtts = r.json.services.map((e: { rtt_ms: number | null }) => e.rtt_ms ?? Infinity);
  assert.equal(rtts, [...rtts].sort((x: number, y: number) => x - y));
  assert.is((await b.req('GET', '/api/v1/services?host=fn-edge')).json.total, 1);
  assert.is((await b.req('GET', '/api/v1/services?type=nothing')).json.total, 0);
  assert.is((await b.req('GET', '/api/v1/services?sort=far')).json.error.field, 'sort');
});

test('`cloudy-agent search -sort rtt` (the same registry option): nearest first, RTT column in the table', async () => {
  const rpc = `-rpc-addr=${full.rpcAddress.host}:${full.rpcAddress.port}`;
  const t = await cli(['search', 'serf', '-sort', 'rtt', '-format', 'table', rpc]);
  assert.is(t.code, 0, t.stderr);
  const rows = t.stdout.trim().split('\n').slice(2);
  assert.match(t.stdout, /RTT\s+NODE/);
  assert.is(rows.length, 3);
  assert.match(rows[0]!, /0\.0ms\s+fn-full$/);
  const j = await cli(['search', '-sort', 'rtt', rpc]);
  assert.is(JSON.parse(j.stdout)[0].node_id, 'fn-full', 'JSON keeps avahi-ps entries, in RTT order');
  assert.is((await cli(['search', '-sort', 'far', rpc])).code, 1);
});

test('this node: publish/unpublish through the registry, CSRF required on every write, 400 with the field', async () => {
  const b = new Browser(port);
  await b.login(PASSWORD);
  const noCsrf = await b.req('POST', '/api/v1/node/services', { body: { description: 'web', type: 'web', port: 8080 }, noCsrf: true });
  assert.is(noCsrf.status, 403);
  assert.is(noCsrf.json.error.code, 'E_CSRF');
  const wrong = await b.req('POST', '/api/v1/node/services', { body: { description: 'web', type: 'web', port: 8080 }, headers: { 'x-csrf-token': 'nope' } });
  assert.is(wrong.json.error.code, 'E_CSRF');
  const pub = await b.req('POST', '/api/v1/node/services', { body: { description: 'fn web', type: 'web', port: 8080 } });
  assert.is(pub.status, 201, pub.text);
  const list = (await b.req('GET', '/api/v1/node/services')).json.services as { type: string; port: number }[];
  assert.ok(list.some((s) => s.type === 'web' && s.port === 8080));
  await waitFor('the edge node sees the web service', async () => (await b.req('GET', '/api/v1/services?type=web')).json.total === 1);
  const badPort = await b.req('POST', '/api/v1/node/services', { body: { description: 'x', type: 'web', port: 'eighty' } });
  assert.is(badPort.status, 400);
  assert.is(badPort.json.error.field, 'port');
  const unknown = await b.req('POST', '/api/v1/node/services', { body: { description: 'x', type: 'web', port: 81, colour: 'red' } });
  assert.is(unknown.json.error.field, 'colour');
  const del = await b.req('DELETE', '/api/v1/node/services/web/8080', { noCsrf: true });
  assert.is(del.status, 403);
  assert.is((await b.req('DELETE', '/api/v1/node/services/web/8080')).status, 200);
  assert.not.ok(((await b.req('GET', '/api/v1/node/services')).json.services as { type: string }[]).some((s) => s.type === 'web'));
});

test('tokens from the CLI: viewer reads but cannot create containers (403); admin reaches the registry (503 containers off); bad and revoked tokens 401', async () => {
  const dd = join(dir, 'full');
  const v = await cli(['token', 'create', 'fn-viewer', '-data-dir', dd]);
  assert.is(v.code, 0, v.stderr);
  const viewer = v.stdout.trim().split('\n').pop()!;
  const a = await cli(['token', 'create', 'fn-admin', '-role', 'admin', '-data-dir', dd]);
  const admin = a.stdout.trim().split('\n').pop()!;
  assert.match((await cli(['token', 'list', '-data-dir', dd])).stdout, /fn-admin\s+admin/);
  const asV = { authorization: `Bearer ${viewer}` }, asA = { authorization: `Bearer ${admin}` };
  assert.is((await call(port, 'GET', '/api/v1/node/services', { headers: asV })).status, 200);
  assert.is((await call(port, 'GET', '/api/v1/counters', { headers: asV })).status, 200);
  const create = await call(port, 'POST', '/api/v1/node/containers', { headers: asV, body: { name: 'fnweb', template: 'busybox' } });
  assert.is(create.status, 403);
  assert.is(create.json.error.code, 'E_FORBIDDEN');
  const viaRegistry = await call(port, 'POST', '/api/v1/commands/publish', { headers: asV, body: { Type: 'web', Port: 1, Description: 'x' } });
  assert.is(viaRegistry.status, 403, 'the registry enforces the command role too');
  assert.is(viaRegistry.json.error.code, 'E_FORBIDDEN');
  const off = await call(port, 'POST', '/api/v1/node/containers?wait=true', { headers: asA, body: { name: 'fnweb', template: 'busybox' } });
  assert.is(off.status, 503);
  assert.is(off.json.error.code, 'E_UNAVAILABLE');
  assert.match(off.json.error.message, /lxc.create is unavailable: container management is off/);
  const job = await call(port, 'POST', '/api/v1/node/containers/fnweb/start', { headers: asA });
  assert.is(job.status, 202);
  await waitFor('the job fails', async () => (await call(port, 'GET', `/api/v1/jobs/${job.json.id}`, { headers: asA })).json.state === 'failed');
  assert.is((await call(port, 'GET', `/api/v1/jobs/${job.json.id}`, { headers: asA })).json.error.code, 'E_UNAVAILABLE');
  assert.is((await call(port, 'GET', '/api/v1/jobs/nope', { headers: asA })).status, 404);
  const cmds = (await call(port, 'GET', '/api/v1/commands', { headers: asV })).json.commands as { name: string; unavailable?: unknown }[];
  assert.ok(cmds.find((c) => c.name === 'lxc.create')?.unavailable);
  assert.is((await call(port, 'POST', '/api/v1/commands/search', { headers: asV, body: { Type: 'serf' } })).json.result.Entries.length, 3);
  assert.is((await call(port, 'GET', '/api/v1/members', { headers: { authorization: 'Bearer cat_nope' } })).status, 401);
  assert.is((await cli(['token', 'revoke', 'fn-viewer', '-data-dir', dd])).code, 0);
  assert.is((await call(port, 'GET', '/api/v1/members', { headers: asV })).status, 401);
});

test('info, counters, limits, memory, templates, history (JSON and CSV)', async () => {
  const b = new Browser(port);
  await b.login(PASSWORD);
  const info = (await b.req('GET', '/api/v1/info')).json;
  assert.is(info.name, 'fn-full');
  assert.is(info.mode, 'full');
  assert.ok(info.memory.rss > 0);
  assert.ok((await b.req('GET', '/api/v1/counters')).json['api.requests'] > 0);
  assert.is((await b.req('GET', '/api/v1/limits')).json.httpMaxBodyBytes, 4096);
  assert.ok((await b.req('GET', '/api/v1/memory')).json.heap_used > 0);
  assert.ok((await b.req('GET', '/api/v1/node/templates')).json.templates.some((t: { name: string }) => t.name === 'busybox'));
  await waitFor('history points', async () => (await b.req('GET', '/api/v1/history?range=1h')).json.points.length > 0);
  const h = (await b.req('GET', '/api/v1/history?range=1h')).json;
  assert.is(h.columns[0], 'alive_members');
  assert.ok(h.points.at(-1)[1] >= 1);
  const csv = await b.req('GET', '/api/v1/history?range=1d&format=csv');
  assert.match(String(csv.headers['content-type']), /text\/csv/);
  assert.match(csv.text, /^time,alive_members,/);
  assert.is((await b.req('GET', '/api/v1/history?range=2d')).json.error.field, 'range');
});

test('404 unknown route, 405 with Allow, 413 oversized body, 400 body not JSON', async () => {
  const b = new Browser(port);
  await b.login(PASSWORD);
  const nf = await b.req('GET', '/api/v1/nothing');
  assert.is(nf.status, 404);
  assert.is(nf.json.error.code, 'E_NOT_FOUND');
  const m = await b.req('DELETE', '/api/v1/members');
  assert.is(m.status, 405);
  assert.is(m.json.error.code, 'E_METHOD');
  assert.is(m.headers.allow, 'GET');
  const big = await b.req('POST', '/api/v1/node/services', { raw: JSON.stringify({ description: 'x'.repeat(5000), type: 'web', port: 1 }) });
  assert.is(big.status, 413);
  assert.is(big.json.error.code, 'E_TOO_LARGE');
  const notJson = await b.req('POST', '/api/v1/node/services', { raw: '{nope' });
  assert.is(notJson.status, 400);
  assert.is(notJson.json.error.field, 'body');
});

test('sessions expire when idle; logout ends one', async () => {
  const b = new Browser(port);
  await b.login(PASSWORD);
  assert.is((await b.req('GET', '/api/v1/members')).status, 200);
  clock.advance(3_000);
  assert.is((await b.req('GET', '/api/v1/members')).status, 401, 'idle past httpSessionIdleMs');
  await b.login(PASSWORD);
  const out = await b.req('DELETE', '/api/v1/session');
  assert.is(out.status, 200);
  assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
  assert.is((await b.req('GET', '/api/v1/members')).status, 401);
});

test('failed logins from one address are slowed, then refused with 429 and Retry-After until they age out; other addresses are not', async () => {
  const from = new Browser(port, '127.0.0.2');
  clock.slept.length = 0;
  for (let i = 0; i < 2; i++) assert.is((await from.login('wrong password ' + i)).status, 401);
  assert.equal(clock.slept, [], 'the free failures (loginFreeFailures) are answered at once');
  for (let i = 2; i < 8; i++) assert.is((await from.login('wrong password ' + i)).status, 401);
  assert.equal(clock.slept, [250, 500, 1000, 2000, 4000, 8000], 'each further failure waits twice as long, up to loginDelayMaxMs');
  assert.is(api.auth.throttle.failures('127.0.0.2'), 8);
  const refused = await from.login(PASSWORD);
  assert.is(refused.status, 429, 'refused even with the right password');
  assert.is(refused.json.error.code, 'E_RATE');
  const retryS = Number(refused.headers['retry-after']);
  assert.ok(retryS > 15 * 60 - 60 && retryS <= 15 * 60, `Retry-After ${retryS}: loginFailureMemoryMs after the last failure`);
  assert.is(clock.slept.length, 6, 'a refusal is not slowed');
  assert.is((await new Browser(port, '127.0.0.3').login(PASSWORD)).status, 200);
  clock.advance((retryS - 30) * 1000);
  assert.is((await from.login(PASSWORD)).status, 429, 'still refused before Retry-After');
  clock.advance(31_000);
  assert.is((await from.login(PASSWORD)).status, 200, 'after Retry-After the failures are forgotten');
  assert.is(api.auth.throttle.failures('127.0.0.2'), 0);
  assert.ok(full.counters.get('api.login_failures') >= 8);
});

test('guest view (-http-guest): federation read-only without login, nothing of the node, no actions', async () => {
  const s = (await call(guestPort, 'GET', '/api/v1/session')).json;
  assert.is(s.guest_view, true);
  assert.is(s.role, 'guest');
  await waitFor('guest sees members', async () => (await call(guestPort, 'GET', '/api/v1/members')).json.total === 3);
  assert.is((await call(guestPort, 'GET', '/api/v1/services')).status, 200);
  assert.is((await call(guestPort, 'GET', '/api/v1/history?range=1h')).status, 200);
  const info = (await call(guestPort, 'GET', '/api/v1/info')).json;
  assert.is(info.tags, undefined, 'no node details for guests');
  assert.is((await call(guestPort, 'GET', '/api/v1/node/services')).status, 401);
  assert.is((await call(guestPort, 'POST', '/api/v1/node/services', { body: { description: 'x', type: 'web', port: 1 } })).status, 401);
  assert.is((await call(guestPort, 'GET', '/api/v1/counters')).status, 401);
});

test('GUI: index, script and style from memory, with a CSP and an ETag', async () => {
  const idx = await call(port, 'GET', '/');
  assert.is(idx.status, 200);
  assert.match(idx.text, /<script src="\/gui\/app.js">/);
  assert.match(String(idx.headers['content-security-policy']), /script-src 'self'/);
  const js = await call(port, 'GET', '/gui/app.js');
  assert.match(String(js.headers['content-type']), /javascript/);
  assert.not.match(js.text, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write/);
  const again = await call(port, 'GET', '/gui/app.js', { headers: { 'if-none-match': String(js.headers.etag) } });
  assert.is(again.status, 304);
  assert.is((await call(port, 'GET', '/gui/nothing.js')).status, 404);
});

test('docs/API.md documents exactly the routes the router serves, with their roles', async () => {
  const doc = await readFile(join(REPO, 'docs/API.md'), 'utf8');
  const documented = [...doc.matchAll(/^### (GET|POST|PUT|DELETE) (\S+)\nRole: (\w+)\./gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`).sort();
  const served = api.router.routes().map((r) => `${r.method} ${r.path} ${r.role}`).sort();
  assert.equal(documented, served);
});

test.run();
