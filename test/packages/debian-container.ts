// A fresh Debian 12 system container for the package tests: systemd as init
// (what a Debian/Raspbian box runs), Debian's nodejs 18, on a bridge the test
// creates. The root is built once with mmdebstrap and cached under
// /var/cache/cloudy-agent/pk-debian12/ as root, else .cache/pk-debian12/ (a second run only copies-on-write over it: overlayfs).
// Containers live in their own lxcpath (prefix pk), never in /var/lib/lxc.
import { existsSync, mkdirSync, mkdtempSync, rmSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createExec, type ExecResult } from '../../agent/system/exec.ts';

export const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const exec = createExec({ maxOutputBytes: 4 << 20 });
// Machine-wide like the LXC templates' and the image's caches, so a fresh clone (CI) on the same machine reuses it.
const CACHE = process.getuid?.() === 0 ? '/var/cache/cloudy-agent/pk-debian12' : join(REPO, '.cache', 'pk-debian12');
/** What the root holds beyond minbase: an init system, Debian's Node.js, tools the tests use. */
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'iproute2', 'procps', 'ca-certificates', 'nodejs'];

export async function run(file: string, args: string[], timeoutMs = 120_000, allowFail = false): Promise<ExecResult> {
  const r = await exec.run(file, args, { timeoutMs });
  if (r.exitCode !== 0 && !allowFail) throw new Error(`${file} ${args.join(' ')} -> ${r.exitCode}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The cached Debian 12 root (built on first use: ~2 minutes from the mirror). */
export async function debianRoot(): Promise<string> {
  const root = join(CACHE, `root-${PACKAGES.length}`);
  if (existsSync(join(root, 'etc', 'os-release'))) return root;
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, 'build-'));
  try {
    const tar = join(tmp, 'root.tar');
    await run('mmdebstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, 'bookworm', tar, 'http://deb.debian.org/debian'], 900_000);
    mkdirSync(join(tmp, 'root'));
    await run('tar', ['-C', join(tmp, 'root'), '-xf', tar]);
    rmSync(tar);
    if (!existsSync(join(root, 'etc', 'os-release'))) renameSync(join(tmp, 'root'), root);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return root;
}

export async function createBridge(name: string, cidr: string): Promise<void> {
  await run('ip', ['link', 'del', name], 10_000, true);
  await run('ip', ['link', 'add', name, 'type', 'bridge']);
  await run('ip', ['addr', 'add', cidr, 'dev', name]);
  await run('ip', ['link', 'set', name, 'up']);
}

export async function deleteLink(name: string): Promise<void> {
  await run('ip', ['link', 'del', name], 10_000, true);
}

export interface ContainerOptions {
  name: string;
  bridge: string;
  /** Container address with prefix, e.g. 10.224.1.2/24. */
  cidr: string;
  gateway: string;
  /** Host directory bind-mounted read-only at /mnt/pk in the container. */
  share: string;
}

export class DebianContainer {
  readonly lxcPath: string;
  constructor(readonly o: ContainerOptions, readonly root: string) {
    this.lxcPath = mkdtempSync('/tmp/pk-lxc-');
  }

  async start(): Promise<void> {
    const dir = join(this.lxcPath, this.o.name);
    mkdirSync(join(dir, 'delta', 'etc'), { recursive: true });
    writeFileSync(join(dir, 'delta', 'etc', 'hostname'), `${this.o.name}\n`);
    writeFileSync(join(dir, 'config'), [
      `lxc.uts.name = ${this.o.name}`,
      `lxc.rootfs.path = overlay:${this.root}:${join(dir, 'delta')}`,
      'lxc.include = /usr/share/lxc/config/common.conf',
      'lxc.arch = x86_64',
      'lxc.apparmor.profile = unconfined',
      'lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed',
      'lxc.autodev = 1',
      'lxc.tty.max = 1',
      'lxc.pty.max = 16',
      // systemd's own halt signal: a clean shutdown of the units.
      'lxc.signal.halt = SIGRTMIN+3',
      `lxc.mount.entry = ${this.o.share} mnt/pk none bind,ro,create=dir 0 0`,
      'lxc.net.0.type = veth',
      `lxc.net.0.link = ${this.o.bridge}`,
      'lxc.net.0.flags = up',
      'lxc.net.0.name = eth0',
      `lxc.net.0.ipv4.address = ${this.o.cidr}`,
      `lxc.net.0.ipv4.gateway = ${this.o.gateway}`,
      '',
    ].join('\n'));
    await run('lxc-start', ['-P', this.lxcPath, '-n', this.o.name, '-o', join(this.lxcPath, 'lxc.log')]);
    // Up when systemd says so ("degraded" is fine: a container lacks some devices).
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await this.sh('systemctl is-system-running', 15_000, true);
      if (/^(running|degraded)/.test(r.stdout.trim())) return;
      if (Date.now() > deadline) throw new Error(`container ${this.o.name}: systemd not up (${r.stdout.trim()})`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  /** A shell command in the container (sh -c). */
  async sh(cmd: string, timeoutMs = 120_000, allowFail = false): Promise<ExecResult> {
    return run('lxc-attach', ['-P', this.lxcPath, '-n', this.o.name, '--clear-env', '--set-var', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '--', 'sh', '-c', cmd], timeoutMs, allowFail);
  }

  async destroy(): Promise<void> {
    await run('lxc-stop', ['-P', this.lxcPath, '-n', this.o.name, '-k'], 60_000, true);
    await run('lxc-destroy', ['-P', this.lxcPath, '-n', this.o.name, '-f'], 60_000, true);
    rmSync(this.lxcPath, { recursive: true, force: true });
  }
}
