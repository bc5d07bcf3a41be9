// cloudy.conf: parser (every key, clear errors with line and key), derived
// outputs (agent config JSON, networkd unit, redaction) and first-boot apply
// into a temporary root (secrets 0600 and off the seed, malformed -> defaults).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentConfigJson, networkdUnit, parseSeed, redactSeed, SECRET_NOTE } from '../../agent/config/seed.ts';
import { applySeed, hostIdFromMachineId } from '../../agent/config/seed-apply.ts';
import { readFileSync as rf } from 'node:fs';
import { configFromJson } from '../../agent/config/config-file.ts';

const KEY = Buffer.alloc(32, 7).toString('base64');
const OPK = Buffer.alloc(32, 9).toString('base64');
const FULL = `# example
hostname = box-1
interface = eth0
ipv4 = 10.223.2.10/24
gateway4 = 10.223.2.1
ipv6 = fd00::10/64
dns = 10.223.2.1, fd00::1
join = 10.223.2.1:5000
join = 10.223.2.2
encrypt_key = ${KEY}
operator_key = alice admin ${OPK}
gui_admin_password_hash = $scrypt$N=16384,r=8,p=1$c2FsdA$aGFzaA
guifi_node_id = 12345
guifi_zone = 2413
guifi_user = alice
guifi_token = tok-0123456789
mode = edge
memory_budget = 64MB
service = cloudy-syncthing sync1 port=8384
ssh_authorized_key = ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGbXj alice@laptop
`;

test('every key parses', () => {
  const { seed, errors } = parseSeed(FULL);
  assert.equal(errors, []);
  assert.is(seed.hostname, 'box-1');
  assert.equal(seed.ipv4, { kind: 'static', address: '10.223.2.10', prefix: 24 });
  assert.equal(seed.ipv6, { kind: 'static', address: 'fd00::10', prefix: 64 });
  assert.equal(seed.join, ['10.223.2.1:5000', '10.223.2.2']);
  assert.equal(seed.dns, ['10.223.2.1', 'fd00::1']);
  assert.is(seed.discover, null, 'join given, no discover');
  assert.equal(seed.operatorKeys, [{ name: 'alice', role: 'admin', publicKey: OPK }]);
  assert.equal(seed.guifi, { nodeId: '12345', zone: '2413', user: 'alice', token: 'tok-0123456789' });
  assert.is(seed.memoryBudget, 64 * 1024 * 1024);
  assert.equal(seed.services, [{ template: 'cloudy-syncthing', name: 'sync1', options: { port: '8384' } }]);
  assert.is(seed.sshAuthorizedKeys.length, 1);
});

test('empty seed: DHCP, auto interface, discover cloudy', () => {
  const { seed, errors } = parseSeed('# nothing\n\n');
  assert.equal(errors, []);
  assert.equal(seed.ipv4, { kind: 'dhcp' });
  assert.is(seed.discover, 'cloudy');
  assert.equal(agentConfigJson(seed, '/s'), { discover: 'cloudy' });
});

test('errors name the line and key, all of them at once', () => {
  const { errors } = parseSeed('hostname = bad_name!\nmode = tiny\nfoo = 1\nipv4 = 10.0.0.1\njust text\nhostname = x\nencrypt_key = short\ngateway4 = 10.0.0.1\n');
  const by = (line: number) => errors.find((e) => e.line === line)!;
  assert.match(by(1).message, /not a valid host name/);
  assert.match(by(2).message, /expected edge or full/);
  assert.match(by(3).message, /unknown key "foo"/);
  assert.match(by(4).message, /10\.0\.0\.1/);
  assert.match(by(5).message, /expected key = value/);
  assert.match(by(6).message, /given twice \(first on line 1\)/);
  assert.match(by(7).message, /base64 of 16, 24 or 32 bytes/);
  assert.match(by(8).message, /gateway4 needs a static ipv4/);
});

test('networkd unit: static v4 + v6, gateway, DNS, multicast route', () => {
  const u = networkdUnit(parseSeed(FULL).seed);
  for (const l of ['Name=eth0', 'DHCP=no', 'Address=10.223.2.10/24', 'Address=fd00::10/64', 'Gateway=10.223.2.1', 'DNS=fd00::1', 'Destination=224.0.0.0/4']) assert.ok(u.includes(l), l);
  assert.ok(networkdUnit(parseSeed('').seed).includes('DHCP=ipv4'));
});

test('redaction replaces secrets only, and the redacted seed still parses', () => {
  const r = redactSeed(FULL);
  assert.equal(r.moved.sort(), ['encrypt_key', 'gui_admin_password_hash', 'guifi_token']);
  assert.not.ok(r.text.includes(KEY));
  assert.ok(r.text.includes(`encrypt_key = ${SECRET_NOTE}`));
  assert.ok(r.text.includes('hostname = box-1'));
  const again = parseSeed(r.text);
  assert.equal(again.errors, []);
  assert.is(again.seed.encryptKey, null);
  assert.equal(redactSeed(r.text).moved, [], 'idempotent');
});

function tmpRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'img-seed-'));
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'boot/efi'), { recursive: true });
  writeFileSync(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\told\n');
  return root;
}

test('apply: files written, secrets 0600 and gone from the seed, HostID from machine-id', () => {
  const root = tmpRoot();
  try {
    writeFileSync(join(root, 'boot/efi/cloudy.conf'), FULL);
    const st = applySeed({ root });
    assert.ok(st.ok);
    assert.is(rf(join(root, 'etc/hostname'), 'utf8'), 'box-1\n');
    assert.match(rf(join(root, 'etc/hosts'), 'utf8'), /127\.0\.1\.1\tbox-1\n$/);
    assert.not.match(rf(join(root, 'etc/hosts'), 'utf8'), /old/);
    const conf = JSON.parse(rf(join(root, 'etc/cloudy-agent/agent.d/10-seed.json'), 'utf8'));
    assert.equal(conf.retry_join, ['10.223.2.1:5000', '10.223.2.2']);
    assert.is(conf.keyring_file, '/etc/cloudy-agent/secrets/keyring.json');
    // the agent loads this layer as a config file (keys and values it accepts)
    const layer = configFromJson(conf, '10-seed.json');
    assert.equal(layer.trustedOperators, [`ed25519:${OPK}@admin`]);
    assert.is(layer.communityInterface, 'eth0');
    assert.is(layer.memoryBudget, 64 * 1024 * 1024);
    const kr = join(root, 'etc/cloudy-agent/secrets/keyring.json');
    assert.equal(JSON.parse(rf(kr, 'utf8')), [KEY]);
    assert.is(statSync(kr).mode & 0o777, 0o600);
    assert.is(statSync(join(root, 'etc/cloudy-agent/secrets')).mode & 0o777, 0o700);
    assert.is(statSync(join(root, 'root/.ssh/authorized_keys')).mode & 0o777, 0o600);
    const seedAfter = rf(join(root, 'boot/efi/cloudy.conf'), 'utf8');
    assert.not.ok(seedAfter.includes(KEY));
    assert.not.ok(seedAfter.includes('tok-0123456789'));
    assert.match(rf(join(root, 'etc/cloudy-agent/operators.conf'), 'utf8'), new RegExp(`alice admin ${OPK.replace(/[+/]/g, '.')}`));
    assert.is(rf(join(root, 'var/lib/cloudy-agent/HostID'), 'utf8').trim(), hostIdFromMachineId('0123456789abcdef0123456789abcdef'));
    assert.ok(readFileSync(join(root, 'var/lib/cloudy-agent/firstboot.done'), 'utf8').length > 0);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('apply: malformed seed -> defaults, status and a seed-error tag say what was wrong', () => {
  const root = tmpRoot();
  try {
    writeFileSync(join(root, 'boot/efi/cloudy.conf'), 'hostname = ok\nmode = turbo\n');
    const st = applySeed({ root });
    assert.not.ok(st.ok);
    assert.is(st.source, 'defaults');
    assert.match(st.message, /line 2 \(mode\): expected edge or full/);
    assert.is(rf(join(root, 'etc/hostname'), 'utf8'), 'cloudy-012345\n', 'default host name, not the seed\'s');
    const conf = JSON.parse(rf(join(root, 'etc/cloudy-agent/agent.d/10-seed.json'), 'utf8'));
    assert.is(conf.discover, 'cloudy');
    assert.match(conf.tags['seed-error'], /line 2 \(mode\)/);
    assert.match(rf(join(root, 'etc/systemd/network/20-cloudy.network'), 'utf8'), /DHCP=ipv4/);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('apply without a seed: defaults, discover cloudy', () => {
  const root = tmpRoot();
  try {
    const st = applySeed({ root });
    assert.ok(st.ok);
    assert.is(st.source, 'none');
    assert.equal(JSON.parse(rf(join(root, 'etc/cloudy-agent/agent.d/10-seed.json'), 'utf8')), { discover: 'cloudy' });
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test.run();
