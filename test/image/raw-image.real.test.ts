// The flashable raw image, end to end (qemu TCG, no KVM on this machine):
// `make image` (cold the first time on a machine, warm after; times recorded),
// then guests on a tap in a bridge inside a network namespace this test makes,
// next to a real serf agent:
//  1. SeaBIOS, seed with hostname + static address + join + gossip key + operator key + SSH key:
//     the guest joins serf (encrypted, so the key really came from the seed), serf sees
//     its `serf` service in its `services` tag; a full node (our agent, -mode full) on the
//     host side runs `remote NODE status` against it with the operator key the seed trusts;
//     the guest's port 7000 is the management proxy (it opens the full node's page for it);
//     ssh with the seed's key logs in; root partition and fs grown; secrets gone from the
//     FAT and in the root fs with mode 0600; the seed's service (a busybox web server from the
//     cloudy-busybox LXC template, host port 8080) was created and started on first boot, is in
//     the `services` tag serf sees and answers on the guest's port 8080;
//  2. hard power-off (qemu killed) and boot again: same node name, joins again; the seed's
//     container runs again and is announced again, and was not created a second time;
//  3. OVMF, no seed: found by `serf agent -discover cloudy` over mDNS;
//  4. malformed seed: boots with defaults, found by mDNS, its `seed-error` tag and the
//     page on its port 7000 (the management proxy's own page: no full node) say what was wrong.
// Power-on to joined times (and the guests' own systemd-analyze) go to bench/results/image.json.
// The file has its own deadline, under run-all's per-file limit: past it a step fails
// saying which, instead of the file being killed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Lan, sh, waitFor } from './lan.ts';
import {
  ARTIFACTS, bootGuest, buildImages, ROOT_OFFSET, decodeServices, diskCopy, guestFile, guestIdentity, guestMode, IMG, record, REPO, rootSizes, serfMembers, type Guest,
  type SerfMember,
} from './support.ts';

const lan = new Lan('q', 2);
const dir = mkdtempSync(join(tmpdir(), 'img-qemu-'));
const T0 = Date.now();
const SERF_IP = '10.223.2.2';
const GUEST_IP = '10.223.2.20';
const KEY = Buffer.alloc(32, 0x5a).toString('base64');
const FULL_IP = '10.223.2.3';
// The seed's service: a container from the cloudy-busybox template (the image's static busybox, no download),
// its httpd published on the guest's port 8080.
const SVC = { name: 'web1', template: 'cloudy-busybox', type: 'web', hostPort: 8080 };
const SVC_CREATED = `cloudy-services: ${SVC.name} created from ${SVC.template} and started`;
// The whole file (about 6 minutes on an idle machine) stays under run-all's 15-minute limit
// per file (TEST_TIMEOUT_S), however slow the machine is: every wait is cut at this deadline.
const FILE_BUDGET_MS = Number(process.env.RAW_IMAGE_BUDGET_S ?? 14 * 60) * 1000;
const DEADLINE = Date.now() + FILE_BUDGET_MS;
/** `ms`, or what is left of the file's time if less; past the deadline the step fails naming itself. */
function within(ms: number, what: string): number {
  const left = DEADLINE - Date.now();
  if (left <= 0) throw new Error(`raw-image: the file's ${FILE_BUDGET_MS / 1000} s deadline passed before ${what}`);
  return Math.min(ms, left);
}
const BOOT_TIMEOUT = 600_000;
async function until<T>(fn: () => T | Promise<T>, what: string, ms: number, step = 1000): Promise<NonNullable<T>> {
  return waitFor(fn, what, within(ms, what), step);
}

/**
 * The agent's command line: the built executable when CLOUDY_AGENT_BIN names it (make test; it
 * starts in a fraction of tsx's time on a busy machine), else the sources through tsx.
 */
const AGENT = process.env.CLOUDY_AGENT_BIN ? resolve(REPO, process.env.CLOUDY_AGENT_BIN) : `${process.execPath} --import tsx ${join(REPO, 'agent/main.ts')}`;
const AGENT_ARGV = AGENT.split(' ');
const cli = (args: string, allowFail = false): string => sh(`cd ${REPO} && ${AGENT} ${args}`, allowFail);

/** An HTTP GET from the hub namespace (the LAN's bridge address): status, headers, body. */
function httpGet(url: string): { status: number; headers: string; body: string } {
  const out = sh(`ip netns exec ${lan.hub} curl -s -m 20 -D - '${url}'`, true);
  const i = out.indexOf('\r\n\r\n');
  const headers = i >= 0 ? out.slice(0, i) : out;
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(headers)?.[1] ?? 0), headers, body: i >= 0 ? out.slice(i + 4) : '' };
}

/** The guest's own boot report (cloudy-boot-report.service: systemd-analyze on the console). */
function bootReport(consoleText: string): Record<string, string | string[]> {
  const m = /Startup finished in ([^\n]+?)\s*$/m.exec(consoleText);
  const blame = [...consoleText.matchAll(/^(?:\[\s*[\d.]+\] \S+\[\d+\]: )?\s*((?:\d+min )?\d+(?:\.\d+)?(?:ms|s)) ([\w@.\\-]+\.(?:service|mount|device|socket))\s*$/gm)].slice(0, 8).map((x) => `${x[1]} ${x[2]}`);
  return m ? { startup: m[1]!.replace(/\x1b\[[0-9;]*m/g, ''), blame } : {};
}
let serfNs = '';
let discNs = '';
const guests = new Set<Guest>();
const times: Record<string, number> = {};
const boots: Record<string, Record<string, string | string[]>> = {};
const DISC_IP = '10.223.2.4';

/** The seeded guests' cluster: a serf agent with the gossip key, no mDNS. */
function startSerf(extra: string[], log: string) {
  return lan.spawnIn(serfNs, ['serf', 'agent', '-node=img-serf', `-bind=${SERF_IP}:5000`, '-rpc-addr=127.0.0.1:7373', '-log-level=debug', ...extra], log);
}

async function serfUp(ns: string, name: string): Promise<void> {
  await until(() => sh(`ip netns exec ${ns} serf members -rpc-addr=127.0.0.1:7373`, true).includes(name), `serf agent ${name} up`, 30_000, 250);
}

function boot(o: Omit<Parameters<typeof bootGuest>[0], 'lan'>): Guest {
  const g = bootGuest({ lan, ...o });
  guests.add(g);
  return g;
}

async function kill(g: Guest | undefined): Promise<void> {
  if (!g) return;
  guests.delete(g);
  await g.kill();
}

/**
 * Watches, from power-on, for `fn` (a member of serf) and notes when it first held: guests boot
 * two at a time (their boots are most of this file's time), each checked by its own test later.
 */
function watch(g: Guest, what: string, fn: () => SerfMember | undefined): Promise<{ m?: SerfMember; s?: number; err?: Error }> {
  return until(fn, what, BOOT_TIMEOUT)
    .then((m) => ({ m, s: Math.round((Date.now() - g.started) / 100) / 10 }))
    .catch((e: Error) => ({ err: new Error(`${e.message}\n--- ${what}: console tail ---\n${g.console().slice(-3000)}`) }));
}

test.before(() => {
  const b = buildImages({ lxc: false }); // the LXC image is lxc-image.real.test.ts's
  if (b.seconds > 0) record({ [b.warm ? 'build_warm_raw_only_s' : 'build_cold_raw_only_s']: Math.round(b.seconds) });
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'build.log'), b.log);
  lan.up(1);
  serfNs = lan.host('s', 2);
  discNs = lan.host('d', 4);
  // DHCP for seedless guests, from the hub's bridge address.
  lan.spawnIn(lan.hub, ['dnsmasq', '--no-daemon', `--interface=${lan.bridge}`, '--bind-interfaces', '--dhcp-range=10.223.2.50,10.223.2.99,1h',
    '--port=0', `--dhcp-leasefile=${join(dir, 'leases')}`, '--dhcp-authoritative'], join(dir, 'dnsmasq.log'));
  // The seedless guests' cluster on the same LAN: `serf agent -discover cloudy`, no key (the seeded cluster's serf
  // neither announces nor answers mDNS, and the seeded guest joins by address, so the two stay apart).
  lan.spawnIn(discNs, ['serf', 'agent', '-node=img-serf-d', `-bind=${DISC_IP}:5000`, '-rpc-addr=127.0.0.1:7373', '-discover=cloudy', '-log-level=debug'],
    join(dir, 'serf-discover.log'));
});

test.after(async () => {
  for (const g of [...guests]) await kill(g);
  await lan.stopAll();
  lan.down();
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

const disk1 = join(dir, 'seeded.img');
const names: { first?: string; container?: string } = {};

/**
 * The seed's service as serf sees it (in the guest's `services` tag, at the guest's address and the published
 * port), then its page fetched from the hub through that port.
 */
async function seedServiceUp(nodeName: string, g: Guest): Promise<void> {
  const withConsole = (e: unknown): never => { throw new Error(`${(e as Error).message}\n--- console tail ---\n${g.console().slice(-3000)}`); };
  const rec = await until(() => decodeServices(serfMembers(serfNs).find((x) => x.name === nodeName && x.status === 'alive')?.tags.services)
    .find((s) => s.s === SVC.type && String(s.p) === String(SVC.hostPort)), `the seed's ${SVC.type} service in the services tag`, 300_000, 2000).catch(withConsole);
  assert.is(rec.i, GUEST_IP, 'announced at the guest\'s community address');
  const page = await until(() => { const r = httpGet(`http://${GUEST_IP}:${SVC.hostPort}/`); return r.status === 200 ? r : null; },
    `the seed's service answering on ${GUEST_IP}:${SVC.hostPort}`, 120_000, 2000).catch(withConsole);
  assert.match(page.body, `cloudy busybox container ${SVC.name}`, 'the container\'s own page, through the guest\'s port forward');
}
const DHCP_ADDR = /^10\.223\.2\.(5\d|[6-9]\d):5000$/;
let seeded: Guest | undefined;
let noSeed: { g: Guest; joined: ReturnType<typeof watch> } | null = null;
let malformed: { g: Guest; joined: ReturnType<typeof watch> } | null = null;

test('SeaBIOS + seed: joins the serf agent with the seed\'s key, services tag, remote status, port 7000, ssh, grown root, secrets moved', async () => {
  const sizes0 = (() => { diskCopy(disk1, 512); return rootSizes(disk1); })();
  const seed = join(dir, 'cloudy.conf');
  const sshKey = join(dir, 'id_ed25519');
  sh(`ssh-keygen -q -t ed25519 -N '' -C img-test -f ${sshKey}`);
  writeFileSync(seed, [
    '# test seed', 'hostname = img-guest1', 'interface = eth0', `ipv4 = ${GUEST_IP}/24`, `join = ${SERF_IP}:5000`,
    `encrypt_key = ${KEY}`, 'operator_key = tester admin OPERATOR_KEY', 'mode = edge',
    `service = ${SVC.template} ${SVC.name} host-port=${SVC.hostPort}`,
    `ssh_authorized_key = ${readFileSync(`${sshKey}.pub`, 'utf8').trim()}`, '',
  ].join('\n'));
  startSerf([`-encrypt=${KEY}`], join(dir, 'serf1.log'));
  await serfUp(serfNs, 'img-serf');
  await serfUp(discNs, 'img-serf-d');
  // the full node next to serf, and the operator key the seed trusts
  sh(`ip -n ${serfNs} addr add ${FULL_IP}/24 dev eth0`, true);
  const opKey = join(dir, 'operator.key');
  cli(`operator keygen -out ${opKey}`);
  const opPub = cli(`operator show -key ${opKey}`).trim();
  lan.spawnIn(serfNs, [...AGENT_ARGV, 'agent', '-node=img-full', '-mode=full', `-bind=${FULL_IP}:5000`,
    '-rpc-addr=127.0.0.1:7374', `-join=${SERF_IP}:5000`, `-encrypt=${KEY}`, '-containers=false', `-data-dir=${join(dir, 'full')}`], join(dir, 'full.log'));
  writeFileSync(seed, readFileSync(seed, 'utf8').replace('OPERATOR_KEY', opPub));
  cli(`seed set ${disk1} ${seed}`);
  assert.match(cli(`seed get ${disk1}`), /hostname = img-guest1/);
  // The seedless OVMF guest boots beside this one (checked by its own test below).
  const disk2 = join(dir, 'noseed.img');
  diskCopy(disk2, 64);
  const g2 = boot({ tap: 'imgqtap1', disk: disk2, mac: '52:54:00:23:02:51', firmware: 'uefi', name: 'uefi-noseed' });
  noSeed = { g: g2, joined: watch(g2, 'seedless guest joined by mDNS', () => serfMembers(discNs).find((x) => DHCP_ADDR.test(x.addr) && x.status === 'alive' && !x.tags['seed-error'])) };
  const g = boot({ tap: 'imgqtap0', disk: disk1, mac: '52:54:00:23:02:20', firmware: 'bios', name: 'bios-seeded' });
  seeded = g;
  const withConsole = (e: unknown): never => { throw new Error(`${(e as Error).message}\n--- console tail ---\n${g.console().slice(-3000)}`); };
  const m = await until(() => serfMembers(serfNs).find((x) => x.addr.startsWith(`${GUEST_IP}:`) && x.status === 'alive'), 'guest joined serf', BOOT_TIMEOUT)
    .catch(withConsole);
  times.bios_seeded_power_on_to_joined_s = Math.round((Date.now() - g.started) / 100) / 10;
  assert.match(m.name, /^[0-9a-f]{32}-\d+-img-guest1-10\.223\.2\.20:5000$/, 'Cloudy node name scheme with the seed\'s host name and address');
  const svc = await until(() => decodeServices(serfMembers(serfNs).find((x) => x.name === m.name)?.tags.services).find((s) => s.s === 'serf'),
    'serf service in the services tag', 120_000);
  assert.ok(svc);
  // remote control from the full node, signed with the operator key the seed trusted
  const status = await until(() => {
    const out = sh(`cd ${REPO} && ip netns exec ${serfNs} ${AGENT} remote -key ${opKey} -rpc-addr 127.0.0.1:7374 -timeout 20s ${m.name} status 2>&1`, true);
    return out.includes(m.name) || out.includes('img-guest1') ? out : '';
  }, 'remote NODE status from the full node', 120_000, 2000).catch(withConsole);
  assert.match(status, /img-guest1|10\.223\.2\.20/);
  // port 7000: the management proxy opens the full node's page for this box
  const root = await until(() => { const r = httpGet(`http://${GUEST_IP}:7000/`); return r.status ? r : null; }, 'the guest\'s port 7000 answering', 120_000, 2000)
    .catch(withConsole);
  assert.is(root.status, 302, root.headers);
  assert.ok(root.headers.toLowerCase().includes(`location: /?node=${encodeURIComponent(m.name)}`.toLowerCase()), `redirect to this node's page: ${root.headers}`);
  const page = await until(() => { const r = httpGet(`http://${GUEST_IP}:7000/?node=${encodeURIComponent(m.name)}`); return r.status === 200 ? r : null; },
    'the full node\'s page through the guest\'s port 7000', 60_000, 2000);
  assert.not.match(page.body, /No full node reachable/);
  assert.match(page.body, /<html/i, 'the full node\'s GUI page');
  const session = httpGet(`http://${GUEST_IP}:7000/api/v1/session`);
  assert.is(session.status, 200, `the full node's API through the proxy: ${session.status} ${session.body.slice(0, 200)}`);
  // SSH with the key the seed listed
  const ssh = await until(() => sh(`ip netns exec ${lan.hub} ssh -i ${sshKey} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=15 `
    + `root@${GUEST_IP} 'cat /etc/hostname; ls -ln /etc/cloudy-agent/secrets/keyring.json' 2>/dev/null`, true), 'ssh into the guest with the seed\'s key', 120_000, 3000);
  assert.match(ssh, /^img-guest1$/m);
  assert.match(ssh, /^-rw------- 1 0 0 /m, 'keyring.json 0600 root in the running guest');
  // the seed's service: created and started on first boot, announced, reachable
  await seedServiceUp(m.name, g);
  assert.ok(g.console().includes(SVC_CREATED), 'first boot created the seed\'s container (console)');
  // let first boot's writes settle, then pull the plug and look at the disk
  await until(() => g.console().includes('cloudy.conf applied') && g.console().includes('grow-root:'), 'first boot messages on the console', 60_000, 250);
  await until(() => /Startup finished in/.test(g.console()), 'the guest\'s boot report', 60_000).catch(() => null);
  boots.bios_seeded = bootReport(g.console());
  names.first = m.name;
  await kill(g);
  // As the next mount would: replay the ext4 journal of the hard-killed guest (debugfs does not).
  sh(`e2fsck -E journal_only -y '${disk1}?offset=${ROOT_OFFSET}'`, true);
  const sizes1 = rootSizes(disk1);
  assert.ok(sizes1.partSectors > sizes0.partSectors + 900_000, `root partition grown (${sizes0.partSectors} -> ${sizes1.partSectors} sectors)`);
  assert.ok(sizes1.fsBytes > sizes0.fsBytes + 450 * 1024 * 1024, `root fs grown (${sizes0.fsBytes} -> ${sizes1.fsBytes})`);
  const seedAfter = cli(`seed get ${disk1}`);
  assert.not.ok(seedAfter.includes(KEY), 'gossip key no longer on the FAT partition');
  assert.match(seedAfter, /encrypt_key = imported on first boot/);
  assert.equal(JSON.parse(guestFile(disk1, '/etc/cloudy-agent/secrets/keyring.json')), [KEY]);
  assert.is(guestMode(disk1, '/etc/cloudy-agent/secrets/keyring.json')! & 0o777, 0o600);
  assert.match(guestFile(disk1, '/etc/cloudy-agent/operators.conf'), /tester admin/);
  assert.ok(guestFile(disk1, '/var/lib/cloudy-agent/firstboot.done').length > 0);
  assert.match(guestFile(disk1, `/var/lib/lxc/${SVC.name}/config`), /^lxc\.start\.auto = 1$/m, 'the seed\'s container, autostarted');
  assert.is(guestFile(disk1, '/etc/cloudy-agent/first-boot-services'), '', 'no service left to create');
  names.container = guestIdentity(disk1, `/var/lib/lxc/${SVC.name}/rootfs/www/index.html`) ?? undefined;
  assert.ok(names.container, 'the container\'s root (its page) on the disk');
});

test('hard power-off, boot again: same node name, joins again', async () => {
  await kill(seeded); // still running if the first test failed: never two guests on one disk
  // The malformed-seed guest boots beside the reboot (checked by its own test below).
  const disk3 = join(dir, 'bad.img');
  diskCopy(disk3, 64);
  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, 'hostname = fine\nmode = turbo\n');
  cli(`seed set -force ${disk3} ${bad}`);
  const g3 = boot({ tap: 'imgqtap2', disk: disk3, mac: '52:54:00:23:02:52', firmware: 'bios', name: 'bios-malformed' });
  malformed = { g: g3, joined: watch(g3, 'malformed-seed guest joined by mDNS', () => serfMembers(discNs).find((x) => x.status === 'alive' && x.tags['seed-error'])) };
  assert.ok(names.first, 'first boot ran');
  // serf marks the killed guest failed; the rebooted one must come back alive under the same name
  const g = boot({ tap: 'imgqtap0', disk: disk1, mac: '52:54:00:23:02:20', firmware: 'bios', name: 'bios-reboot' });
  const back = await until(() => serfMembers(serfNs).find((x) => x.name === names.first && x.status === 'alive' && g.console().includes('Cloudy agent running')),
    'same node alive again', BOOT_TIMEOUT).catch((e) => { throw new Error(`${(e as Error).message}\n${g.console().slice(-3000)}`); });
  times.bios_reboot_to_joined_s = Math.round((Date.now() - g.started) / 100) / 10;
  assert.is(back.name, names.first);
  assert.not.match(g.console(), /cloudy\.conf applied|grow-root:/, 'first boot did not run again');
  // the seed's container is running again and announced again, without being created again
  await seedServiceUp(back.name, g);
  assert.not.ok(g.console().includes('cloudy-services:'), 'the seed\'s services were not created again (console)');
  await until(() => /Startup finished in/.test(g.console()), 'the guest\'s boot report', 30_000).catch(() => null);
  boots.bios_reboot = bootReport(g.console());
  await kill(g);
  sh(`e2fsck -E journal_only -y '${disk1}?offset=${ROOT_OFFSET}'`, true);
  assert.is(guestIdentity(disk1, `/var/lib/lxc/${SVC.name}/rootfs/www/index.html`), names.container, 'the same container (the page its template wrote is the same file: not made again)');
});

test('OVMF, no seed: serf agent -discover cloudy finds the guest and they join', async () => {
  assert.ok(noSeed, 'the seedless guest was started');
  const { g, joined } = noSeed!;
  const r = await joined;
  if (r.err) throw r.err;
  const m = r.m!;
  times.uefi_noseed_power_on_to_joined_s = r.s!;
  assert.match(m.addr, /:5000$/);
  assert.match(m.name, /-cloudy-[0-9a-f]{6}-10\.223\.2\./, 'default host name cloudy-<machine-id>');
  assert.match(g.console(), /no cloudy\.conf/);
  // found by mDNS, in either direction: the guest's agent joined what it found, or serf's mDNS joined the guest
  const serfLog = readFileSync(join(dir, 'serf-discover.log'), 'utf8');
  assert.ok(new RegExp(`mdns: joined \\d+ host\\(s\\) found by mDNS: .*${DISC_IP.replace(/\./g, '\\.')}:5000`).test(g.console())
    || new RegExp(`joining: \\[[^\\]]*${m.addr.replace(/[.]/g, '\\.')}`).test(serfLog), 'a join by mDNS (guest console or serf log)');
  await until(() => /Startup finished in/.test(g.console()), 'the guest\'s boot report', 30_000).catch(() => null);
  boots.uefi_noseed = bootReport(g.console());
  await kill(g);
});

test('malformed seed: boots with defaults, found by mDNS; its seed-error tag and its port 7000 page say what was wrong', async () => {
  assert.ok(malformed, 'the malformed-seed guest was started');
  const { g, joined } = malformed!;
  const r = await joined;
  if (r.err) throw r.err;
  const m = r.m!;
  times.bios_malformed_power_on_to_joined_s = r.s!;
  assert.match(m.tags['seed-error']!, /line 2 \(mode\): expected edge or full/);
  assert.match(g.console(), /cloudy\.conf is malformed/);
  assert.not.match(m.name, /-fine-/, 'the malformed seed\'s host name was not applied');
  // Its status page: port 7000 with no full node in this cluster is the edge's own page, which leads with the seed's error.
  const ip = m.addr.replace(/:\d+$/, '');
  const page = await until(() => { const p = httpGet(`http://${ip}:7000/?node=${encodeURIComponent(m.name)}`); return p.status ? p : null; },
    'the malformed-seed guest\'s port 7000', 120_000, 2000);
  writeFileSync(join(ARTIFACTS, 'malformed-seed-port-7000.html'), page.body);
  assert.is(page.status, 503, 'the edge\'s own page (no full node reachable)');
  assert.match(page.body, /No full node reachable/);
  assert.match(page.body, /cloudy\.conf is malformed, booted with defaults/);
  assert.match(page.body, /cloudy\.conf line 2 \(mode\): expected edge or full, got &#34;turbo&#34;/);
  await until(() => /Startup finished in/.test(g.console()), 'the guest\'s boot report', 30_000).catch(() => null);
  boots.bios_malformed = bootReport(g.console());
  await kill(g);
  record({
    qemu_tcg: times, qemu_tcg_note: 'guests boot two at a time (seeded BIOS + seedless OVMF, then the reboot + malformed seed)',
    guest_systemd_analyze: boots, raw_image_test_file_s: Math.round((Date.now() - T0) / 1000),
    loadavg_at_end: sh('cat /proc/loadavg').trim(), measured_at: new Date().toISOString(),
    image_raw_bytes: Number(sh(`stat -c %s ${IMG}`).trim()),
  });
});

test.run();
