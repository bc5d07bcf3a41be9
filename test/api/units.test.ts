// Pure parts of the full node's API: the tiered history (means, ranges,
// on-disk form, fixed size), the login throttle, sessions' idle expiry, the
// scrypt password file, API tokens.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TieredHistory, encodeHistory, decodeHistoryInto, seriesToCsv, HISTORY_COLUMNS } from '../../agent/discovery/history-tiers.ts';
import { HistoryRecorder, historyTierSpecs } from '../../agent/discovery/history-recorder.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { Logger } from '../../agent/obs/log.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { LoginThrottle } from '../../agent/api/auth/throttle.ts';
import { SessionTable } from '../../agent/api/auth/sessions.ts';
import { PasswordFile, hashPassword, verifyPassword } from '../../agent/api/auth/password.ts';
import { TokenStore } from '../../agent/api/auth/tokens.ts';
import { AtomicFile } from '../../agent/state/atomic-file.ts';
import { isAgentError } from '../../agent/errors.ts';
import type { FederationSample } from '../../agent/discovery/federation.ts';
import { HttpServer } from '../../agent/api/http-server.ts';
import { call } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const sample = (t: number, alive: number, byType: Record<string, number>): FederationSample => ({
  t, aliveMembers: alive, cloudyInstances: alive, services: Object.values(byType).reduce((a, b) => a + b, 0), byType, undecodable: 0,
});
const col = (name: string): number => HISTORY_COLUMNS.indexOf(name as never) + 1;

test('history: a minute point is the mean of its samples; unknown types go to other; hour and day tiers fold the same samples', () => {
  const h = new TieredHistory(historyTierSpecs(defaultLimits('full')));
  const t0 = Date.UTC(2026, 0, 1, 10, 0, 0);
  h.add(sample(t0, 10, { serf: 10, syncthing: 2 }));
  h.add(sample(t0 + 20_000, 20, { serf: 20, web: 3 }));
  h.add(sample(t0 + 60_000, 30, { serf: 30 }));
  const s = h.series('1h', t0 + 120_000);
  assert.is(s.stepMs, 60_000);
  assert.equal(s.points.map((p) => p[0]), [t0, t0 + 60_000]);
  assert.is(s.points[0]![col('alive_members')], 15);
  assert.is(s.points[0]![col('syncthing')], 1);
  assert.is(s.points[0]![col('other')], 1.5);
  assert.is(s.points[1]![col('serf')], 30);
  const w = h.series('1w', t0 + 120_000);
  assert.is(w.stepMs, 3_600_000);
  assert.is(w.points.length, 1);
  assert.is(w.points[0]![col('alive_members')], 20);
  assert.is(h.series('1y', t0 + 120_000).stepMs, 86_400_000);
  assert.match(seriesToCsv(s), /^time,alive_members,cloudy_instances,services,serf,/);
  assert.match(seriesToCsv(s), /\n2026-01-01T10:00:00.000Z,15,15,/);
});

test('history: fixed size whatever the number of samples; old minute points are overwritten, the day tier keeps them', () => {
  const h = new TieredHistory([{ stepMs: 60_000, points: 10 }, { stepMs: 86_400_000, points: 5 }]);
  const size = h.byteSize();
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 100; i++) h.add(sample(t0 + i * 60_000, i, { serf: i }));
  assert.is(h.byteSize(), size);
  const recent = h.tiers[0]!.points(0, t0 + 99 * 60_000);
  assert.is(recent.length, 10);
  assert.is(recent[0]![0], t0 + 90 * 60_000);
  const day = h.tiers[1]!.points(0, t0 + 99 * 60_000);
  assert.is(day.length, 1);
  assert.is(day[0]![1], 49.5);
});

test('history: saved and restored byte for byte; a damaged file is refused; the default tiers take 493,680 bytes', () => {
  const specs = historyTierSpecs(defaultLimits('full'));
  const h = new TieredHistory(specs);
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 50; i++) h.add(sample(t0 + i * 3_600_000, i, { proxy3: 1 }));
  const bytes = encodeHistory(h);
  assert.is(h.byteSize(), 493_680);
  const back = new TieredHistory(specs);
  decodeHistoryInto(back, bytes);
  assert.equal(back.series('1m', t0 + 50 * 3_600_000), h.series('1m', t0 + 50 * 3_600_000));
  assert.throws(() => decodeHistoryInto(new TieredHistory(specs), bytes.subarray(0, bytes.length - 1)));
  const bad = bytes.slice(); bad[0] = 0;
  assert.throws(() => decodeHistoryInto(new TieredHistory(specs), bad));
});

test('history recorder: samples on its timer, saves atomically at most every saveMs and at stop, restores after a restart', async () => {
  const file = new AtomicFile(join(dir, 'discovery', 'federation-history.bin'));
  const specs = [{ stepMs: 60_000, points: 60 }, { stepMs: 3_600_000, points: 24 }];
  let now = Date.UTC(2026, 0, 1, 12);
  let alive = 5;
  const counters = new Counters();
  const mk = (): HistoryRecorder => new HistoryRecorder({
    history: new TieredHistory(specs), file, sample: () => sample(now, alive, { serf: alive }),
    sampleMs: 60_000, saveMs: 10 * 60_000, logger: Logger.silent(), counters, now: () => now,
  });
  const r1 = mk();
  await r1.restore();
  for (let i = 0; i < 15; i++) { r1.sampleNow(); now += 60_000; alive++; }
  // The save runs in the background: wait for it (a fixed 100 ms was too short in a busy process).
  await waitFor('the first save', () => counters.get('discovery.history_saves') >= 1 || undefined);
  assert.is(counters.get('discovery.history_saves'), 1, 'one write in 15 minutes with saveMs = 10 min');
  await r1.stop();
  assert.is(counters.get('discovery.history_saves'), 2, 'and one at stop');
  const r2 = mk();
  await r2.restore();
  assert.equal(r2.history.series('1h', now), r1.history.series('1h', now));
  assert.is(r2.history.series('1h', now).points.length, 15);
  await file.write(new Uint8Array([1, 2, 3]));
  const r3 = mk();
  await r3.restore();
  assert.is(r3.history.series('1h', now).points.length, 0, 'a damaged file is set aside');
  assert.is(counters.get('discovery.history_load_error'), 1);
});

test('login throttle: free failures, then growing waits, then refusal until failures age out; bounded memory', () => {
  let now = 1_000_000;
  const th = new LoginThrottle({ maxEntries: 3, freeFailures: 2, delayBaseMs: 250, delayMaxMs: 8000, failureMemoryMs: 15 * 60_000 }, () => now);
  th.failed('a'); th.failed('a');
  assert.equal(th.check('a'), { delayMs: 250 });
  th.failed('a');
  assert.equal(th.check('a'), { delayMs: 500 });
  for (let i = 0; i < 5; i++) th.failed('a');
  const v = th.check('a');
  assert.equal(v, { refuseForS: 15 * 60 });
  now += 60_000;
  assert.equal(th.check('a'), { refuseForS: 14 * 60 }, 'Retry-After counts down from the last failure');
  now += 14 * 60_000 + 1;
  assert.equal(th.check('a'), { delayMs: 0 });
  for (const addr of ['b', 'c', 'd', 'e']) th.failed(addr);
  assert.is(th.size(), 3);
  assert.is(th.failures('b'), 0, 'least recently failed forgotten');
  th.succeeded('e');
  assert.is(th.failures('e'), 0);
});

test('sessions: idle expiry, LRU bound, destroy', () => {
  let now = 0;
  const s = new SessionTable({ maxSessions: 2, idleMs: 1000 }, () => now);
  const a = s.create();
  now = 900;
  assert.ok(s.touch(a.id), 'used within the idle time');
  now = 1800;
  assert.equal(s.touch(a.id), { csrf: a.csrf }, 'touch restarted the idle clock');
  now = 2801;
  assert.is(s.touch(a.id), null, 'expired');
  const b = s.create(), c = s.create(), d = s.create();
  assert.is(s.size(), 2);
  assert.is(s.touch(b.id), null);
  assert.ok(s.touch(c.id));
  s.destroy(d.id);
  assert.is(s.touch(d.id), null);
});

let dir = '';
test.before(async () => { dir = await mkdtemp(join(tmpdir(), 'fn-units-')); });
test.after(async () => { await rm(dir, { recursive: true, force: true }); });

test('password: scrypt hash, 0600 file, verify; short passwords refused with the field named', async () => {
  const enc = await hashPassword('correct horse');
  assert.match(enc, /^scrypt\$32768\$8\$1\$/);
  assert.not.match(enc, /correct/);
  assert.ok(await verifyPassword('correct horse', enc));
  assert.not.ok(await verifyPassword('correct horsE', enc));
  const f = new PasswordFile(new AtomicFile(join(dir, 'api', 'admin.passwd')));
  assert.not.ok(await f.isSet());
  await f.set('a long passphrase');
  assert.is((await stat(join(dir, 'api', 'admin.passwd'))).mode & 0o777, 0o600);
  assert.ok(await f.verify('a long passphrase'));
  assert.not.ok(await f.verify('wrong'));
  try { await f.set('short'); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_INVALID')); assert.is((e as unknown as { details: { field: string } }).details.field, 'password'); }
});

test('tokens: shown once, stored hashed, roles, revoke, bounded', async () => {
  const file = new AtomicFile(join(dir, 'api', 'tokens.json'));
  const store = new TokenStore(file, 2);
  const t1 = await store.create('ci', 'viewer');
  const t2 = await store.create('ops', 'admin');
  const raw = new TextDecoder().decode((await file.read())!);
  assert.not.ok(raw.includes(t1) || raw.includes(t2), 'only hashes on disk');
  assert.is((await store.verify(t1))?.role, 'viewer');
  assert.is((await store.verify(t2))?.role, 'admin');
  assert.is(await store.verify(t1 + 'x'), null);
  try { await store.create('more', 'viewer'); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_LIMIT')); }
  try { await store.create('ci', 'viewer'); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_EXISTS')); }
  try { await store.create('x', 'root'); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_INVALID')); }
  await store.revoke('ci');
  assert.is(await store.verify(t1), null);
  assert.is((await stat(file.path)).mode & 0o777, 0o600);
});

test('HTTP server: requests beyond httpMaxConcurrent get 429 at once (never queued); handlers are asked in order', async () => {
  let release: () => void = () => {};
  const held = new Promise<void>((r) => { release = r; });
  const counters = new Counters();
  const server = new HttpServer({
    handlers: [
      (req) => (req.path === '/slow' ? held.then(() => ({ status: 200, body: 'slow' })) : null),
      (req) => (req.path === '/fast' ? { status: 200, body: 'fast' } : null),
    ],
    limits: { httpMaxBodyBytes: 16, httpMaxConcurrent: 1, httpMaxConnections: 8, httpRequestTimeoutMs: 10_000, httpKeepAliveMs: 1000 },
    logger: Logger.silent(), counters,
  });
  const { port } = await server.listen('127.0.0.1', 0);
  try {
    const slow = call(port, 'GET', '/slow');
    await new Promise((r) => setTimeout(r, 200));
    const busy = await call(port, 'GET', '/fast');
    assert.is(busy.status, 429);
    assert.is(busy.json.error.code, 'E_RATE');
    assert.is(busy.headers['retry-after'], '1');
    release();
    assert.is((await slow).text, 'slow');
    assert.is((await call(port, 'GET', '/fast')).text, 'fast');
    const nf = await call(port, 'GET', '/nothing');
    assert.is(nf.status, 404);
    assert.is((await call(port, 'POST', '/fast', { raw: 'x'.repeat(17) })).status, 413);
    assert.is(counters.get('drop.api_concurrency'), 1);
  } finally {
    await server.close();
  }
});

test.run();
