// The OpenWrt package, without an OpenWrt system (none can be run here):
//   - the .ipk unpacked: outer gzip'd tar of three members, every control
//     field, every file's mode and numeric owner 0:0, Installed-Size;
//   - the procd init script and the uci-defaults script from the package run
//     by busybox ash in a chroot holding only busybox, with stand-ins for
//     /etc/rc.common (procd_* recorders, config_* over a fake uci) and uci
//     (test/packages/fixtures/openwrt/): command line, respawn, term_timeout,
//     reload trigger, reload by SIGHUP or restart, the defaults written;
//   - the bundle in the package accepts the command line the init script builds;
//   - shellcheck over every shell file of the packaging.
// Needs root (chroot, mknod).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, run } from './debian-container.ts';
import { AGENT_FLAGS } from '../../agent/cli/commands/agent.ts';

const VERSION = '0.1.0+pk';
const FIXTURES = join(REPO, 'test/packages/fixtures/openwrt');
const KEY = Buffer.alloc(16, 7).toString('base64');
/** An operator public key as -trust-operator takes it. */
const OPERATOR = `ed25519:${Buffer.alloc(32, 9).toString('base64')}@admin`;
let tmp = '';
let root = '';

const ipk = (arch: string) => join(tmp, 'out', `cloudy-agent_${VERSION}-1_${arch}.ipk`);

/** GNU tar's verbose listing: mode string, owner/group, name. */
async function listing(file: string, gz = true): Promise<{ mode: string; owner: string; name: string }[]> {
  const r = await run('tar', [gz ? '-tzvf' : '-tvf', file, '--numeric-owner']);
  return r.stdout.trim().split('\n').map((l) => {
    const f = l.split(/\s+/);
    return { mode: f[0]!, owner: f[1]!, name: f[5]! };
  });
}

function parseControl(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith(' ')) { out[last] += `\n${line}`; continue; }
    const i = line.indexOf(':');
    last = line.slice(0, i);
    out[last] = line.slice(i + 1).trim();
  }
  return out;
}

/** /etc/config/<pkg> -> the flat store of the uci stand-in. */
function uciStore(pkg: string, text: string): string[] {
  const lines: string[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    const m = /^(config|option|list)\s+(\S+)(?:\s+'([^']*)')?$/.exec(l);
    if (!m) continue;
    if (m[1] === 'config') { section = m[3]!; lines.push(`${pkg}.${section}=${m[2]}`); } else lines.push(`${pkg}.${section}.${m[2]}=${m[3] ?? ''}`);
  }
  return lines;
}

const NETWORK = ['network.loopback=interface', 'network.loopback.ipaddr=127.0.0.1', 'network.lan=interface', 'network.lan.ipaddr=192.168.1.1',
  'network.guifi=interface', 'network.guifi.ipaddr=10.228.3.7'];

function resetRoot(db: string[]): void {
  writeFileSync(join(root, 'tmp/uci.db'), db.map((l) => `${l}\n`).join(''));
  for (const f of ['uci.calls', 'uci.commits', 'procd.calls']) rmSync(join(root, 'tmp', f), { force: true });
}

async function inRoot(cmd: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const r = await run('env', ['-i', 'PATH=/bin:/sbin:/usr/bin:/usr/sbin', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'chroot', root, ...cmd], 60_000, true);
  return { code: r.exitCode, out: r.stdout + r.stderr };
}

const calls = (): string[] => (existsSync(join(root, 'tmp/procd.calls')) ? readFileSync(join(root, 'tmp/procd.calls'), 'utf8').trim().split('\n') : []);
const dbLines = (): string[] => readFileSync(join(root, 'tmp/uci.db'), 'utf8').trim().split('\n');
const uciGet = (key: string): string[] => dbLines().filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
const initAction = (action: string) => inRoot(['/bin/sh', '/etc/rc.common', '/etc/init.d/cloudy-agent', action]);

test.before(async () => {
  tmp = mkdtempSync('/tmp/pk-ipk-');
  const bundler = ['tools/bundle.mjs', 'agent/bundle.mjs'].map((p) => join(REPO, p)).find((p) => existsSync(p));
  assert.ok(bundler, 'bundle script');
  await run(process.execPath, [bundler!, join(REPO, 'agent/main.ts'), join(tmp, 'cloudy-agent.cjs')], 300_000);
  await run('sh', [join(REPO, 'openwrt/build-ipk.sh'), join(tmp, 'out')], 120_000).then(() => {});
  await run('sh', ['-c', `VERSION='${VERSION}' BUNDLE='${tmp}/cloudy-agent.cjs' '${REPO}/openwrt/build-ipk.sh' '${tmp}/out'`], 120_000);
  // A root with busybox only, the package's data, and the two stand-ins.
  root = join(tmp, 'root');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'dev', 'var/run', 'lib']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  await run('chroot', [root, '/bin/busybox', '--install', '-s']);
  await run('mknod', [join(root, 'dev/urandom'), 'c', '1', '9']);
  await run('mknod', [join(root, 'dev/null'), 'c', '1', '3']);
  chmodSync(join(root, 'dev/null'), 0o666);
  copyFileSync(join(FIXTURES, 'rc.common'), join(root, 'etc/rc.common'));
  copyFileSync(join(FIXTURES, 'uci'), join(root, 'usr/bin/uci'));
  chmodSync(join(root, 'usr/bin/uci'), 0o755);
  const x = join(tmp, 'x');
  mkdirSync(x);
  await run('tar', ['-xzf', ipk('all'), '-C', x]);
  await run('tar', ['-xzf', join(x, 'data.tar.gz'), '-C', root]);
});

test.after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('ipk: gzip\'d tar of debian-binary, control.tar.gz, data.tar.gz; every control field, mode and owner; Installed-Size uncompressed', async () => {
  for (const arch of ['x86_64', 'all']) {
    const file = ipk(arch);
    const head = readFileSync(file).subarray(0, 2);
    assert.equal([...head], [0x1f, 0x8b], 'outer layer is gzip (opkg reads no ar archive)');
    const outer = await listing(file);
    assert.equal(outer.map((e) => e.name).sort(), ['./control.tar.gz', './data.tar.gz', './debian-binary']);
    for (const e of outer) { assert.is(e.owner, '0/0', e.name); assert.is(e.mode, '-rw-r--r--', e.name); }
    const x = mkdtempSync(join(tmp, `un-${arch}-`));
    await run('tar', ['-xzf', file, '-C', x]);
    assert.is(readFileSync(join(x, 'debian-binary'), 'utf8'), '2.0\n');

    const ctl = await listing(join(x, 'control.tar.gz'));
    assert.equal(Object.fromEntries(ctl.map((e) => [e.name, `${e.mode} ${e.owner}`])), {
      './': 'drwxr-xr-x 0/0', './conffiles': '-rw-r--r-- 0/0', './control': '-rw-r--r-- 0/0',
      './postinst': '-rwxr-xr-x 0/0', './prerm': '-rwxr-xr-x 0/0',
    });
    mkdirSync(join(x, 'c'));
    await run('tar', ['-xzf', join(x, 'control.tar.gz'), '-C', join(x, 'c')]);
    assert.is(readFileSync(join(x, 'c/conffiles'), 'utf8'), '/etc/config/cloudy-agent\n');
    const c = parseControl(readFileSync(join(x, 'c/control'), 'utf8'));
    const dataSize = (await run('sh', ['-c', `gzip -dc '${join(x, 'data.tar.gz')}' | wc -c`])).stdout.trim();
    const epoch = c.SourceDateEpoch!;
    assert.match(epoch, /^\d+$/);
    assert.equal(c, {
      Package: 'cloudy-agent', Version: `${VERSION}-1`, Depends: 'libc, node', Source: 'cloudy-agent', SourceName: 'cloudy-agent',
      License: 'GPL-3.0-or-later', Section: 'net', SourceDateEpoch: epoch, Maintainer: 'cloudy-agent maintainers <cloudy-agent@example.org>',
      Architecture: arch, 'Installed-Size': dataSize,
      Description: c.Description!,
    });
    assert.match(c.Description!, /^Cloudy community-cloud agent.*\n .*\n .*/);
    for (const s of ['postinst', 'prerm']) assert.match(readFileSync(join(x, 'c', s), 'utf8'), new RegExp(`default_${s} "\\$0" "\\$@"`));

    const data = await listing(join(x, 'data.tar.gz'));
    for (const e of data) assert.is(e.owner, '0/0', e.name);
    assert.equal(Object.fromEntries(data.filter((e) => !e.mode.startsWith('d')).map((e) => [e.name, e.mode])), {
      './etc/config/cloudy-agent': '-rw-------',
      './etc/init.d/cloudy-agent': '-rwxr-xr-x',
      './etc/uci-defaults/90-cloudy-agent': '-rwxr-xr-x',
      './lib/upgrade/keep.d/cloudy-agent': '-rw-r--r--',
      './usr/bin/cloudy-agent': '-rwxr-xr-x',
      './usr/lib/cloudy-agent/cloudy-agent.cjs': '-rwxr-xr-x',
      './usr/share/doc/cloudy-agent/README.md': '-rw-r--r--',
    });
    for (const e of data.filter((d) => d.mode.startsWith('d'))) assert.is(e.mode, 'drwxr-xr-x', e.name);
  }
  // The make-built package has the version of package.json.
  assert.ok(readdirSync(join(tmp, 'out')).some((f) => /^cloudy-agent_\d+\.\d+\.\d+-1_x86_64\.ipk$/.test(f)));
});

const CONFIG = () => uciStore('cloudy-agent', readFileSync(join(root, 'etc/config/cloudy-agent'), 'utf8'));
const set = (db: string[], key: string, value: string) => [...db.filter((l) => !l.startsWith(`${key}=`)), `${key}=${value}`];

test('UCI config: every option the agent is configured by, enabled, as a conffile', () => {
  const db = CONFIG();
  assert.ok(db.includes('cloudy-agent.main=agent'));
  for (const o of ['enabled', 'mode', 'interface', 'encrypt_key_file', 'memory_budget', 'http_port', 'data_dir', 'node_name', 'log_level', 'profile', 'containers']) {
    assert.ok(db.some((l) => l.startsWith(`cloudy-agent.main.${o}=`)), o);
  }
  const text = readFileSync(join(root, 'etc/config/cloudy-agent'), 'utf8');
  assert.match(text, /#list join '/);
  assert.match(text, /#list trusted_operator '/);
  resetRoot(db);
  assert.equal(uciGet('cloudy-agent.main.enabled'), ['1']);
  assert.equal(uciGet('cloudy-agent.main.data_dir'), ['/etc/cloudy-agent']);
});

let startCommand: string[] = [];

test('init script (busybox ash, procd recorded): command line, respawn, term_timeout, logd; triggers', async () => {
  let db = CONFIG();
  db = set(db, 'cloudy-agent.main.interface', 'guifi');
  db = set(db, 'cloudy-agent.main.memory_budget', '48MB');
  db = set(db, 'cloudy-agent.main.http_port', '7000');
  db = set(db, 'cloudy-agent.main.encrypt_key_file', '/etc/cloudy-agent/key');
  db.push('cloudy-agent.main.join=10.139.40.22:5000', 'cloudy-agent.main.join=10.1.1.1', `cloudy-agent.main.trusted_operator=${OPERATOR}`);
  resetRoot(db);
  mkdirSync(join(root, 'etc/cloudy-agent'), { recursive: true });
  writeFileSync(join(root, 'etc/cloudy-agent/key'), `${KEY}\n`);
  const r = await initAction('start');
  assert.is(r.code, 0, r.out);
  const c = calls();
  assert.equal(c.filter((l) => l.startsWith('procd_')), [
    'procd_open_instance|agent',
    ['procd_set_param', 'command', '/usr/bin/cloudy-agent', 'agent', '-config-file', '/var/run/cloudy-agent/runtime.json', '-mode', 'edge',
      '-profile', 'wan', '-data-dir', '/etc/cloudy-agent', '-interface', 'br-guifi', '-encrypt', KEY, '-memory-budget', '48MB',
      '-http', '0.0.0.0:7000', '-containers=false', '-join', '10.139.40.22:5000', '-join', '10.1.1.1', '-trust-operator', OPERATOR].join('|'),
    'procd_set_param|respawn|3600|5|0',
    'procd_set_param|term_timeout|20',
    'procd_set_param|stdout|1',
    'procd_set_param|stderr|1',
    'procd_close_instance',
  ]);
  startCommand = c.find((l) => l.startsWith('procd_set_param|command|'))!.split('|').slice(2);
  assert.equal(JSON.parse(readFileSync(join(root, 'var/run/cloudy-agent/runtime.json'), 'utf8')), { log_level: 'info', leave_on_terminate: true });
  assert.is(statSync(join(root, 'etc/cloudy-agent')).mode & 0o777, 0o700);

  resetRoot(db);
  assert.is((await initAction('triggers')).code, 0);
  assert.equal(calls().filter((l) => l.startsWith('procd_')), ['procd_add_reload_trigger|cloudy-agent', 'procd_add_reload_interface_trigger|guifi']);

  // Defaults: no interface trigger, default-route interface, no optional flags.
  resetRoot(CONFIG());
  assert.is((await initAction('start')).code, 0);
  assert.is(calls().find((l) => l.startsWith('procd_set_param|command|')),
    'procd_set_param|command|/usr/bin/cloudy-agent|agent|-config-file|/var/run/cloudy-agent/runtime.json|-mode|edge|-profile|wan|-data-dir|/etc/cloudy-agent|-containers=false');
  resetRoot(CONFIG());
  assert.is((await initAction('triggers')).code, 0);
  assert.equal(calls().filter((l) => l.startsWith('procd_')), ['procd_add_reload_trigger|cloudy-agent']);

  // Disabled: no instance.
  resetRoot(set(CONFIG(), 'cloudy-agent.main.enabled', '0'));
  assert.is((await initAction('start')).code, 0);
  assert.equal(calls().filter((l) => l.startsWith('procd_')), []);
});

test('reload: a log level change is a SIGHUP (no restart); any other change restarts with the new command line; disabled stops', async () => {
  resetRoot(CONFIG());
  assert.is((await initAction('start')).code, 0);
  let db = set(CONFIG(), 'cloudy-agent.main.log_level', 'debug');
  resetRoot(db);
  assert.is((await initAction('reload')).code, 0);
  assert.equal(calls().filter((l) => /^(procd_|start|stop)/.test(l)), ['procd_send_signal|cloudy-agent|agent|HUP']);
  assert.is(JSON.parse(readFileSync(join(root, 'var/run/cloudy-agent/runtime.json'), 'utf8')).log_level, 'debug');

  db = set(db, 'cloudy-agent.main.memory_budget', '64MB');
  resetRoot(db);
  assert.is((await initAction('reload')).code, 0);
  const c = calls().filter((l) => /^(procd_|start|stop)/.test(l));
  assert.is(c[0], 'start');
  assert.ok(c.some((l) => l.startsWith('procd_set_param|command|') && l.includes('|-memory-budget|64MB')), c.join('\n'));
  assert.not.ok(c.some((l) => l.startsWith('procd_send_signal')));

  resetRoot(set(db, 'cloudy-agent.main.enabled', '0'));
  assert.is((await initAction('reload')).code, 0);
  assert.equal(calls().filter((l) => /^(procd_|start|stop)/.test(l)), ['stop']);
});

test('the packaged bundle accepts the command line the init script builds (flags that exist on this agent)', async () => {
  assert.ok(startCommand.length > 0);
  const args = startCommand.slice(1).map((a) => (a.startsWith('/var/run/') || a.startsWith('/etc/') ? join(root, a) : a));
  // Options whose flag this agent does not have yet are left out (the recorder test covers their mapping).
  for (const flag of ['http', 'trust-operator']) if (!(flag in AGENT_FLAGS)) args.splice(args.indexOf(`-${flag}`), 2);
  const env = { CLOUDY_AGENT_PRINT_V8: '1' };
  const p = await run('env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, join(root, 'usr/lib/cloudy-agent/cloudy-agent.cjs'), ...args], 60_000, true);
  assert.is(p.exitCode, 0, p.stdout + p.stderr);
  assert.match(p.stdout, /^cloudy-agent-v8: --max-semi-space-size=1 --max-old-space-size=28 MALLOC_ARENA_MAX=2/);
});

test('uci-defaults (busybox ash): section, data dir, HostID, community interface; exits 0 only when done', async () => {
  const script = ['/bin/sh', '/etc/uci-defaults/90-cloudy-agent'];
  rmSync(join(root, 'etc/cloudy-agent'), { recursive: true, force: true });
  resetRoot([...CONFIG(), ...NETWORK]);
  let r = await inRoot(script);
  assert.is(r.code, 0, r.out);
  assert.equal(uciGet('cloudy-agent.main.interface'), ['guifi'], 'the 10/8 interface');
  const hostId = readFileSync(join(root, 'etc/cloudy-agent/HostID'), 'utf8');
  assert.match(hostId, /^[0-9a-f]{32}\n$/);
  assert.is(statSync(join(root, 'etc/cloudy-agent')).mode & 0o777, 0o700);
  assert.is(readFileSync(join(root, 'tmp/uci.commits'), 'utf8'), 'committed cloudy-agent\n');

  // Again (an upgrade): the identity and a chosen interface are kept.
  resetRoot([...set(CONFIG(), 'cloudy-agent.main.interface', 'lan'), ...NETWORK]);
  r = await inRoot(script);
  assert.is(r.code, 0, r.out);
  assert.is(readFileSync(join(root, 'etc/cloudy-agent/HostID'), 'utf8'), hostId);
  assert.equal(uciGet('cloudy-agent.main.interface'), ['lan']);

  // No config section at all (config file removed): it is created with defaults; no 10/8 interface: left empty.
  rmSync(join(root, 'etc/cloudy-agent'), { recursive: true, force: true });
  resetRoot(NETWORK.filter((l) => !l.startsWith('network.guifi')));
  r = await inRoot(script);
  assert.is(r.code, 0, r.out);
  assert.equal(['main', 'main.enabled', 'main.mode', 'main.data_dir', 'main.interface'].map((k) => uciGet(`cloudy-agent.${k}`)),
    [['agent'], ['1'], ['edge'], ['/etc/cloudy-agent'], []]);
  assert.match(readFileSync(join(root, 'etc/cloudy-agent/HostID'), 'utf8'), /^[0-9a-f]{32}\n$/);

  // A commit that fails: not done, so exit 1 (OpenWrt keeps the script for the next boot).
  resetRoot([...CONFIG(), ...NETWORK]);
  r = await inRoot(script, { UCI_FAIL_COMMIT: '1' });
  assert.is(r.code, 1);
});

test('shellcheck: every shell file of the packaging', async () => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/^#!\s*\/bin\/sh/.test(readFileSync(p, 'utf8').slice(0, 40))) files.push(p);
    }
  };
  for (const d of ['packaging', 'openwrt', 'test/packages/fixtures']) walk(join(REPO, d));
  assert.ok(files.length >= 13, files.join(' '));
  // OpenWrt's scripts run under busybox ash (POSIX plus `local`): dash rules.
  const ash = files.filter((f) => f.includes('/openwrt/cloudy-agent/files/') || f.includes('/fixtures/openwrt/'));
  const posix = files.filter((f) => !ash.includes(f));
  const a = await run('shellcheck', ['-s', 'dash', ...ash], 120_000, true);
  assert.is(a.exitCode, 0, a.stdout);
  const b = await run('shellcheck', ['-s', 'sh', ...posix], 120_000, true);
  assert.is(b.exitCode, 0, b.stdout);
});

test.run();
