// One role table: the command registry. On real in-process daemons built from
// the real plug-in list (agentPlugins: discovery, containers declared off,
// guifi, remote, API), every admin command that registry.list() reports is
// refused to a viewer by each transport that has viewers:
//   - the registry itself (registry.invoke with role viewer);
//   - the HTTP API: POST /api/v1/commands/NAME with a viewer token, and every
//     route the router serves whose role is admin (their roles come from the
//     registry for routes that run a command);
//   - remote control: the command signed by a key the edge trusts as viewer,
//     sent from the full node, refused with reason `role` and nothing run.
// (serf's agent RPC has one trust level, -rpc-auth, and grants admin.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonHandle } from '../../agent/daemon.ts';
import type { Api } from '../../agent/api/index.ts';
import { registryNameOf, remoteInvocationOf } from '../../agent/remote/commands.ts';
import { agentConfig, InProcessAgents } from '../support/agents.ts';
import { ours as cli } from '../cli/helpers.ts';
import { call, waitFor } from '../api/helpers.ts';

let dir = '';
const agents = new InProcessAgents();
let full: DaemonHandle, edge: DaemonHandle;
let port = 0;
let api: Api;
let viewerToken = '';
const cfg = (name: string, over: Parameters<typeof agentConfig>[1]) => agentConfig(name, over, '127.22.9.1');

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rc-roles-'));
  // The full node signs with <data-dir>/operator.key; the edge trusts that key as a viewer only.
  const kg = await cli(['operator', 'keygen', '-out', join(dir, 'full', 'operator.key')]);
  assert.is(kg.code, 0, kg.stderr);
  const pub = kg.stdout.split('\n').find((l) => l.startsWith('ed25519:'))?.trim() ?? /ed25519:\S+/.exec(kg.stdout)![0];
  full = await agents.start(cfg('rc-rfull', { mode: 'full', http: '127.0.0.1:0', dataDir: join(dir, 'full') }), { onListening: (p, a) => { port = p; api = a; } });
  edge = await agents.start(cfg('rc-redge', { mode: 'edge', dataDir: join(dir, 'edge'), trustedOperators: [`${pub}@viewer`], join: [`127.22.9.1:${full.serf.localMember().port}`] }));
  await waitFor('both alive', () => full.serf.members().filter((m) => m.status === 'alive').length === 2 && edge.serf.members().filter((m) => m.status === 'alive').length === 2);
  const v = await cli(['token', 'create', 'rc-viewer', '-data-dir', join(dir, 'full')]);
  assert.is(v.code, 0, v.stderr);
  viewerToken = v.stdout.trim().split('\n').pop()!;
});

test.after(async () => {
  await agents.stopAll();
  await rm(dir, { recursive: true, force: true });
});

const adminCommands = (d: DaemonHandle) => d.registry.list().filter((c) => c.role === 'admin').map((c) => c.name);

test('the registry lists admin commands of every family', () => {
  const names = adminCommands(full);
  for (const n of ['publish', 'unpublish', 'lxc.create', 'lxc.destroy', 'lxc.config', 'join', 'leave', 'tags.set', 'config.set', 'operator.trust', 'remote.run', 'guifi.register']) {
    assert.ok(names.includes(n), `${n} is an admin command`);
  }
});

test('registry: a viewer is refused every admin command (E_FORBIDDEN, before availability or arguments)', async () => {
  for (const name of adminCommands(full)) {
    let code = '';
    try { await full.registry.invoke(name, {}, { origin: 'http', role: 'viewer' }); } catch (e) { code = (e as { code: string }).code; }
    assert.is(code, 'E_FORBIDDEN', name);
  }
});

test('HTTP API: a viewer token is refused every admin command and every admin route (403 E_FORBIDDEN)', async () => {
  const asV = { authorization: `Bearer ${viewerToken}` };
  for (const name of adminCommands(full)) {
    const r = await call(port, 'POST', `/api/v1/commands/${name}`, { headers: asV, body: {} });
    assert.is(r.status, 403, name);
    assert.is(r.json.error.code, 'E_FORBIDDEN', name);
  }
  const adminRoutes = api.router.routes().filter((r) => r.role === 'admin');
  assert.ok(adminRoutes.some((r) => r.command === 'publish') && adminRoutes.some((r) => r.command === 'lxc.create'));
  for (const r of adminRoutes) {
    const path = r.path.replace(/:[a-z]+/g, (m) => (m === ':port' ? '8080' : 'x'));
    const res = await call(port, r.method, path, { headers: asV, body: {} });
    assert.is(res.status, 403, `${r.method} ${r.path}`);
  }
  // The route's role is the registry's: a route that runs a viewer command is open to viewers.
  for (const r of api.router.routes().filter((x) => x.command !== undefined)) assert.is(r.role, full.registry.roleOf(r.command!), r.path);
});

test('remote control: a viewer key is refused every admin command the edge offers remotely (reason role, nothing run)', async () => {
  const offered = adminCommands(edge).map((n) => [n, remoteInvocationOf(n)] as const).filter((x): x is readonly [string, string[]] => x[1] !== null);
  assert.ok(offered.length >= 13, `${offered.length} admin commands offered remotely`);
  const tagsBefore = JSON.stringify(edge.serf.localMember().tags);
  for (const [name, [command, ...args]] of offered) {
    assert.is(registryNameOf(command!, args), name, 'the invocation amounts to that command');
    const r = await full.registry.invoke('remote.run', { Node: 'rc-redge', Command: command, Args: args, TimeoutMs: 20_000 }, { origin: 'http', role: 'admin' }) as { Results: { Status: string; Reason: string }[] };
    assert.equal(r.Results.map((x) => [x.Status, x.Reason]), [['refused', 'role']], name);
  }
  assert.is(edge.counters.get('remote.refused.role'), offered.length);
  assert.is(edge.counters.get('remote.executed'), 0);
  assert.is(JSON.stringify(edge.serf.localMember().tags), tagsBefore);
  // A viewer command does run with the same key.
  const ok = await full.registry.invoke('remote.view', { Node: 'rc-redge', Command: 'config', Args: ['get', 'mode'] }, { origin: 'http', role: 'viewer' }) as { Results: { Status: string; Stdout: string }[] };
  assert.equal(ok.Results.map((x) => [x.Status, x.Stdout]), [['ok', 'mode = edge\n']]);
});

test.run();
