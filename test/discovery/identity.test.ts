// Node identity (Cloudy name scheme, HostID kept once) and community IP choice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAgentError } from '../../agent/errors.ts';
import { cloudyNodeName, loadIdentity, nanosField, shortHostname } from '../../agent/state/identity.ts';
import { chooseCommunityIp } from '../../agent/config/host-defaults.ts';
import { parseDefaultRoute, readNetFacts, type NetFacts } from '../../agent/system/net-info.ts';

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t01288B0A\t0003\t0\t0\t100\t00000000\t0\t0\t0
tun0\t00000000\t00000000\t0000\t0\t0\t1\t00000000\t0\t0\t0
`;

const facts: NetFacts = {
  hostname: 'cloudy.example.org',
  interfaces: [
    { name: 'lo', ipv4: ['127.0.0.1'] },
    { name: 'wlan0', ipv4: ['192.168.1.20'] },
    { name: 'eth0', ipv4: ['10.139.40.37'] },
    { name: 'eth1', ipv4: ['192.168.0.5', '10.1.1.1'] },
  ],
  defaultRouteInterface: 'eth0',
};

test('default route: lowest metric among up 0.0.0.0/0 routes', () => {
  assert.is(parseDefaultRoute(ROUTE), 'eth0');
  assert.is(parseDefaultRoute('Iface\tDestination\n'), null);
  assert.is(parseDefaultRoute(''), null);
});

test('community IP: advertise > configured interface > default route > first 10/8', () => {
  assert.equal(chooseCommunityIp(facts, { advertise: '127.0.5.1' }), { ip: '127.0.5.1', source: 'advertise' });
  assert.equal(chooseCommunityIp(facts, { interface: 'wlan0' }), { ip: '192.168.1.20', source: 'interface' });
  assert.equal(chooseCommunityIp(facts), { ip: '10.139.40.37', source: 'default-route' });
  assert.equal(chooseCommunityIp({ ...facts, defaultRouteInterface: null, interfaces: facts.interfaces.filter((i) => i.name !== 'eth0') }), { ip: '10.1.1.1', source: '10/8' });
  assert.ok(isAgentError(trap(() => chooseCommunityIp(facts, { interface: 'nope0' })), 'E_CONFIG'));
  assert.ok(isAgentError(trap(() => chooseCommunityIp(facts, { interface: 'lo' })), 'E_CONFIG'), 'loopback refused like Cloudy');
  assert.ok(isAgentError(trap(() => chooseCommunityIp({ hostname: 'x', interfaces: [{ name: 'lo', ipv4: ['127.0.0.1'] }], defaultRouteInterface: null })), 'E_UNAVAILABLE'));
  assert.ok(isAgentError(trap(() => chooseCommunityIp(facts, { advertise: 'fe80::1' })), 'E_CONFIG'));
});

function trap(fn: () => unknown): unknown {
  try { fn(); } catch (e) { return e; }
  return null;
}

test('name scheme <md5 hostid>-<%N>-<hostname -s>-<ip>:<port>', () => {
  assert.is(shortHostname('cloudy.example.org'), 'cloudy');
  assert.is(nanosField(1_700_000_000_000_123_456n), '000123456');
  assert.is(cloudyNodeName({ hostId: 'a'.repeat(32), nanos: '000123456', hostname: 'cloudy.example.org', ip: '10.139.40.37', port: 5000 }),
    `${'a'.repeat(32)}-000123456-cloudy-10.139.40.37:5000`);
});

test('HostID generated once and kept; name kept while host/ip/port stay, renewed when they change', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ident-'));
  try {
    let n = 0n;
    const gen = { epochNanos: () => (n += 1_000_000_007n) };
    const a = await loadIdentity(dir, { hostname: 'box', ip: '10.0.0.1', port: 5000 }, gen);
    assert.match(a.hostId, /^[0-9a-f]{32}$/);
    assert.match(a.nodeName, new RegExp(`^${a.hostId}-\\d{9}-box-10\\.0\\.0\\.1:5000$`));
    assert.is((await readFile(join(dir, 'HostID'), 'utf8')).trim(), a.hostId);
    const b = await loadIdentity(dir, { hostname: 'box', ip: '10.0.0.1', port: 5000 }, gen);
    assert.equal(b, a);
    const c = await loadIdentity(dir, { hostname: 'box', ip: '10.0.0.2', port: 5000 }, gen);
    assert.is(c.hostId, a.hostId);
    assert.is.not(c.nodeName, a.nodeName);
    assert.ok(c.nodeName.endsWith('-box-10.0.0.2:5000'));
    // A Cloudy-style HostID file already there is adopted.
    await writeFile(join(dir, 'HostID'), 'b'.repeat(32) + '\n');
    const d = await loadIdentity(dir, { hostname: 'box', ip: '10.0.0.2', port: 5000 }, gen);
    assert.is(d.hostId, 'b'.repeat(32));
    assert.ok(d.nodeName.startsWith('b'.repeat(32) + '-'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('readNetFacts reads this host (lo has 127.0.0.1)', async () => {
  const f = await readNetFacts();
  assert.ok(f.hostname.length > 0);
  assert.ok(f.interfaces.some((i) => i.ipv4.includes('127.0.0.1')));
});

test.run();
