// The registration flow in-process against the stand-in over real HTTP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { rejects, world, storeIn, USER, PASSWORD, MAC_A, MAC_B, type World } from './helpers.ts';
import { registerNode, declareServices, unregisterNode, readStatus, defaultNick, sanitizeNick, alternateNick } from '../../agent/guifi/register.ts';
import { loginAndSave, withTokenRetry } from '../../agent/guifi/session.ts';
import { isGuifiError, isTokenRefused } from '../../agent/guifi/errors.ts';
import { isAgentError } from '../../agent/errors.ts';
import { TOKEN_LIFETIME_MS } from './stand-in.ts';

let w: World;
test.before(async () => { w = await world(); });
test.after(async () => { await w.close(); });

function newNode(title: string, routerIp = '10.139.50.1'): { nodeId: number; routerId: number } {
  const nodeId = w.server.addNode(title, USER);
  return { nodeId, routerId: w.server.addDevice({ nodeId, nick: `${sanitizeNick(title)}-RB`, type: 'radio', ipv4: routerIp, mask: '255.255.255.248' }) };
}

test('first registration: the API calls in order, the device as Cloudy makes it, the state file, no password anywhere', async () => {
  const dir = w.tmp();
  const store = storeIn(dir);
  const client = w.client();
  const start = w.server.calls.length;
  await loginAndSave(client, store, USER, PASSWORD);
  const r = await registerNode({ nodeId: w.nodeId, mac: MAC_A, email: 'alice@example.net', comment: 'Cloudy box', services: ['SNPgraphs', 'DNS', 'Proxy'] }, { client, store });
  assert.equal(w.server.calls.slice(start), [
    'guifi.auth.login', 'guifi.cnml.clear', `cnml ${w.nodeId}`, 'guifi.device.add', 'guifi.cloudy.addlink',
    'guifi.service.add', 'guifi.service.add', 'guifi.service.add', 'guifi.cnml.clear', `cnml ${w.nodeId}`,
  ]);
  const dev = w.server.devices.get(r.device.id)!;
  assert.equal([dev.type, dev.nick, dev.mac, dev.status, dev.notification, dev.comment],
    ['cloudy', 'Placa-Catalunya-12-Cloudy', MAC_A, 'Testing', 'alice@example.net', 'Cloudy box']);
  assert.is(dev.interfaces.length, 1);
  assert.equal([dev.interfaces[0]!.type, dev.interfaces[0]!.ipv4, dev.interfaces[0]!.mask], ['Lan', '10.139.40.2', '255.255.255.224']);
  const link = w.server.linksOf(dev.id)[0]!;
  assert.equal([link.type, link.status, link.routing, link.bDevice], ['cable', 'Planned', 'Gateway', w.routerId]);
  assert.equal(w.server.servicesOf(dev.id).map((s) => [s.name, s.nick, s.type, s.status]), [
    [`SNPgraphs${dev.id}`, `snp${dev.id}`, 'SNPgraphs', 'Working'], [`DNS${dev.id}`, `dns${dev.id}`, 'DNS', 'Working'], [`Proxy${dev.id}`, `prx${dev.id}`, 'Proxy', 'Working'],
  ]);
  assert.equal(r.added, { device: true, link: true, services: ['SNPgraphs', 'DNS', 'Proxy'] });
  assert.equal(r.device.services.map((s) => s.type), ['SNPgraphs', 'DNS', 'Proxy'], 'the result is the CNML after the changes');
  assert.is(readFileSync(join(dir, 'guifi.conf'), 'utf8'),
    `USERNAME="alice"\nTOKEN="${w.server.tokenOf(USER)}"\nNODEID="${w.nodeId}"\nNODENAME="Plaça Catalunya 12"\nDEVICEID="${dev.id}"\n`);
  for (const f of readdirSync(dir)) assert.not.ok(readFileSync(join(dir, f), 'utf8').includes(PASSWORD));

  // Again: nothing added, two requests only.
  const again = w.server.calls.length;
  const r2 = await registerNode({ nodeId: w.nodeId, mac: MAC_A, services: ['SNPgraphs', 'DNS', 'Proxy'] }, { client, store });
  assert.equal(r2.added, { device: false, link: false, services: [] });
  assert.equal(w.server.calls.slice(again), ['guifi.cnml.clear', `cnml ${w.nodeId}`]);
  // A new data dir (state lost) finds the device by its MAC.
  const other = storeIn(w.tmp());
  const r3 = await registerNode({ nodeId: w.nodeId, mac: MAC_A }, { client, store: other });
  assert.is(r3.device.id, dev.id);
  assert.is((await other.read()).deviceId, dev.id);
  assert.is(w.server.devicesOf(w.nodeId).filter((d) => d.type === 'cloudy').length, 1);
});

test('device reuse: by nick when CNML has no MAC for it; a foreign MAC on the default nick gets the alternate nick', async () => {
  const { nodeId } = newNode('Reuse Node', '10.139.51.1');
  const client = w.client();
  await client.login(USER, PASSWORD);
  // A device made by Cloudy without a MAC in CNML, with our default nick: ours.
  const old = w.server.addDevice({ nodeId, nick: defaultNick('Reuse Node'), type: 'cloudy' });
  const r = await registerNode({ nodeId, mac: MAC_A }, { client, store: storeIn(w.tmp()) });
  assert.is(r.device.id, old);
  assert.not.ok(r.added.device);
  // Another box (other MAC) sees the default nick taken by a MAC-less device... it would reuse it too: give it a MAC.
  w.server.devices.get(old)!.mac = MAC_A;
  const rb = await registerNode({ nodeId, mac: MAC_B }, { client, store: storeIn(w.tmp()) });
  assert.is.not(rb.device.id, old);
  assert.is(rb.device.title, alternateNick(defaultNick('Reuse Node'), MAC_B));
  assert.is(rb.device.interfaces[0]!.ipv4, '10.139.51.3', 'the next free IPv4 of the router subnet');
});

test('two boxes registering at once under one guifi node: two devices, two nicks, two IPv4s; both runs idempotent', async () => {
  const { nodeId } = newNode('Twin Node', '10.139.52.1');
  const a = { client: w.client(), store: storeIn(w.tmp()) };
  const b = { client: w.client(), store: storeIn(w.tmp()) };
  // One account, one token: both boxes use the same login (as two boxes of one owner would after a seed).
  const token = await a.client.login(USER, PASSWORD);
  b.client.setToken(token);
  const [ra, rb] = await Promise.all([
    registerNode({ nodeId, mac: MAC_A, services: ['DNS'] }, a),
    registerNode({ nodeId, mac: MAC_B, services: ['DNS'] }, b),
  ]);
  const cloudy = w.server.devicesOf(nodeId).filter((d) => d.type === 'cloudy');
  assert.is(cloudy.length, 2);
  assert.is.not(ra.device.id, rb.device.id);
  assert.equal(new Set(cloudy.map((d) => d.nick)).size, 2);
  assert.equal(new Set([ra.device.interfaces[0]!.ipv4, rb.device.interfaces[0]!.ipv4]).size, 2);
  assert.equal(cloudy.map((d) => w.server.servicesOf(d.id).length), [1, 1]);
  const [ra2, rb2] = await Promise.all([registerNode({ nodeId, mac: MAC_A, services: ['DNS'] }, a), registerNode({ nodeId, mac: MAC_B, services: ['DNS'] }, b)]);
  assert.equal([ra2.device.id, rb2.device.id], [ra.device.id, rb.device.id]);
  assert.equal([ra2.added, rb2.added], [{ device: false, link: false, services: [] }, { device: false, link: false, services: [] }]);
  assert.is(w.server.devicesOf(nodeId).filter((d) => d.type === 'cloudy').length, 2);
});

test('a device name held by a device of another node is refused clearly; a bad name never reaches guifi.net', async () => {
  const { nodeId } = newNode('Name Clash', '10.139.53.1');
  const client = w.client();
  await client.login(USER, PASSWORD);
  const e = await rejects(registerNode({ nodeId, mac: MAC_A, deviceName: 'PlacaCat-RB' }, { client, store: storeIn(w.tmp()) }));
  assert.ok(isAgentError(e, 'E_EXISTS'), String(e));
  assert.match((e as Error).message, /PlacaCat-RB.*already used/);
  const calls = w.server.calls.length;
  assert.ok(isAgentError(await rejects(registerNode({ nodeId, mac: MAC_A, deviceName: 'bad name!' }, { client, store: storeIn(w.tmp()) })), 'E_INVALID'));
  assert.ok(isAgentError(await rejects(registerNode({ nodeId, mac: 'AA:BB', deviceName: 'x' }, { client, store: storeIn(w.tmp()) })), 'E_INVALID'));
  assert.is(w.server.calls.length, calls);
});

test('link device: the one asked for, else the first with an IPv4; none -> clear error', async () => {
  const { nodeId, routerId } = newNode('Links', '10.139.54.1');
  const second = w.server.addDevice({ nodeId, nick: 'Links-srv', type: 'server', ipv4: '10.139.55.1', mask: '255.255.255.0' });
  const client = w.client();
  await client.login(USER, PASSWORD);
  const r = await registerNode({ nodeId, mac: MAC_A, linkDevice: second }, { client, store: storeIn(w.tmp()) });
  assert.is(r.device.interfaces[0]!.ipv4, '10.139.55.2');
  assert.is(w.server.linksOf(r.device.id)[0]!.bDevice, second);
  assert.ok(isAgentError(await rejects(registerNode({ nodeId, mac: MAC_B, linkDevice: 999999 }, { client, store: storeIn(w.tmp()) })), 'E_NOT_FOUND'));
  void routerId;
  const bare = w.server.addNode('No IPs', USER);
  const e = await rejects(registerNode({ nodeId: bare, mac: MAC_B }, { client, store: storeIn(w.tmp()) }));
  assert.ok(isAgentError(e, 'E_NOT_FOUND'));
  assert.match((e as Error).message, /no device of guifi.net node \d+ has an IPv4/);
  assert.ok(isAgentError(await rejects(registerNode({ nodeId: 888888, mac: MAC_B }, { client, store: storeIn(w.tmp()) })), 'E_NOT_FOUND'));
});

test('malformed JSON or XML from guifi.net: a clear error, and nothing written', async () => {
  const { nodeId } = newNode('Garbage', '10.139.56.1');
  const client = w.client();
  await client.login(USER, PASSWORD);
  const dir = w.tmp();
  const store = storeIn(dir);
  w.server.faults = [{ what: 'cnml', kind: 'truncated-xml', times: 1 }];
  const e1 = await rejects(registerNode({ nodeId, mac: MAC_A }, { client, store }));
  assert.ok(isAgentError(e1, 'E_DECODE'));
  assert.match((e1 as Error).message, /CNML of node \d+ is not well-formed XML/);
  assert.not.ok(existsSync(join(dir, 'guifi.conf')), 'nothing written after a bad CNML');
  w.server.faults = [{ what: 'guifi.device.add', kind: 'malformed-json', times: 1 }];
  const e2 = await rejects(registerNode({ nodeId, mac: MAC_A }, { client, store }));
  assert.ok(isAgentError(e2, 'E_DECODE'));
  assert.match((e2 as Error).message, /guifi.device.add: malformed reply/);
  assert.is((await store.read()).deviceId, 0, 'no DEVICEID from a reply that could not be read');
  w.server.faults = [{ what: 'cnml', kind: 'html', times: 1 }];
  const dir2 = w.tmp();
  assert.ok(isAgentError(await rejects(registerNode({ nodeId, mac: MAC_A }, { client, store: storeIn(dir2) })), 'E_DECODE'));
  assert.not.ok(existsSync(join(dir2, 'guifi.conf')));
  w.server.faults = [];
  // The device that guifi.net did make behind the garbled reply is found, not made twice.
  const r = await registerNode({ nodeId, mac: MAC_A }, { client, store });
  assert.not.ok(r.added.device);
  assert.is(w.server.devicesOf(nodeId).filter((d) => d.type === 'cloudy').length, 1);
});

test('502: the token is refused, a new password is asked once; none -> the 502 comes out; a wrong one -> 403, no loop', async () => {
  const { nodeId } = newNode('Expired', '10.139.57.1');
  const client = w.client();
  const store = storeIn(w.tmp());
  await loginAndSave(client, store, USER, PASSWORD);
  w.server.advance(TOKEN_LIFETIME_MS + 1);
  const d = { client, store, username: async () => (await store.read()).username };
  const fn = () => registerNode({ nodeId, mac: MAC_A }, { client, store });
  assert.ok(isTokenRefused(await rejects(withTokenRetry(d, async () => null, fn))));
  let asked = 0;
  const logins = () => w.server.calls.filter((c) => c === 'guifi.auth.login').length;
  const before = logins();
  assert.ok(isGuifiError(await rejects(withTokenRetry(d, async () => { asked++; return 'wrong'; }, fn)), 403));
  assert.is(asked, 1);
  assert.is(logins() - before, 1);
  const r = await withTokenRetry(d, async () => { asked++; return PASSWORD; }, fn);
  assert.ok(r.added.device);
  assert.is((await store.read()).token, w.server.tokenOf(USER), 'the new token is saved');
});

test('declare services, status, unregister', async () => {
  const { nodeId } = newNode('Lifecycle', '10.139.58.1');
  const client = w.client();
  const store = storeIn(w.tmp());
  assert.ok(isAgentError(await rejects(declareServices(['DNS'], { client, store })), 'E_STATE'));
  await loginAndSave(client, store, USER, PASSWORD);
  const r = await registerNode({ nodeId, mac: MAC_A }, { client, store });
  assert.equal(await declareServices(['DNS', 'DNS', 'Proxy'], { client, store }), ['DNS', 'Proxy']);
  assert.equal(await declareServices(['DNS', 'Proxy', 'SNPgraphs'], { client, store }), ['SNPgraphs']);
  assert.equal(w.server.servicesOf(r.device.id).map((s) => s.type), ['DNS', 'Proxy', 'SNPgraphs']);
  const s = await readStatus({ client, store });
  assert.is(s.device!.id, r.device.id);
  assert.equal(s.device!.services.map((x) => x.type), ['DNS', 'Proxy', 'SNPgraphs']);
  assert.is(await unregisterNode({ client, store }), r.device.id);
  assert.equal(w.server.devices.get(r.device.id)!.interfaces, []);
  assert.is(w.server.linksOf(r.device.id).length, 0);
  const after = await readStatus({ client, store });
  assert.equal(after.device!.interfaces, []);
  // Registering again links again, same device.
  const again = await registerNode({ nodeId, mac: MAC_A }, { client, store });
  assert.equal([again.device.id, again.added.device, again.added.link], [r.device.id, false, true]);
});

test('CNML with extra elements and attributes: the flow reads through them', async () => {
  const { nodeId } = newNode('Extra Node', '10.139.59.1');
  w.server.extraCnml = true;
  try {
    const client = w.client();
    await client.login(USER, PASSWORD);
    // The decoy cloudy devices carry this MAC: they are in another node / an unknown element, so not ours.
    const r = await registerNode({ nodeId, mac: '00:11:22:33:44:55', services: ['DNS'] }, { client, store: storeIn(w.tmp()) });
    assert.ok(r.added.device);
    assert.not.ok([4242, 99998].includes(r.device.id));
    assert.is(r.device.interfaces[0]!.ipv4, '10.139.59.2', 'link device found through <radio>-nested interfaces');
    assert.equal(r.device.services.map((s) => s.type), ['DNS']);
  } finally {
    w.server.extraCnml = false;
  }
});

test.run();
