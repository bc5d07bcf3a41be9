// HostID and node-name.json follow the rule of every state file (issue 18): a
// file that does not parse is moved aside with a timestamp and said; what it held
// is recovered from the other file or the snapshot when they still have it; a new
// one is made only when nothing has it. A write the disk refuses does not stop
// the start (the real full-disk case: test/state/full-disk.real.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity, type IdentityNote } from '../../agent/state/identity.ts';
import { applyHostDefaults } from '../../agent/config/host-defaults.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';

const dirs: string[] = [];
const fresh = (): string => { const d = mkdtempSync(join(tmpdir(), 'cr-ident-')); dirs.push(d); return d; };
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const P = { hostname: 'box', ip: '10.226.5.1', port: 5000 };
const gen = { epochNanos: () => 123_456_789_000n };
const aside = (d: string, name: string): string[] => readdirSync(d).filter((f) => f.startsWith(`${name}.corrupt-`));
const asides = (n: IdentityNote[] | undefined): Extract<IdentityNote, { kind: 'aside' }>[] =>
  (n ?? []).filter((x): x is Extract<IdentityNote, { kind: 'aside' }> => x.kind === 'aside');

test('garbage HostID: moved aside, the HostID recovered from node-name.json, the name kept', async () => {
  const d = fresh();
  const a = await loadIdentity(d, P, gen);
  writeFileSync(join(d, 'HostID'), 'zz\u0000garbage\n');
  const b = await loadIdentity(d, P, gen);
  assert.equal([b.hostId, b.nodeName], [a.hostId, a.nodeName]);
  assert.is(aside(d, 'HostID').length, 1);
  assert.is(readFileSync(join(d, aside(d, 'HostID')[0]!), 'utf8'), 'zz\u0000garbage\n', 'bad bytes kept for a person');
  assert.is(readFileSync(join(d, 'HostID'), 'utf8').trim(), a.hostId);
  const n = asides(b.notes);
  assert.is(n.length, 1);
  assert.match(n[0]!.instead, /kept the HostID .* recovered from .*node-name\.json/);
});

test('garbage node-name.json: moved aside, the name recovered from the snapshot; truncated both: both recovered from the snapshot', async () => {
  const d = fresh();
  const a = await loadIdentity(d, P, gen);
  const snap = join(d, 'serf.snapshot');
  writeFileSync(snap, JSON.stringify({ version: 1, node: a.nodeName, clock: 1, eventClock: 0, queryClock: 0, left: false, peers: [], savedAt: 1 }));
  writeFileSync(join(d, 'node-name.json'), '{"version":1,"nodeName":"');
  const b = await loadIdentity(d, { ...P, snapshotPath: snap }, { epochNanos: () => 999n });
  assert.is(b.nodeName, a.nodeName);
  assert.is(aside(d, 'node-name.json').length, 1);
  assert.match(asides(b.notes)[0]!.instead, /kept the node name .* recovered from .*serf\.snapshot/);
  assert.is(JSON.parse(readFileSync(join(d, 'node-name.json'), 'utf8')).nodeName, a.nodeName, 'written again');

  writeFileSync(join(d, 'HostID'), a.hostId.slice(0, 10));
  writeFileSync(join(d, 'node-name.json'), '');
  const c = await loadIdentity(d, { ...P, snapshotPath: snap }, { epochNanos: () => 999n });
  assert.equal([c.hostId, c.nodeName], [a.hostId, a.nodeName]);
  assert.is(asides(c.notes).length, 2);
});

test('a snapshot name of another host, IP or port is not taken; nothing to recover from: new identity, said so', async () => {
  const d = fresh();
  const a = await loadIdentity(d, P, gen);
  const snap = join(d, 'serf.snapshot');
  writeFileSync(snap, JSON.stringify({ version: 1, node: a.nodeName, peers: [] }));
  writeFileSync(join(d, 'node-name.json'), 'garbage');
  const b = await loadIdentity(d, { ...P, ip: '10.226.5.2', snapshotPath: snap }, { epochNanos: () => 7n });
  assert.is(b.hostId, a.hostId);
  assert.ok(b.nodeName.endsWith('-box-10.226.5.2:5000') && b.nodeName !== a.nodeName);
  assert.match(asides(b.notes)[0]!.instead, /made a new node name/);

  const e = fresh();
  writeFileSync(join(e, 'HostID'), 'not hex');
  writeFileSync(join(e, 'node-name.json'), '{"version":9}');
  const c = await loadIdentity(e, P, gen);
  assert.match(c.hostId, /^[0-9a-f]{32}$/);
  const n = asides(c.notes);
  assert.equal(n.map((x) => x.path.split('/').pop()), ['HostID', 'node-name.json']);
  assert.match(n[0]!.instead, /made a new HostID/);
  assert.match(n[1]!.why, /version 1/);
  assert.ok(existsSync(join(e, 'HostID')) && existsSync(join(e, 'node-name.json')));
});

test('the host defaults carry the notes to the daemon (host.identityNotes); a clean start has none', async () => {
  const d = fresh();
  const net = { hostname: 'box', interfaces: [{ name: 'eth0', ipv4: ['10.226.5.1'] }], defaultRouteInterface: 'eth0' };
  const cfg = { ...defaultAgentConfig(), dataDir: d, autoNodeName: true, bind: '0.0.0.0:5000' };
  const ok = await applyHostDefaults(cfg, { net, isRoot: false, home: d } as never, loadIdentity);
  assert.is(ok.host?.identityNotes, undefined);
  writeFileSync(join(d, 'HostID'), 'bad');
  const bad = await applyHostDefaults(cfg, { net, isRoot: false, home: d } as never, loadIdentity);
  assert.is(bad.nodeName, ok.nodeName);
  assert.is(bad.host?.identityNotes?.length, 1);
});

test.run();
