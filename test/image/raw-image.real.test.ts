// The flashable raw image, end to end (qemu TCG, no KVM on this machine):
// `make image` (cold the first time on a machine, warm after; times recorded),
// then guests on a tap in a bridge inside a network namespace this test makes,
// next to a real serf agent:
//  1. SeaBIOS, seed with hostname + static address + join + gossip key + operator key:
//     the guest joins serf (encrypted, so the key really came from the seed), serf sees
//     its `serf` service in its `services` tag; a full node (our agent, -mode full) on the
//     host side runs `remote NODE status` against it with the operator key the seed trusts;
//     root partition and fs grown; secrets gone from the FAT and in the root fs with mode 0600;
//  2. hard power-off (qemu killed) and boot again: same node name, joins again;
//  3. OVMF, no seed: found by `serf agent -discover cloudy` over mDNS;
//  4. malformed seed: boots with defaults, found by mDNS, its `seed-error` tag says what was wrong.
// Power-on to joined times go to bench/results/image.json.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan, sh, waitFor } from './lan.ts';
import {
  ARTIFACTS, bootGuest, buildImages, ROOT_OFFSET, decodeServices, diskCopy, guestFile, guestMode, IMG, record, REPO, rootSizes, serfMembers, type Guest,
} from './support.ts';

const lan = new Lan('q', 2);
const dir = mkdtempSync(join(tmpdir(), 'img-qemu-'));
const SERF_IP = '10.223.2.2';
const GUEST_IP = '10.223.2.20';
const KEY = Buffer.alloc(32, 0x5a).toString('base64');
const FULL_IP = '10.223.2.3';
// TCG on a 2-core machine shared with other builds: a boot has taken 7 minutes.
const BOOT_TIMEOUT = 900_000;
// ...but the whole file stays within 30 minutes (make test's budget), however slow the machine is.
const FILE_DEADLINE = Date.now() + 30 * 60_000;
const bootTimeout = (): number => Math.max(60_000, Math.min(BOOT_TIMEOUT, FILE_DEADLINE - Date.now()));
let serfNs = '';
let guest: Guest | null = null;
const times: Record<string, number> = {};

function startSerf(extra: string[], log: string) {
  return lan.spawnIn(serfNs, ['serf', 'agent', '-node=img-serf', `-bind=${SERF_IP}:5000`, '-rpc-addr=127.0.0.1:7373', '-log-level=debug', ...extra], log);
}

async function serfUp(): Promise<void> {
  await waitFor(() => sh(`ip netns exec ${serfNs} serf members -rpc-addr=127.0.0.1:7373`, true).includes('img-serf'), 'serf agent up', 30_000);
}

async function stopGuest(): Promise<void> {
  if (guest) await guest.kill();
  guest = null;
}

test.before(() => {
  const b = buildImages();
  if (b.seconds > 0) record({ [b.warm ? 'build_warm_s' : 'build_cold_s']: Math.round(b.seconds) });
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'build.log'), b.log);
  lan.up(1);
  serfNs = lan.host('s', 2);
  // DHCP for seedless guests (each its own lease file), from the hub's bridge address.
  lan.spawnIn(lan.hub, ['dnsmasq', '--no-daemon', `--interface=${lan.bridge}`, '--bind-interfaces', '--dhcp-range=10.223.2.50,10.223.2.99,1h',
    '--port=0', `--dhcp-leasefile=${join(dir, 'leases')}`, '--dhcp-authoritative'], join(dir, 'dnsmasq.log'));
});

test.after(async () => {
  await stopGuest();
  await lan.stopAll();
  lan.down();
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

const disk1 = join(dir, 'seeded.img');

test('SeaBIOS + seed: joins the serf agent with the seed\'s key, services tag, grown root, secrets moved', async () => {
  const sizes0 = (() => { diskCopy(disk1, 512); return rootSizes(disk1); })();
  const seed = join(dir, 'cloudy.conf');
  writeFileSync(seed, [
    '# test seed', 'hostname = img-guest1', 'interface = eth0', `ipv4 = ${GUEST_IP}/24`, `join = ${SERF_IP}:5000`,
    `encrypt_key = ${KEY}`, 'operator_key = tester admin OPERATOR_KEY', 'mode = edge', '',
  ].join('\n'));
  startSerf([`-encrypt=${KEY}`], join(dir, 'serf1.log'));
  await serfUp();
  // the full node next to serf, and the operator key the seed trusts
  sh(`ip -n ${serfNs} addr add ${FULL_IP}/24 dev eth0`, true);
  const opKey = join(dir, 'operator.key');
  sh(`cd ${REPO} && node --import tsx agent/main.ts operator keygen -out ${opKey}`);
  const opPub = sh(`cd ${REPO} && node --import tsx agent/main.ts operator show -key ${opKey}`).trim();
  lan.spawnIn(serfNs, [process.execPath, '--import', 'tsx', join(REPO, 'agent/main.ts'), 'agent', '-node=img-full', '-mode=full', `-bind=${FULL_IP}:5000`,
    '-rpc-addr=127.0.0.1:7374', `-join=${SERF_IP}:5000`, `-encrypt=${KEY}`, '-containers=false', `-data-dir=${join(dir, 'full')}`], join(dir, 'full.log'));
  writeFileSync(seed, readFileSync(seed, 'utf8').replace('OPERATOR_KEY', opPub));
  sh(`cd ${REPO} && node --import tsx agent/main.ts seed set ${disk1} ${seed}`);
  assert.match(sh(`cd ${REPO} && node --import tsx agent/main.ts seed get ${disk1}`), /hostname = img-guest1/);
  guest = bootGuest({ lan, tap: 'imgqtap0', disk: disk1, mac: '52:54:00:23:02:20', firmware: 'bios', name: 'bios-seeded' });
  const g = guest;
  const m = await waitFor(() => serfMembers(serfNs).find((x) => x.addr.startsWith(`${GUEST_IP}:`) && x.status === 'alive'), 'guest joined serf', bootTimeout(), 1000)
    .catch((e) => { throw new Error(`${(e as Error).message}\n--- console tail ---\n${g.console().slice(-3000)}`); });
  times.bios_power_on_to_joined_s = (Date.now() - g.started) / 1000;
  assert.match(m.name, /^[0-9a-f]{32}-\d+-img-guest1-10\.223\.2\.20:5000$/, 'Cloudy node name scheme with the seed\'s host name and address');
  const svc = await waitFor(() => decodeServices(serfMembers(serfNs).find((x) => x.name === m.name)?.tags.services).find((s) => s.s === 'serf'),
    'serf service in the services tag', 120_000, 1000);
  assert.ok(svc);
  // remote control from the full node, signed with the operator key the seed trusted
  const status = await waitFor(() => {
    const out = sh(`cd ${REPO} && ip netns exec ${serfNs} ${process.execPath} --import tsx agent/main.ts remote -key ${opKey} -rpc-addr 127.0.0.1:7374 -timeout 20s ${m.name} status 2>&1`, true);
    return out.includes(m.name) || out.includes('img-guest1') ? out : '';
  }, 'remote NODE status from the full node', 120_000, 2000);
  assert.match(status, /img-guest1|10\.223\.2\.20/);
  // let first boot's writes settle, then pull the plug and look at the disk
  await waitFor(() => g.console().includes('cloudy.conf applied'), 'first boot message on the console', 60_000);
  names.first = m.name;
  await stopGuest();
  // As the next mount would: replay the ext4 journal of the hard-killed guest (debugfs does not).
  sh(`e2fsck -E journal_only -y '${disk1}?offset=${ROOT_OFFSET}'`, true);
  const sizes1 = rootSizes(disk1);
  assert.ok(sizes1.partSectors > sizes0.partSectors + 900_000, `root partition grown (${sizes0.partSectors} -> ${sizes1.partSectors} sectors)`);
  assert.ok(sizes1.fsBytes > sizes0.fsBytes + 450 * 1024 * 1024, `root fs grown (${sizes0.fsBytes} -> ${sizes1.fsBytes})`);
  const seedAfter = sh(`cd ${REPO} && node --import tsx agent/main.ts seed get ${disk1}`);
  assert.not.ok(seedAfter.includes(KEY), 'gossip key no longer on the FAT partition');
  assert.match(seedAfter, /encrypt_key = imported on first boot/);
  assert.equal(JSON.parse(guestFile(disk1, '/etc/cloudy-agent/secrets/keyring.json')), [KEY]);
  assert.is(guestMode(disk1, '/etc/cloudy-agent/secrets/keyring.json')! & 0o777, 0o600);
  assert.match(guestFile(disk1, '/etc/cloudy-agent/operators.conf'), /tester admin/);
  assert.ok(guestFile(disk1, '/var/lib/cloudy-agent/firstboot.done').length > 0);
});

const names: { first?: string } = {};

test('hard power-off, boot again: same node name, joins again', async () => {
  await stopGuest();
  assert.ok(names.first, 'first boot ran');
  // serf marks the killed guest failed; the rebooted one must come back alive under the same name
  guest = bootGuest({ lan, tap: 'imgqtap0', disk: disk1, mac: '52:54:00:23:02:20', firmware: 'bios', name: 'bios-reboot' });
  const g = guest;
  const t0 = Date.now();
  const back = await waitFor(() => serfMembers(serfNs).find((x) => x.name === names.first && x.status === 'alive' && Date.now() - t0 > 5000 && g.console().includes('Cloudy agent running')),
    'same node alive again', bootTimeout(), 1000).catch((e) => { throw new Error(`${(e as Error).message}\n${g.console().slice(-3000)}`); });
  times.bios_reboot_to_joined_s = (Date.now() - g.started) / 1000;
  assert.is(back.name, names.first);
  assert.not.match(g.console(), /cloudy\.conf applied/, 'first boot did not run again');
  await stopGuest();
  await lan.stopAll(); // serf (dnsmasq too: restarted below)
});

test('OVMF, no seed: serf agent -discover cloudy finds the guest and they join', async () => {
  await stopGuest();
  await lan.stopAll(); // whatever an earlier failure left running (serf, full node, dnsmasq)
  lan.spawnIn(lan.hub, ['dnsmasq', '--no-daemon', `--interface=${lan.bridge}`, '--bind-interfaces', '--dhcp-range=10.223.2.50,10.223.2.99,1h',
    '--port=0', `--dhcp-leasefile=${join(dir, 'leases2')}`, '--dhcp-authoritative'], join(dir, 'dnsmasq2.log'));
  const disk = join(dir, 'noseed.img');
  diskCopy(disk, 64);
  startSerf(['-discover=cloudy'], join(dir, 'serf3.log'));
  await serfUp();
  guest = bootGuest({ lan, tap: 'imgqtap1', disk, mac: '52:54:00:23:02:51', firmware: 'uefi', name: 'uefi-noseed' });
  const g = guest;
  const m = await waitFor(() => serfMembers(serfNs).find((x) => /^10\.223\.2\.(5\d|[6-9]\d):/.test(x.addr) && x.status === 'alive'), 'seedless guest joined by mDNS', bootTimeout(), 1000)
    .catch((e) => { throw new Error(`${(e as Error).message}\n${g.console().slice(-3000)}`); });
  times.uefi_noseed_power_on_to_joined_s = (Date.now() - g.started) / 1000;
  assert.match(m.addr, /:5000$/);
  assert.match(m.name, /-cloudy-[0-9a-f]{6}-10\.223\.2\./, 'default host name cloudy-<machine-id>');
  assert.match(g.console(), /no cloudy\.conf/);
  await stopGuest();
});

test('malformed seed: boots with defaults, found by mDNS, seed-error tag says what was wrong', async () => {
  await stopGuest();
  if (!serfMembers(serfNs).some((x) => x.name === 'img-serf')) { startSerf(['-discover=cloudy'], join(dir, 'serf4.log')); await serfUp(); }
  const disk = join(dir, 'bad.img');
  diskCopy(disk, 64);
  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, 'hostname = fine\nmode = turbo\n');
  sh(`cd ${REPO} && node --import tsx agent/main.ts seed set -force ${disk} ${bad}`);
  guest = bootGuest({ lan, tap: 'imgqtap2', disk, mac: '52:54:00:23:02:52', firmware: 'bios', name: 'bios-malformed' });
  const g = guest;
  const m = await waitFor(() => serfMembers(serfNs).find((x) => x.status === 'alive' && x.tags['seed-error']), 'malformed-seed guest joined', bootTimeout(), 1000)
    .catch((e) => { throw new Error(`${(e as Error).message}\n${g.console().slice(-3000)}`); });
  times.bios_malformed_power_on_to_joined_s = (Date.now() - g.started) / 1000;
  assert.match(m.tags['seed-error']!, /line 2 \(mode\): expected edge or full/);
  assert.match(g.console(), /cloudy\.conf is malformed/);
  assert.not.match(m.name, /-fine-/, 'the malformed seed\'s host name was not applied');
  await stopGuest();
  record({ qemu_tcg: times, image_bytes: Number(sh(`stat -c %s ${IMG}`).trim()), image_xz_bytes: Number(sh(`stat -c %s ${IMG}.xz 2>/dev/null || echo 0`).trim()) });
});

test.run();
