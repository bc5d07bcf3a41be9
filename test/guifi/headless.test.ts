// The headless path on a running agent: the daemon in-process with the guifi
// plug-in (as the real agent's plug-in list has it) registers in the
// background against the stand-in while gossip goes on, retries with backoff,
// logs each step, survives a restart without a token, waits for a new token
// when guifi.net refuses the one it has, and declares guifi services once for
// the containers that run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig, type AgentConfig } from '../../agent/config/agent-config.ts';
import { Logger } from '../../agent/obs/log.ts';
import { guifiPlugin } from '../../agent/guifi/plugin.ts';
import type { GuifiRegistrar } from '../../agent/guifi/registrar.ts';
import { guifiTypesOf } from '../../agent/guifi/registrar.ts';
import { runningServiceTypes } from '../../agent/plugins.ts';
import { configFromJson } from '../../agent/config/config-file.ts';
import { parseState } from '../../agent/guifi/state.ts';
import { world, USER, PASSWORD, MAC_A, type World } from './helpers.ts';
import { TOKEN_LIFETIME_MS } from './stand-in.ts';
import { isAgentError } from '../../agent/errors.ts';

let w: World;
const daemons: DaemonHandle[] = [];
test.before(async () => { w = await world(); });
test.after(async () => {
  for (const d of daemons) await d.stop();
  await w.close();
});

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const FAST = { guifiRetryBaseMs: 40, guifiRetryMaxMs: 300, guifiRequestTimeoutMs: 1500 };

function agentConfig(name: string, dataDir: string, guifi: AgentConfig['guifi'], join: string[] = []): AgentConfig {
  return {
    ...defaultAgentConfig(), nodeName: name, bind: '127.0.0.1:0', rpcAddr: '127.0.0.1:0', profile: 'local', join,
    retryIntervalMs: 100, dataDir, guifi, limitOverrides: FAST, autoNodeName: false,
  };
}

interface Agent { d: DaemonHandle; registrar: () => GuifiRegistrar; lines: string[]; services: string[] }

async function startAgent(name: string, dataDir: string, guifi: AgentConfig['guifi'], join: string[] = []): Promise<Agent> {
  const lines: string[] = [];
  let registrar: GuifiRegistrar | null = null;
  const services: string[] = [];
  const cfg = agentConfig(name, dataDir, guifi, join);
  const d = await startDaemon({
    ...cfg,
    plugins: [guifiPlugin({ config: cfg, localServiceTypes: async () => [...services], onStarted: (r) => { registrar = r; } })],
  }, { logger: Logger.root({ level: 'DEBUG', write: (l) => { lines.push(l.trimEnd()); } }) });
  daemons.push(d);
  return { d, registrar: () => registrar!, lines, services };
}

test('a seed-configured agent registers in the background, gossip goes on meanwhile, each step logged', async () => {
  const dir = w.tmp();
  const pw = join(dir, 'guifi.password');
  writeFileSync(pw, `${PASSWORD}\n`);
  // guifi.net is slow and failing at first: a stalled request, then two error pages.
  w.server.faults = [{ what: 'guifi.auth.login', kind: 'stall', times: 1 }, { what: 'guifi.cnml.clear', kind: 'http-500', times: 2 }];
  // The seed's `guifi` object, as the config file carries it.
  const layer = configFromJson({ guifi: { api: w.server.apiUrl, node_id: w.nodeId, user: USER, password_file: pw, mac: MAC_A, email: 'alice@example.net' } });
  const started = Date.now();
  const a = await startAgent('gf-a', dir, layer.guifi!);
  assert.ok(Date.now() - started < FAST.guifiRequestTimeoutMs + 5000, 'start-up did not wait for guifi.net');
  assert.not.ok(a.registrar().phase === 'registered', 'not registered yet while guifi.net stalls');
  // Gossip works while the registrar waits: a second agent joins and both see each other.
  const self = a.d.serf.localMember();
  const b = await startAgent('gf-b', w.tmp(), {}, [`${self.addr}:${self.port}`]);
  await waitFor('the two agents to see each other', () => a.d.serf.members().length === 2 && b.d.serf.members().length === 2);
  await waitFor('registration', () => a.registrar().phase === 'registered').catch((e) => { console.log(a.lines.join('\n')); throw e; });
  const st = parseState(readFileSync(join(dir, 'guifi.conf'), 'utf8')).state;
  const dev = w.server.devices.get(st.deviceId)!;
  assert.equal([dev.type, dev.mac, dev.nick, dev.interfaces.length], ['cloudy', MAC_A, 'Placa-Catalunya-12-Cloudy', 1]);
  assert.not.ok(readFileSync(join(dir, 'guifi.conf'), 'utf8').includes(PASSWORD));
  const log = a.lines.filter((l) => l.includes(' guifi: ')).join('\n');
  for (const step of [/registration under node \d+ starts in the background/, /logging in to guifi.net as alice/, /failed: .*next try in/,
    /reading the CNML of node/, /adding cloudy device "Placa-Catalunya-12-Cloudy"/, /device \d+ saved as DEVICEID/,
    /linking device \d+ to device \d+/, /registered: device \d+ "Placa-Catalunya-12-Cloudy", IPv4 10\.139\.40\.\d+/]) {
    assert.match(log, step);
  }
  assert.is(a.registrar().stats().phase, 'registered');
  assert.is(w.server.faults.reduce((n, f) => n + f.times, 0), 0, 'the failures really happened and were retried through');

  // Containers start: proxy3 and syncthing -> Proxy declared, once however often it is said.
  const before = w.server.calls.filter((c) => c === 'guifi.service.add').length;
  a.services.push('proxy3', 'syncthing');
  for (let i = 0; i < 5; i++) a.registrar().servicesChanged();
  await waitFor('Proxy declared', () => w.server.servicesOf(dev.id).some((s) => s.type === 'Proxy'));
  a.services.push('dnsservice');
  a.registrar().servicesChanged();
  await waitFor('DNS declared', () => w.server.servicesOf(dev.id).some((s) => s.type === 'DNS'));
  for (let i = 0; i < 3; i++) { a.registrar().servicesChanged(); await new Promise((r) => setTimeout(r, 50)); }
  assert.is(w.server.calls.filter((c) => c === 'guifi.service.add').length - before, 2);
  assert.equal(w.server.servicesOf(dev.id).map((s) => s.type), ['Proxy', 'DNS']);

  // Restart 13 h later: the token is dead, but a registered box needs none to know it is registered.
  await a.d.stop();
  w.server.advance(TOKEN_LIFETIME_MS + 3600_000);
  const callsBefore = w.server.calls.length;
  const again = await startAgent('gf-a', dir, { ...layer.guifi!, passwordFile: '' });
  again.services.push('proxy3');
  await waitFor('registered again', () => again.registrar().phase === 'registered');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(w.server.calls.slice(callsBefore), [`cnml ${w.nodeId}`], 'one CNML read, no login, no change');
  assert.is(w.server.devicesOf(w.nodeId).filter((d) => d.type === 'cloudy').length, 1);
});

test('headless with a refused token and no password: waits for a new token in token_file, without hammering guifi.net', async () => {
  const nodeId = w.server.addNode('Token Node', USER);
  w.server.addDevice({ nodeId, nick: 'TokenNode-RB', type: 'radio', ipv4: '10.139.70.1', mask: '255.255.255.0' });
  const dir = w.tmp();
  const tokenFile = join(dir, 'guifi.token');
  const c = w.client();
  writeFileSync(tokenFile, `${await c.login(USER, PASSWORD)}\n`);
  await c.login(USER, PASSWORD); // one token per user: the file's is now refused
  const a = await startAgent('gf-t', dir, { api: w.server.apiUrl, nodeId, tokenFile, mac: 'AA:BB:CC:00:07:01' });
  await waitFor('waiting for a token', () => a.registrar().phase === 'waiting-token');
  const calls = w.server.calls.length;
  await new Promise((r) => setTimeout(r, 800));
  assert.is(w.server.calls.length, calls, 'no request while no usable token exists');
  assert.match(a.lines.join('\n'), /guifi.net refused the token \(502/);
  assert.match(a.lines.join('\n'), /waiting for a new one in .*guifi.token/);
  writeFileSync(tokenFile, `${await c.login(USER, PASSWORD)}\n`);
  await waitFor('registration with the new token', () => a.registrar().phase === 'registered');
  const st = parseState(readFileSync(join(dir, 'guifi.conf'), 'utf8')).state;
  assert.is(st.token, w.server.tokenOf(USER));
  assert.ok(w.server.devices.get(st.deviceId));
});

test('a permanent refusal (a nick used elsewhere) is retried only at the longest pause', async () => {
  const nodeId = w.server.addNode('Clash', USER);
  w.server.addDevice({ nodeId, nick: 'Clash-RB', type: 'radio', ipv4: '10.139.71.1', mask: '255.255.255.0' });
  const dir = w.tmp();
  const pw = join(dir, 'pw');
  writeFileSync(pw, PASSWORD);
  const a = await startAgent('gf-p', dir, { api: w.server.apiUrl, nodeId, user: USER, passwordFile: pw, mac: 'AA:BB:CC:00:07:02', deviceName: 'PlacaCat-RB' });
  await waitFor('a failure', () => a.registrar().stats().last_error !== '-');
  assert.match(a.registrar().stats().last_error, /already used/);
  await new Promise((r) => setTimeout(r, 700));
  const adds = w.server.calls.filter((c) => c === 'guifi.device.add').length;
  assert.ok(adds <= 2 * (1 + Math.ceil(700 / (FAST.guifiRetryMaxMs / 2))), `bounded retries (${adds} device.add calls)`);
  assert.match(a.lines.join('\n'), /\[ERR\] guifi: registration attempt \d+ failed: device nick "PlacaCat-RB"/);
  await a.d.stop(); // it holds alice's password: a later login elsewhere would make it log in again (one token per user)
});

// uvu cannot print an error whose `details` is not a string (AgentError's is an object): rethrow such as plain Errors.
const plain = (fn: () => Promise<void>) => async () => {
  try { await fn(); } catch (e) { throw isAgentError(e) ? new Error(`${e.code}: ${e.message}`) : e; }
};

test('guifi.* registry commands (what the GUI, RPC and remote control call): login, node, register by picking a device, status, services, unlink', plain(async () => {
  const nodeId = w.server.addNode('Registry Node', USER);
  const router = w.server.addDevice({ nodeId, nick: 'RegistryNode-RB', type: 'radio', ipv4: '10.139.72.1', mask: '255.255.255.0' });
  const picked = w.server.addDevice({ nodeId, nick: 'Old-Cloudy', type: 'cloudy' });
  const a = await startAgent('gf-r', w.tmp(), { api: w.server.apiUrl, mac: 'aa-bb-cc-00-07-03' });
  const admin = { origin: 'http' as const, role: 'admin' as const };
  const viewer = { origin: 'http' as const, role: 'viewer' as const };
  const reg = a.d.registry;
  assert.is(((await reg.invoke('guifi.status', {}, viewer)) as { LoggedIn: boolean }).LoggedIn, false);
  const noLogin = await reg.invoke('guifi.register', { NodeId: nodeId }, admin).catch((e: unknown) => e);
  assert.ok(isAgentError(noLogin, 'E_AUTH'));
  assert.ok(isAgentError(await reg.invoke('guifi.login', { User: USER, Password: PASSWORD }, viewer).catch((e: unknown) => e), 'E_FORBIDDEN'));
  assert.ok(isAgentError(await reg.invoke('guifi.login', { User: USER, Password: 'wrong' }, admin).catch((e: unknown) => e), 'E_INVALID'));
  assert.equal(await reg.invoke('guifi.login', { User: USER, Password: PASSWORD }, admin), { Username: USER });
  const node = await reg.invoke('guifi.node', { NodeId: nodeId }, viewer) as { Title: string; Devices: { Id: number; Type: string }[] };
  assert.is(node.Title, 'Registry Node');
  assert.equal(node.Devices.map((d) => [d.Id, d.Type]), [[router, 'radio'], [picked, 'cloudy']]);
  const r = await reg.invoke('guifi.register', { NodeId: nodeId, DeviceId: picked, LinkDevice: router, Services: ['SNPgraphs'] }, admin) as
    { Device: { Id: number; IPv4: { Address: string }[]; Services: string[] }; Added: { Device: boolean; Link: boolean } };
  assert.equal([r.Device.Id, r.Added.Device, r.Added.Link, r.Device.IPv4[0]!.Address, r.Device.Services], [picked, false, true, '10.139.72.2', ['SNPgraphs']]);
  assert.ok(isAgentError(await reg.invoke('guifi.register', { NodeId: nodeId, DeviceId: router }, admin).catch((e: unknown) => e), 'E_INVALID'));
  assert.equal(await reg.invoke('guifi.service-add', { Type: 'DNS' }, admin), { Added: ['DNS'] });
  assert.equal(await reg.invoke('guifi.service-add', { Type: 'DNS' }, admin), { Added: [] });
  const st = await reg.invoke('guifi.status', {}, viewer) as { Registered: boolean; DeviceId: number; Device: { Services: string[] } };
  assert.equal([st.Registered, st.DeviceId, st.Device.Services], [true, picked, ['SNPgraphs', 'DNS']]);
  await waitFor('the registrar to notice the registration by hand', () => a.registrar().phase === 'registered');
  w.server.advance(TOKEN_LIFETIME_MS + 1);
  const expired = await reg.invoke('guifi.unregister', {}, admin).catch((e: unknown) => e);
  assert.ok(isAgentError(expired, 'E_AUTH'));
  assert.match((expired as Error).message, /log in again/);
  await reg.invoke('guifi.login', { User: USER, Password: PASSWORD }, admin);
  assert.equal(await reg.invoke('guifi.unregister', {}, admin), { DeviceId: picked });
  assert.equal(w.server.devices.get(picked)!.interfaces, []);
}));

test('container services guifi.net knows, from the container manager', async () => {
  assert.equal(guifiTypesOf(['proxy3', 'dnsservice', 'snpservice', 'syncthing', 'proxy3']), ['Proxy', 'DNS', 'SNPgraphs']);
  const view = (name: string, state: string, type: string | null, managed = true) => ({ name, state, managed, service: type ? { type } : null });
  const m = { list: async () => [view('p', 'RUNNING', 'proxy3'), view('d', 'STOPPED', 'dnsservice'), view('s', 'RUNNING', null), view('x', 'RUNNING', 'snpservice', false)] };
  assert.equal(await runningServiceTypes(m as never), ['proxy3']);
});

test.run();
