// Remote `config set limit.NAME VALUE|default` (issue 12 point 4): an admin's
// change is validated, written to <data-dir>/remote/limits.json and applied
// when the agent starts again (in-process restart on the same data dir); a
// viewer, a bad name, a bad value, a lock-out limit and a raise past the
// memory bound are refused with nothing written; `default` removes the
// override; a corrupt file is moved aside and the agent starts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EDGE_LIMITS } from '../../agent/config/limits.ts';
import { keygen, ours, startNode, tempDir, type TestNode } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const tmp = tempDir('limits');
const adminFile = join(tmp, 'admin.key');
const viewerFile = join(tmp, 'viewer.key');
const edgeDir = join(tmp, 'edge');
const file = join(edgeDir, 'remote', 'limits.json');
let full: TestNode, edge: TestNode;

test.before(async () => {
  const adminPub = await keygen(adminFile);
  const viewerPub = await keygen(viewerFile);
  full = await startNode({ name: 'rc-lim-full', host: '127.22.0.41', dataDir: join(tmp, 'full'), mode: 'full' });
  edge = await startNode({ name: 'rc-lim-edge', host: '127.22.0.42', dataDir: edgeDir, join: [full.gossip], trust: [adminPub, `${viewerPub}@viewer`] });
  await waitFor('two alive members', () => [full, edge].every((n) => n.h.serf.members().filter((m) => m.status === 'alive').length === 2));
});

test.after(async () => {
  for (const n of [full, edge]) await n?.h.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const remote = (args: string[], key = adminFile) => ours(['remote', '-key', key, '-rpc-addr', full.rpc, '-timeout', '10s', ...args]);

async function restartEdge(): Promise<void> {
  await edge.h.stop();
  edge = await startNode({ ...edge.opts, join: [full.gossip] });
  await waitFor('edge back', () => full.h.serf.members().some((m) => m.name === 'rc-lim-edge' && m.status === 'alive') && edge.h.serf.members().length === 2);
}

test('refusals write nothing: viewer, unknown name, bad value, lock-out limit, raise past the memory bound', async () => {
  const viewer = await remote(['rc-lim-edge', 'config', 'set', 'limit.logRing', '300'], viewerFile);
  assert.is(viewer.code, 1);
  assert.match(viewer.stderr, /refused/);
  const badName = await remote(['rc-lim-edge', 'config', 'set', 'limit.noSuchLimit', '5']);
  assert.is(badName.code, 1);
  assert.match(badName.stderr, /unknown limit/);
  const badValue = await remote(['rc-lim-edge', 'config', 'set', 'limit.logRing', 'lots']);
  assert.is(badValue.code, 1);
  assert.match(badValue.stderr, /positive integer/);
  const zero = await remote(['rc-lim-edge', 'config', 'set', 'limit.logRing', '0']);
  assert.is(zero.code, 1);
  const lockout = await remote(['rc-lim-edge', 'config', 'set', 'limit.remoteRateBurst', '1']);
  assert.is(lockout.code, 1);
  assert.match(lockout.stderr, /lock remote operators out/);
  const raise = await remote(['rc-lim-edge', 'config', 'set', 'limit.maxMembers', String(EDGE_LIMITS.maxMembers + 1)]);
  assert.is(raise.code, 1);
  assert.match(raise.stderr, /memory budget allow/);
  assert.not.ok(existsSync(file), 'nothing written');
});

test('an admin sets limit.NAME: written, shown pending, effective after a restart; default removes it', async () => {
  const s = await remote(['rc-lim-edge', 'config', 'set', 'limit.log-ring', '300']);
  assert.is(s.code, 0, s.stderr);
  assert.is(s.stdout, 'limit.log-ring = 300 (applies at next restart)\n');
  const lower = await remote(['rc-lim-edge', 'config', 'set', 'limit.maxMembers', '200']);
  assert.is(lower.code, 0, lower.stderr);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')), { v: 1, limits: { logRing: 300, maxMembers: 200 } });
  const g = await remote(['rc-lim-edge', 'config', 'get']);
  assert.match(g.stdout, new RegExp(`^limit\\.logRing = ${EDGE_LIMITS.logRing}$`, 'm'));
  assert.match(g.stdout, /^limit\.logRing\.pending = 300$/m);
  assert.is(edge.h.limits.logRing, EDGE_LIMITS.logRing);

  await restartEdge();
  assert.is(edge.h.limits.logRing, 300);
  assert.is(edge.h.limits.maxMembers, 200);
  const after = await remote(['rc-lim-edge', 'config', 'get']);
  assert.match(after.stdout, /^limit\.logRing = 300$/m);
  assert.not.match(after.stdout, /\.pending = /);

  const d = await remote(['rc-lim-edge', 'config', 'set', 'limit.logRing', 'default']);
  assert.is(d.code, 0, d.stderr);
  assert.is(d.stdout, 'limit.logRing = default (applies at next restart)\n');
  assert.equal(JSON.parse(readFileSync(file, 'utf8')), { v: 1, limits: { maxMembers: 200 } });
  const p = await remote(['rc-lim-edge', 'config', 'get', 'limit.logRing.pending']);
  assert.is(p.stdout, 'limit.logRing.pending = default\n');
  await restartEdge();
  assert.is(edge.h.limits.logRing, EDGE_LIMITS.logRing);
  assert.is(edge.h.limits.maxMembers, 200);
});

test('a -limit flag wins over the file (and cannot be changed remotely)', async () => {
  await edge.h.stop();
  edge = await startNode({ ...edge.opts, join: [full.gossip], limitFlags: { maxMembers: 150 } });
  await waitFor('edge back', () => full.h.serf.members().some((m) => m.name === 'rc-lim-edge' && m.status === 'alive'));
  assert.is(edge.h.limits.maxMembers, 150);
  const r = await remote(['rc-lim-edge', 'config', 'set', 'limit.maxMembers', '100']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /-limit flag/);
  edge.opts.limitFlags = undefined;
  await restartEdge();
  assert.is(edge.h.limits.maxMembers, 200);
});

test('a corrupt limits file is moved aside and the agent starts with its configured limits', async () => {
  await edge.h.stop();
  writeFileSync(file, '{"v":1,"limits":{"maxMembers":');
  edge = await startNode({ ...edge.opts, join: [full.gossip] });
  await waitFor('edge back', () => full.h.serf.members().some((m) => m.name === 'rc-lim-edge' && m.status === 'alive'));
  assert.is(edge.h.limits.maxMembers, EDGE_LIMITS.maxMembers);
  assert.not.ok(existsSync(file));
  assert.ok(readdirSync(join(edgeDir, 'remote')).some((n) => n.startsWith('limits.json.corrupt-')));
  const info = await ours(['info', '-rpc-addr', edge.rpc]);
  assert.ok(info.stdout.includes(`moved_aside ${file}`), info.stdout);
  // Remote control still works and can write a fresh file.
  const s = await remote(['rc-lim-edge', 'config', 'set', 'limit.logRing', '400']);
  assert.is(s.code, 0, s.stderr);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')), { v: 1, limits: { logRing: 400 } });
});

test.run();
