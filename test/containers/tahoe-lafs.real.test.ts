// Tahoe-LAFS for real (issue 13 point 10): `cloudy-agent lxc create NAME -t
// tahoe-lafs` builds an introducer + storage node on a Debian trixie root
// (Debian 12 has no tahoe-lafs; the cached trixie tree under
// /var/cache/cloudy-agent/rootfs is built once per machine from the host's
// mirror), the agent announces it as Cloudy does (type tahoe-lafs, the forwarded
// introducer port, the grid name as description, the introducer's tub id as
// TXT), and a real Tahoe client joins the grid with nothing but the announced
// record - pb://<t>@tcp:<i>:<p>/introducer, the FURL Cloudy's GUI builds - and
// uploads and downloads a file through it.
//
// The client is a second container made by plain `lxc-create -t
// lxc-templates/cloudy-tahoe-lafs -- --introducer-furl FURL` from the same cached
// root, on a second bridge standing for the community network: it reaches the
// introducer through the host's community address and the agent's port forward,
// the storage node at the container's own address (routed by the host).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lxcCommand } from '../../agent/containers/cli.ts';
import { createBridge, deleteLink, exec, removeDir, sh, startTestAgent, TEMPLATES, type TestAgent } from './helpers.ts';
import { freePort } from '../support/net.ts';
import { waitFor } from '../support/wait.ts';

const BR = 'thbr0';                    // the agent's container bridge
const NET = { bridge: BR, cidr: '10.229.0.0/24', gateway: '10.229.0.1' };
const CBR = 'thbr1';                   // "community network" side
const COMMUNITY_IP = '10.229.1.1';
const CLIENT_IP = '10.229.1.2';
const GRID = 'thgrid';
const CLIENT = 'thcli';
const GRID_NAME = 'Th_Test-Grid';
const LXC = '/var/lib/lxc';
const T = 'var/lib/tahoe-lafs';
let agent: TestAgent;
let addr = '';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await lxcCommand.run(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { code, out, err };
}

async function filesUnder(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

// Only our own containers and bridges: the shared helper's destroyContainers also
// clears the agent's nat table, which other engineers' tests may be using.
async function cleanup(): Promise<void> {
  for (const n of [GRID, CLIENT]) {
    for (let i = 0; i < 3 && (await sh('lxc-ls', ['-1'], true)).split(/\s+/).includes(n); i++) {
      await sh('lxc-stop', ['-k', '-n', n], true);
      const r = await exec.run('lxc-destroy', ['-f', '-n', n], { timeoutMs: 120_000 });
      if (r.exitCode !== 0) console.error(`lxc-destroy ${n}: ${r.stderr.trim()}`);
    }
  }
  for (const b of [BR, CBR]) await deleteLink(b);
}

test.before(async () => {
  await cleanup();
  await createBridge(BR, '10.229.0.1/24');
  await createBridge(CBR, `${COMMUNITY_IP}/24`);
  agent = await startTestAgent({ network: NET, communityIp: COMMUNITY_IP, intervalMs: 1000 });
  const a = agent.server.address()!;
  addr = `${a.host}:${a.port}`;
});

test.after(async () => {
  try { await agent?.stop(); } catch { /* best effort */ }
  await cleanup();
  if (agent) await removeDir(agent.stateDir);
});

test('tahoe-lafs grid through the agent; a real client joins it from the announcement and stores a file', async () => {
  const cached = (await readdir('/var/cache/cloudy-agent/rootfs').catch(() => [] as string[])).includes('base-trixie-amd64');
  const hostPort = await freePort(COMMUNITY_IP);
  const t0 = Date.now();
  const c = await cli('create', GRID, '-t', 'tahoe-lafs', '-memory', '512M', '-host-port', String(hostPort), '-start',
    '-rpc-addr', addr, '-format', 'json', '--', '--grid-name', GRID_NAME);
  assert.is(c.code, 0, c.err);
  const tCreate = Date.now() - t0;
  const created = JSON.parse(c.out);
  assert.is(created.Service.Type, 'tahoe-lafs');
  assert.is(created.Service.Port, 3457);
  assert.is(created.Service.HostPort, hostPort);
  assert.is(created.Service.Description, GRID_NAME);

  // Announced as avahi-ps's tahoe-lafs.service does, once the introducer listens.
  const rec = await waitFor('tahoe-lafs announced', () => agent.announced().find((r) => r.s === 'tahoe-lafs'), 120_000, 500) as
    { s: string; p: string; i: string; d: string; t?: string };
  const tAnnounced = Date.now() - t0;
  assert.is(rec.i, COMMUNITY_IP);
  assert.is(rec.p, String(hostPort));
  assert.is(rec.d, GRID_NAME);
  assert.match(rec.t ?? '', /^[a-z2-7]{32}$/);
  // The TXT is the running introducer's own id (Tahoe writes my_nodeid when it starts).
  const nodeid = await waitFor('introducer my_nodeid', async () => (await readFile(join(LXC, GRID, 'rootfs', T, 'introducer/my_nodeid'), 'utf8').catch(() => '')).trim(), 60_000, 500);
  assert.is(nodeid, rec.t);
  const furl = `pb://${rec.t}@tcp:${rec.i}:${rec.p}/introducer`;

  // A client node from the same cached root, on the community side, made by plain lxc-create.
  const cfg = join(tmpdir(), 'thcli.conf');
  await writeFile(cfg, [
    'lxc.net.0.type = veth', `lxc.net.0.link = ${CBR}`, 'lxc.net.0.flags = up', 'lxc.net.0.name = eth0',
    `lxc.net.0.ipv4.address = ${CLIENT_IP}/24`, `lxc.net.0.ipv4.gateway = ${COMMUNITY_IP}`, '',
  ].join('\n'));
  await sh('lxc-create', ['-n', CLIENT, '-t', join(TEMPLATES, 'cloudy-tahoe-lafs'), '-f', cfg, '--', '--introducer-furl', furl]);
  const clientCfg = await readFile(join(LXC, CLIENT, 'rootfs', T, 'client/tahoe.cfg'), 'utf8');
  assert.match(clientCfg, /shares\.needed = 1/);
  assert.match(clientCfg, /shares\.happy = 1/);
  assert.match(clientCfg, /shares\.total = 1/);
  await sh('lxc-start', ['-n', CLIENT]);
  const web = `http://${CLIENT_IP}:3456`;

  // The client learns the storage node from the introducer and connects to it.
  const welcome = await waitFor('client connected to the introducer and the storage node', async () => {
    const r = await fetch(`${web}/?t=json`, { signal: AbortSignal.timeout(5_000) });
    const j = await r.json() as { introducers?: { statuses?: string[] }; servers?: { nodeid: string; nickname?: string; connection_status?: string }[] };
    const connected = (j.servers ?? []).filter((s) => /^Connected/i.test(s.connection_status ?? ''));
    return connected.length > 0 && (j.introducers?.statuses ?? []).some((s) => /^Connected/i.test(s)) ? { j, connected } : undefined;
  }, 180_000, 1000);
  assert.is(welcome.connected.length, 1);
  assert.is(welcome.connected[0]!.nickname, GRID);
  const tJoined = Date.now() - t0;

  // Upload (bigger than a literal cap, so it must go to the storage node), download, compare.
  const sharesDir = join(LXC, GRID, 'rootfs', T, 'node/storage/shares');
  const sharesBefore = await filesUnder(sharesDir);
  const data = randomBytes(300_000);
  const put = await fetch(`${web}/uri`, { method: 'PUT', body: data, signal: AbortSignal.timeout(120_000) });
  const cap = (await put.text()).trim();
  assert.is(put.status, 200, cap);
  assert.match(cap, /^URI:CHK:/);
  assert.ok(await filesUnder(sharesDir) > sharesBefore, 'a share landed on the grid container\'s storage node');
  assert.is(await filesUnder(join(LXC, CLIENT, 'rootfs', T, 'client/storage')), 0, 'the client stores nothing itself');
  const got = Buffer.from(await (await fetch(`${web}/uri/${encodeURIComponent(cap)}`, { signal: AbortSignal.timeout(120_000) })).arrayBuffer());
  assert.is(got.length, data.length);
  assert.ok(got.equals(data), 'downloaded bytes equal the uploaded ones');
  const tDone = Date.now() - t0;
  console.log(`tahoe-lafs: create+start ${tCreate} ms (${cached ? 'trixie root cached' : 'cold: trixie root built now'}), announced ${tAnnounced} ms, `
    + `client joined ${tJoined} ms, 300 kB up+down ${tDone} ms`);

  // Stopping the grid withdraws the announcement.
  assert.is((await cli('stop', GRID, '-rpc-addr', addr)).code, 0);
  await waitFor('tahoe-lafs withdrawn', () => !agent.announced().some((r) => r.s === 'tahoe-lafs'), 30_000, 500);
});

test.run();
