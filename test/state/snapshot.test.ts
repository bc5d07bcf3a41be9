import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicFile, MemoryFile } from '../../agent/state/atomic-file.ts';
import { Snapshotter, encodeSnapshot, decodeSnapshot, emptySnapshot } from '../../agent/state/snapshot.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';

const dir = mkdtempSync(join(tmpdir(), 'snap-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('atomic file: write/read round trip, no temp file left, replace keeps one file', async () => {
  const f = new AtomicFile(join(dir, 'sub', 'state.json'));
  assert.is(await f.read(), null);
  await f.write(new TextEncoder().encode('one'));
  await f.write(new TextEncoder().encode('two'));
  assert.is(new TextDecoder().decode((await f.read())!), 'two');
  assert.equal(readdirSync(join(dir, 'sub')), ['state.json']);
});

test('atomic file: a stale temp file from a cut mid-write does not matter', async () => {
  const p = join(dir, 'cut.json');
  const f = new AtomicFile(p);
  await f.write(new TextEncoder().encode('good'));
  writeFileSync(join(dir, '.cut.json.tmp'), 'half-writ');
  assert.is(new TextDecoder().decode((await f.read())!), 'good');
  await f.write(new TextEncoder().encode('better'));
  assert.is(readFileSync(p, 'utf8'), 'better');
});

test('snapshot encode/decode round trip; garbage rejected; bad peers skipped', () => {
  const s = { ...emptySnapshot('me'), clock: 5, eventClock: 7, queryClock: 9, left: true,
    peers: [{ name: 'a', addr: '127.0.0.1', port: 7946, lastSeen: 100, status: 'failed' as const }] };
  assert.equal(decodeSnapshot(encodeSnapshot(s)), s);
  assert.throws(() => decodeSnapshot(new TextEncoder().encode('{not json')));
  assert.throws(() => decodeSnapshot(new TextEncoder().encode('{"version":99}')));
  const bad = { ...s, peers: [...s.peers, { name: 'x', addr: '', port: 1 }, { name: 'y', addr: '1.2.3.4', port: 70000 }] };
  assert.is(decodeSnapshot(new TextEncoder().encode(JSON.stringify(bad))).peers.length, 1);
  assert.throws(() => decodeSnapshot(new TextEncoder().encode(JSON.stringify({ ...s, clock: -1 }))));
});

test('snapshotter: coalesces writes, keeps alive+failed peers, bounded, left flag', async () => {
  const store = new MemoryFile();
  const counters = new Counters();
  const sn = new Snapshotter({ store, node: 'me', maxPeers: 3, minIntervalMs: 200, clockIntervalMs: 200, logger: Logger.silent(), counters });
  for (let i = 0; i < 5; i++) sn.peerAlive(`p${i}`, '127.0.0.1', 8000 + i);
  sn.peerFailed('p4');
  sn.clocks(3, 4, 5);
  await new Promise((r) => setTimeout(r, 50));
  assert.is(store.writes, 1, 'first write goes out at once, with every change made so far');
  sn.peerFailed('p3');
  sn.clocks(3, 4, 6);
  await new Promise((r) => setTimeout(r, 50));
  assert.is(store.writes, 1, 'no second write inside the minimum interval');
  await new Promise((r) => setTimeout(r, 300));
  assert.is(store.writes, 2, 'later changes coalesced into one more write');
  const s = decodeSnapshot(store.data!);
  assert.is(s.peers.length, 3);
  assert.is(counters.get('evict.snapshot_peers'), 2);
  assert.ok(s.peers.some((p) => p.status === 'failed'), 'failed peers are kept');
  assert.equal([s.clock, s.eventClock, s.queryClock], [3, 4, 6]);
  await sn.leave();
  assert.ok(decodeSnapshot(store.data!).left);
  const sn2 = new Snapshotter({ store, node: 'me', maxPeers: 3, logger: Logger.silent(), counters });
  const loaded = await sn2.load();
  assert.ok(loaded && loaded.left);
  assert.is(sn2.peerAddresses().length, 3);
  await sn.close(); await sn2.close();
});

test('snapshotter: clock-only changes are written on the slower clock interval, peer changes sooner', async () => {
  const store = new MemoryFile();
  const sn = new Snapshotter({ store, node: 'me', maxPeers: 8, minIntervalMs: 100, clockIntervalMs: 600, logger: Logger.silent(), counters: new Counters() });
  sn.peerAlive('a', '10.0.0.1', 7946);
  await new Promise((r) => setTimeout(r, 30));
  assert.is(store.writes, 1);
  sn.clocks(10, 10, 10);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(store.writes, 1, 'clock change alone waits for the clock interval');
  sn.peerAlive('b', '10.0.0.2', 7946);
  await new Promise((r) => setTimeout(r, 100));
  assert.is(store.writes, 2, 'a peer change brings the write forward (clocks included)');
  assert.is(decodeSnapshot(store.data!).clock, 10);
  sn.clocks(11, 11, 11);
  await new Promise((r) => setTimeout(r, 800));
  assert.is(store.writes, 3);
  await sn.close();
});

test('snapshotter: corrupt file is counted and ignored, not fatal', async () => {
  const store = new MemoryFile();
  store.data = new TextEncoder().encode('garbage');
  const counters = new Counters();
  const sn = new Snapshotter({ store, node: 'me', maxPeers: 3, logger: Logger.silent(), counters });
  assert.is(await sn.load(), null);
  assert.is(counters.get('snapshot.decode_errors'), 1);
  await sn.close();
});

test.run();
