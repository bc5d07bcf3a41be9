// Discovery against the real Debian serf agent on loopback, through our serf
// layer, our RPC server and our CLI subcommands:
// - a real serf node whose tag is set like avahi-ps does appears in our search;
// - a service we publish decodes on the serf side with avahi-ps's pipeline
//   (`serf members -format json` | .tags.services | base64 -d | bunzip2);
// - a failing check makes it disappear from the serf node's view, then return.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { createExec } from '../../agent/system/exec.ts';
import { CommandRegistry } from '../../agent/commands/registry.ts';
import { rpcVerbs } from '../../agent/commands/rpc-verbs.ts';
import { RpcServer } from '../../agent/rpc/server.ts';
import { createSerf, type SerfInstance } from '../../agent/gossip/serf/create.ts';
import { startDiscovery, type Discovery } from '../../agent/discovery/index.ts';
import { publishCommand, searchCommand, statsCommand, unpublishCommand } from '../../agent/discovery/cli.ts';
import type { CliIO } from '../../agent/cli-kit/command.ts';
import { waitFor } from '../support/wait.ts';
import { SerfAgent, SERF_BIN } from '../support/real-serf.ts';

const REAL = { ip: '127.0.5.31', bind: 20631, rpc: 20632, name: 'real-cloudy-node' };
const OURS = { ip: '127.0.5.32', bind: 20633, rpc: 20634, name: 'our-cloudy-node' };
const CHECKED_PORT = 20635;
const exec = createExec();

let serf: SerfAgent | null = null;
let node: SerfInstance | null = null;
let rpc: RpcServer | null = null;
let disc: Discovery | null = null;
let listener: Server | null = null;
let stateDir = '';

async function sh(script: string, input?: string): Promise<string> {
  const r = await exec.run('/bin/sh', ['-c', script], { input: input ?? '', timeoutMs: 20_000 });
  if (r.exitCode !== 0) throw new Error(`${script}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

/** avahi-ps serf plug's reader (serf_find_): the services of one member as the real serf agent sees them. */
async function servicesSeenByRealSerf(memberName: string): Promise<Record<string, string>[]> {
  const out = await sh(
    `${SERF_BIN} members -rpc-addr=${REAL.ip}:${REAL.rpc} -status=alive -format json | jq -r '.members[] | select(.name == "${memberName}") | .tags.services // empty'`,
  );
  const b64 = out.trim();
  if (!b64) return [];
  const text = await sh("base64 -d | bunzip2 | sed \"s/'/\\\"/g\"", b64);
  return JSON.parse(text) as Record<string, string>[];
}

function capture(): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} }, out: () => out, err: () => err };
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.destroy());
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

test.before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'disc-real-'));
  serf = await SerfAgent.launch({ name: REAL.name, ip: REAL.ip, port: REAL.bind, rpcPort: REAL.rpc, eventHandler: false, logLevel: 'info' });
  // Exactly how avahi-ps publishes (addMyService / comprimir): echo | bzip2 | base64 -w0, then serf tags -set.
  const json = `[{"s":"serf","d":"SERF_instance_running","m":"realbox.guifi.local","i":"${REAL.ip}","p":"${REAL.bind}","e":"guifi","t":""},{'s':'syncthing','d':'Syncthing_instance_running','m':'realbox.guifi.local','i':'${REAL.ip}','p':'22000','e':'guifi','t':'node_id=ABC'}]`;
  // (the JSON goes in on stdin, as `echo` would print it, to avoid a second layer of shell quoting)
  await sh(`${SERF_BIN} tags -rpc-addr=${REAL.ip}:${REAL.rpc} -set services=$(bzip2 | base64 -w0)`, json + '\n');

  const logger = process.env.TEST_LOG ? Logger.root({ level: 'DEBUG' }) : Logger.silent();
  const counters = new Counters();
  const limits = defaultLimits('edge');
  node = await createSerf({
    nodeName: OURS.name, bindAddr: OURS.ip, bindPort: OURS.bind, profile: 'lan', protocolVersion: 4,
    seeds: [`${REAL.ip}:${REAL.bind}`], snapshotPath: null, rejoin: false,
  }, { logger, counters });
  await node.start();
  const registry = new CommandRegistry();
  rpc = new RpcServer({ serf: node.serf, extensions: rpcVerbs(registry), logger, counters, limits, addr: `${OURS.ip}:${OURS.rpc}` });
  await rpc.listen();
  disc = await startDiscovery({
    serf: node.serf, registry, exec, logger, counters, limits, stateDir,
    gossipPort: OURS.bind, communityIp: OURS.ip, hostname: 'ourbox', federationIntervalMs: 60_000,
  });
});

test.after(async () => {
  try { await disc?.stop(); } catch { /* ignore */ }
  try { await rpc?.close(); } catch { /* ignore */ }
  try { await node?.stop(); } catch { /* ignore */ }
  listener?.close();
  await serf?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

test('a real serf node announced like avahi-ps appears in our search (CLI over RPC)', async () => {
  await waitFor('real node services in our search', () => disc!.search({ type: 'syncthing' }).entries.length === 1, 30_000, 200);
  const c = capture();
  const status = await searchCommand.run([`-rpc-addr=${OURS.ip}:${OURS.rpc}`], c.io);
  assert.is(status, 0, c.err());
  const lines = c.out().trimEnd().split('\n');
  assert.is(lines.length, 1, 'one line like avahi-ps');
  const all = JSON.parse(lines[0]!) as Record<string, string>[];
  assert.equal(Object.keys(all[0]!)[0], 'node_id');
  const real = all.filter((e) => e.node_id === REAL.name);
  assert.equal(real.map((e) => e.s), ['serf', 'syncthing']);
  assert.is(real[1]!.t, 'node_id=ABC');
  const self = all.filter((e) => e.node_id === OURS.name);
  assert.equal(self.map((e) => [e.s, e.d, e.m, e.i, e.p]), [['serf', 'SERF_instance_running', 'ourbox.guifi.local', OURS.ip, String(OURS.bind)]]);
  // Filters and table.
  const t = capture();
  assert.is(await searchCommand.run(['syncthing', '-format', 'table', `-rpc-addr=${OURS.ip}:${OURS.rpc}`], t.io), 0, t.err());
  assert.match(t.out(), /^syncthing \(1\)$/m);
  assert.not.match(t.out(), /^serf /m);
});

test('our published service decodes on the real serf side with the avahi-ps pipeline', async () => {
  listener = await listen(CHECKED_PORT);
  const c = capture();
  const status = await publishCommand.run([
    `-rpc-addr=${OURS.ip}:${OURS.rpc}`, 'My web site', 'Docker', String(CHECKED_PORT), 'a=1',
    '-check-tcp', '-check-interval=300ms', '-check-failures=2',
  ], c.io);
  assert.is(status, 0, c.err());
  const want = { s: 'Docker', d: 'My_web_site', m: 'ourbox.guifi.local', i: OURS.ip, p: String(CHECKED_PORT), e: 'guifi', t: 'a=1' };
  await waitFor('serf side sees our Docker service', async () => (await servicesSeenByRealSerf(OURS.name)).some((r) => r.s === 'Docker'), 30_000, 300);
  const seen = await servicesSeenByRealSerf(OURS.name);
  assert.equal(seen.find((r) => r.s === 'Docker'), want);
  assert.equal(seen.find((r) => r.s === 'serf'), { s: 'serf', d: 'SERF_instance_running', m: 'ourbox.guifi.local', i: OURS.ip, p: String(OURS.bind), e: 'guifi', t: '' });
});

test('a failing check withdraws the service from the serf node view; it returns when passing', async () => {
  await new Promise<void>((r) => listener!.close(() => r()));
  listener = null;
  await waitFor('withdrawn on the serf side', async () => !(await servicesSeenByRealSerf(OURS.name)).some((r) => r.s === 'Docker'), 30_000, 300);
  assert.ok((await servicesSeenByRealSerf(OURS.name)).some((r) => r.s === 'serf'), 'the self-announcement stays');
  listener = await listen(CHECKED_PORT);
  await waitFor('announced again on the serf side', async () => (await servicesSeenByRealSerf(OURS.name)).some((r) => r.s === 'Docker'), 30_000, 300);
});

test('avahi-ps driving OUR agent with the real `serf tags` CLI: its list is adopted, not overwritten', async () => {
  // What Cloudy's GUI does on a node: avahi-ps publish -> serf tags -set services=$(echo '[...]' | bzip2 | base64 -w0),
  // here with the real serf CLI against our RPC. Its list replaces ours (it rebuilt it from `serf info`).
  const cur = await servicesSeenByRealSerf(OURS.name);
  const added = `{'s':'tahoe-lafs','d':'Tahoe-LAFS-Grid','m':'ourbox.guifi.local','i':'${OURS.ip}','p':'44190','e':'guifi','t':'tubid'}`;
  const json = `[${cur.map((r) => JSON.stringify(r)).join(',')},${added}]`;
  await sh(`${SERF_BIN} tags -rpc-addr=${OURS.ip}:${OURS.rpc} -set services=$(bzip2 | base64 -w0)`, json + '\n');
  await waitFor('adopted by our announcer', () => disc!.announcer.list().some((e) => e.service.type === 'tahoe-lafs'), 20_000, 100);
  const adopted = disc!.announcer.list().find((e) => e.service.type === 'tahoe-lafs')!;
  assert.equal({ ...adopted.service }, { type: 'tahoe-lafs', description: 'Tahoe-LAFS-Grid', port: 44190, owner: 'external', txt: 'tubid' });
  // A later publish through our CLI keeps it.
  const c = capture();
  assert.is(await publishCommand.run([`-rpc-addr=${OURS.ip}:${OURS.rpc}`, 'DNSService System', 'dnsservice', '53'], c.io), 0, c.err());
  await waitFor('serf side sees tahoe-lafs and dnsservice', async () => {
    const types = (await servicesSeenByRealSerf(OURS.name)).map((r) => r.s);
    return types.includes('tahoe-lafs') && types.includes('dnsservice');
  }, 30_000, 300);
  // avahi-ps unpublish of the last services = serf tags -delete services: our list follows.
  await sh(`${SERF_BIN} tags -rpc-addr=${OURS.ip}:${OURS.rpc} -delete services`);
  await waitFor('list emptied', () => disc!.announcer.list().filter((e) => !e.withdrawn).length === 0, 20_000, 100);
  // Our self-announcement comes back by publishing it again (as serf.service does from cron).
  const p = capture();
  assert.is(await publishCommand.run([`-rpc-addr=${OURS.ip}:${OURS.rpc}`, 'SERF instance running', 'serf', String(OURS.bind)], p.io), 0, p.err());
});

test('unpublish and stats over RPC', async () => {
  const u = capture();
  assert.is(await publishCommand.run([`-rpc-addr=${OURS.ip}:${OURS.rpc}`, 'web', 'Docker', String(CHECKED_PORT)], u.io), 0, u.err());
  await waitFor('on the serf side', async () => (await servicesSeenByRealSerf(OURS.name)).some((r) => r.s === 'Docker'), 30_000, 300);
  assert.is(await unpublishCommand.run([`-rpc-addr=${OURS.ip}:${OURS.rpc}`, 'Docker', String(CHECKED_PORT)], u.io), 0, u.err());
  await waitFor('gone on the serf side', async () => !(await servicesSeenByRealSerf(OURS.name)).some((r) => r.s === 'Docker'), 30_000, 300);
  const s = capture();
  assert.is(await statsCommand.run([`-rpc-addr=${OURS.ip}:${OURS.rpc}`, '-format', 'json'], s.io), 0, s.err());
  const stats = JSON.parse(s.out());
  assert.is(stats.current.aliveMembers, 2);
  assert.is(stats.current.cloudyInstances, 2);
  assert.equal(stats.current.byType, { serf: 2, syncthing: 1 });
  assert.ok(stats.history.length >= 1);
  const txt = capture();
  assert.is(await statsCommand.run([`-rpc-addr=${OURS.ip}:${OURS.rpc}`], txt.io), 0, txt.err());
  assert.match(txt.out(), /cloudy instances: 2/);
});

test.run();
