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
// The client stands for a grid member on another machine of the community
// network: it runs in a network namespace whose only link is a veth pair to the
// host's community address, with no route to the container bridge. It reaches
// the introducer through the agent's forward of the announced port, and the
// storage node only through the second port the agent forwards for it (the
// storage node announces the host's community address and that port). Its
// tahoe is the cached trixie root's, run by chroot on an overlay of it (the
// cache itself is never written).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientNamespace, deleteNamespace, exec, removeDir, sh } from './helpers.ts';
import { startCliAgent, type CliAgent } from '../support/lxc-cli-agent.ts';
import { freePort } from '../support/net.ts';
import { waitFor } from '../support/wait.ts';

const NET = { bridge: 'thbr0', cidr: '10.229.0.0/24', gateway: '10.229.0.1' };
const NS = 'thns';                     // the other machine of the community network
const HOST_IF = 'thv0';
const COMMUNITY_IP = '10.229.1.1';     // the host's community-side address (on thv0)
const CLIENT_IP = '10.229.1.2';
const TABLE = 'th_agent';              // our own nft table: other tests' forwards are left alone
const GRID = 'thgrid';
const GRID_NAME = 'Th_Test-Grid';
const LXC = '/var/lib/lxc';
const T = 'var/lib/tahoe-lafs';
const CACHE = '/var/cache/cloudy-agent/rootfs';
const ENV = ['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8'];
let stack: CliAgent;
let work = '';
let root = '';
let client: ChildProcess | null = null;
let clientLog = '';

async function filesUnder(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

/** argv for `ip` running a command of the trixie root inside the client's namespace. */
const inClient = (...cmd: string[]): string[] => ['netns', 'exec', NS, 'chroot', root, ...ENV, ...cmd];

/** The cached root holding tahoe-lafs (built by the grid's template run if it was not there). */
async function cachedTahoeRoot(): Promise<string> {
  for (const d of await readdir(CACHE)) {
    if (d.endsWith('.partial')) continue;
    const pk = await readFile(join(CACHE, d, 'etc/cloudy-rootfs-packages'), 'utf8').catch(() => '');
    if (/^trixie \S+ tahoe-lafs /.test(pk)) return join(CACHE, d);
  }
  throw new Error(`no cached trixie root with tahoe-lafs under ${CACHE}`);
}

async function unmountClientRoot(dir: string): Promise<void> {
  await sh('umount', ['-l', join(dir, 'proc')], true);
  await sh('umount', ['-l', dir], true);
}

// Only our own container, namespace, table and mounts: the shared helper's
// destroyContainers also clears the default nat table, which other tests may be using.
async function cleanup(): Promise<void> {
  if (client && client.exitCode === null) {
    client.kill('SIGTERM');
    await waitFor('client tahoe ended', () => client!.exitCode !== null || client!.signalCode !== null, 15_000, 200).catch(() => client?.kill('SIGKILL'));
  }
  for (let i = 0; i < 3 && (await sh('lxc-ls', ['-1'], true)).split(/\s+/).includes(GRID); i++) {
    await sh('lxc-stop', ['-k', '-n', GRID], true);
    const r = await exec.run('lxc-destroy', ['-f', '-n', GRID], { timeoutMs: 120_000 });
    if (r.exitCode !== 0) console.error(`lxc-destroy ${GRID}: ${r.stderr.trim()}`);
  }
  for (const m of (await readFile('/proc/mounts', 'utf8')).split('\n')) {
    const dir = m.split(' ')[1] ?? '';
    if (dir.startsWith(join(tmpdir(), 'th-tahoe-client-')) && dir.endsWith('/root')) await unmountClientRoot(dir);
  }
  await deleteNamespace(NS, HOST_IF);
  await sh('nft', ['delete', 'table', 'ip', TABLE], true);
}

test.before(async () => {
  await cleanup();
  await sh('ip', ['link', 'del', NET.bridge], true);
  // The other machine: one veth link to the host's community address and no route beyond it.
  await createClientNamespace(NS, HOST_IF, `${COMMUNITY_IP}/24`, `${CLIENT_IP}/24`, '');
  stack = await startCliAgent({ network: NET, communityIp: COMMUNITY_IP, intervalMs: 1000, firewallTable: TABLE });
});

test.after(async () => {
  await stack?.stop();
  await cleanup();
  if (work) await removeDir(work);
});

test('tahoe-lafs grid through the agent; a client on another machine joins it from the announcement and stores a file', async () => {
  const cli = stack.cli;
  const agent = stack.agent;
  const cached = (await readdir(CACHE).catch(() => [] as string[])).includes('base-trixie-amd64');
  const hostPort = await freePort(COMMUNITY_IP);
  let chosen = await freePort(COMMUNITY_IP);
  for (let i = 0; i < 10 && chosen === hostPort; i++) chosen = await freePort(COMMUNITY_IP);
  const t0 = Date.now();
  const c = await cli('create', GRID, '-t', 'tahoe-lafs', '-memory', '512M', '-host-port', String(hostPort), '-forward-port', `storage=${chosen}`, '-start',
    '-format', 'json', '--', '--grid-name', GRID_NAME);
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

  // The client: tahoe of the cached trixie root, on an overlay (the cache stays as it is), in the namespace.
  work = await mkdtemp(join(tmpdir(), 'th-tahoe-client-'));
  root = join(work, 'root');
  for (const d of ['upper', 'work', 'root']) await mkdir(join(work, d));
  await sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${await cachedTahoeRoot()},upperdir=${join(work, 'upper')},workdir=${join(work, 'work')}`, root]);
  await sh('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
  await mkdir(join(root, T), { recursive: true });
  // The grid container's own address is out of the client's reach, as on another machine.
  const gridIp = String(created.IPv4);
  const direct = await exec.run('ip', inClient('python3', '-c', `import socket; socket.create_connection(("${gridIp}", 3458), 5)`), { timeoutMs: 30_000 });
  assert.is.not(direct.exitCode, 0, `the client reaches ${gridIp}:3458 directly: the test would not show the forward works`);
  const mk = await exec.run('ip', inClient('tahoe', 'create-client', '--nickname=thclient', `--introducer=${furl}`,
    `--webport=tcp:3456:interface=${CLIENT_IP}`, '--shares-needed=1', '--shares-happy=1', '--shares-total=1', `/${T}/client`), { timeoutMs: 120_000 });
  assert.is(mk.exitCode, 0, mk.stderr);
  client = spawn('ip', inClient('tahoe', 'run', '--allow-stdin-close', `/${T}/client`), { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b: Buffer): void => { clientLog = (clientLog + b.toString()).slice(-4000); };
  client.stdout!.on('data', keep);
  client.stderr!.on('data', keep);
  const web = `http://${CLIENT_IP}:3456`;

  // The client learns the storage node from the introducer and connects to it through the host.
  let last = '';
  const welcome = await waitFor('client connected to the introducer and the storage node', async () => {
    if (client!.exitCode !== null) throw new Error(`client tahoe exited ${client!.exitCode}: ${clientLog}`);
    const r = await fetch(`${web}/?t=json`, { signal: AbortSignal.timeout(5_000) });
    const j = await r.json() as { introducers?: { statuses?: string[] }; servers?: { nodeid: string; nickname?: string; connection_status?: string }[] };
    last = JSON.stringify({ introducers: j.introducers, servers: j.servers });
    const connected = (j.servers ?? []).filter((s) => /^Connected/i.test(s.connection_status ?? ''));
    return connected.length > 0 && (j.introducers?.statuses ?? []).some((s) => /^Connected/i.test(s)) ? { j, connected } : undefined;
  }, 180_000, 1000).catch((e: Error) => { throw new Error(`${e.message}; client's last view: ${last}`); });
  assert.is(welcome.connected.length, 1);
  assert.is(welcome.connected[0]!.nickname, GRID);
  const tJoined = Date.now() - t0;

  // The storage node's own forward: recorded with the container, in the nat table, announced by the node itself.
  const info = JSON.parse((await cli('info', GRID, '-format', 'json')).out);
  const fwd = (info.Service.Forwards ?? []) as { Name: string; Port: number; HostPort: number; Protocol: string }[];
  assert.is(fwd.length, 1, JSON.stringify(info.Service));
  assert.is(fwd[0]!.Name, 'storage');
  assert.is(fwd[0]!.Port, 3458);
  const storagePort = fwd[0]!.HostPort;
  assert.is(storagePort, chosen);
  assert.match((await cli('list')).out, `tahoe-lafs ${COMMUNITY_IP}:${hostPort}->3457/tcp published, storage ${COMMUNITY_IP}:${chosen}->3458/tcp`);
  const state = JSON.parse(await readFile(join(agent.stateDir, 'containers.json'), 'utf8')) as { containers: { name: string; service: { forwards?: unknown } }[] };
  assert.equal(state.containers.find((x) => x.name === GRID)!.service.forwards, [{ name: 'storage', port: 3458, hostPort: storagePort, protocol: 'tcp' }]);
  const nat = await sh('nft', ['list', 'table', 'ip', TABLE]);
  assert.match(nat, `ip daddr ${COMMUNITY_IP} tcp dport ${storagePort} dnat to ${gridIp}:3458`);
  const nodeCfg = await readFile(join(LXC, GRID, 'rootfs', T, 'node/tahoe.cfg'), 'utf8');
  assert.match(nodeCfg, `tub.location = tcp:${COMMUNITY_IP}:${storagePort},tcp:${gridIp}:3458`);

  // Upload (bigger than a literal cap, so it must go to the storage node), download, compare.
  const sharesDir = join(LXC, GRID, 'rootfs', T, 'node/storage/shares');
  const sharesBefore = await filesUnder(sharesDir);
  const data = randomBytes(300_000);
  const put = await fetch(`${web}/uri`, { method: 'PUT', body: data, signal: AbortSignal.timeout(120_000) });
  const cap = (await put.text()).trim();
  assert.is(put.status, 200, cap);
  assert.match(cap, /^URI:CHK:/);
  assert.ok(await filesUnder(sharesDir) > sharesBefore, 'a share landed on the grid container\'s storage node');
  assert.is(await filesUnder(join(root, T, 'client/storage')), 0, 'the client stores nothing itself');
  const got = Buffer.from(await (await fetch(`${web}/uri/${encodeURIComponent(cap)}`, { signal: AbortSignal.timeout(120_000) })).arrayBuffer());
  assert.is(got.length, data.length);
  assert.ok(got.equals(data), 'downloaded bytes equal the uploaded ones');
  const tDone = Date.now() - t0;
  console.log(`tahoe-lafs: create+start ${tCreate} ms (${cached ? 'trixie root cached' : 'cold: trixie root built now'}), announced ${tAnnounced} ms, `
    + `client joined ${tJoined} ms, 300 kB up+down ${tDone} ms; storage node at ${COMMUNITY_IP}:${storagePort}: ${welcome.connected[0]!.connection_status}`);

  // Stopping the grid withdraws the announcement; destroying it removes both forwards.
  assert.is((await cli('stop', GRID)).code, 0);
  await waitFor('tahoe-lafs withdrawn', () => !agent.announced().some((r) => r.s === 'tahoe-lafs'), 30_000, 500);
  assert.is((await cli('destroy', GRID)).code, 0);
  const after = await sh('nft', ['list', 'table', 'ip', TABLE], true);
  assert.not.match(after, `dport ${storagePort} `);
  assert.not.match(after, `dport ${hostPort} `);
});

test.run();
