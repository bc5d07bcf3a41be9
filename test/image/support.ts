// Image tests' shared pieces: build the images once (recording cold/warm
// times), guests in qemu (TCG: this machine's KVM is unusable) on a tap in a
// test-made bridge, and reading a guest's disk afterwards without mounting.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lan, sh, sleep } from './lan.ts';

export const REPO = new URL('../..', import.meta.url).pathname;
export const OUT = join(REPO, 'image/out');
export const IMG = join(OUT, 'cloudy-edge-x86_64.img');
export const LXC_ROOTFS = join(OUT, 'cloudy-lxc-x86_64.tar.xz');
export const LXC_META = join(OUT, 'cloudy-lxc-x86_64.meta.tar.xz');
export const ARTIFACTS = join(REPO, 'test-artifacts/image');
export const RESULTS = join(REPO, 'bench/results/image.json');

/** Merges numbers into bench/results/image.json (one file, many tests). */
export function record(values: Record<string, unknown>): void {
  let cur: Record<string, unknown> = {};
  try { cur = JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>; } catch { /* first */ }
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify({ ...cur, ...values, updated: new Date().toISOString() }, null, 2) + '\n');
}

/**
 * Runs `make image` (image/build.sh) unless IMAGE_TEST_REUSE=1 and the images exist; returns
 * seconds and whether the Debian root came from the cache (warm).
 */
export function buildImages(o: { lxc?: boolean } = {}): { seconds: number; warm: boolean; log: string } {
  const lxc = o.lxc ?? true;
  if (process.env.IMAGE_TEST_REUSE === '1' && existsSync(IMG) && (!lxc || existsSync(LXC_ROOTFS))) return { seconds: 0, warm: true, log: 'reused' };
  const t0 = Date.now();
  // the raw image's .xz is for distribution, not needed here (it is slow on a busy machine)
  // A warm build takes half a minute on an idle machine, several under load; a cold one (Debian root) far longer.
  const log = sh(`cd ${REPO} && SKIP_XZ=1 XZ_LEVEL=0 ${lxc ? '' : 'SKIP_LXC=1 '}bash image/build.sh 2>&1`, false, 90 * 60_000);
  return { seconds: (Date.now() - t0) / 1000, warm: !/debian root \(mmdebstrap\)/.test(log), log };
}

export const ROOT_OFFSET = (2048 + 64 * 2048) * 512;

/** A private copy of the image, `extraMb` larger (sparse): first boot grows into it. */
export function diskCopy(path: string, extraMb = 512): void {
  sh(`cp --sparse=always ${IMG} ${path} && truncate -s +${extraMb}M ${path}`);
}

export interface Guest {
  proc: ChildProcess;
  started: number;
  serial: string;
  /** Hard power-off: the process dies like a pulled plug (no guest shutdown). */
  kill(): Promise<void>;
  console(): string;
}

/**
 * `smp` defaults to 1: on a small host shared with other work (two guests at a time here), a second
 * vCPU thread that the host does not schedule stalls the other in IPIs and RCU (seen: RCU stall
 * warnings, 11-minute boots); one vCPU per guest lets two guests use the host's two cores.
 */
export function bootGuest(o: { lan: Lan; tap: string; disk: string; mac: string; firmware: 'bios' | 'uefi'; name: string; memMb?: number; smp?: number }): Guest {
  mkdirSync(ARTIFACTS, { recursive: true });
  sh(`ip -n ${o.lan.hub} link del ${o.tap}`, true);
  sh(`ip -n ${o.lan.hub} tuntap add ${o.tap} mode tap && ip -n ${o.lan.hub} link set ${o.tap} master ${o.lan.bridge} && ip -n ${o.lan.hub} link set ${o.tap} up`);
  const serial = join(ARTIFACTS, `${o.name}.serial.log`);
  rmSync(serial, { force: true }); // an earlier run's console must not be read as this boot's before qemu opens the file
  const fw: string[] = [];
  if (o.firmware === 'uefi') {
    const vars = `${o.disk}.vars.fd`;
    copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    fw.push('-machine', 'q35', '-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,file=${vars}`);
  }
  const args = ['netns', 'exec', o.lan.hub, 'qemu-system-x86_64', '-name', `img-${o.name}`, '-nodefaults', '-accel', 'tcg', '-cpu', 'max', '-smp', String(o.smp ?? 1),
    '-m', String(o.memMb ?? 512), '-display', 'none', '-serial', `file:${serial}`, '-monitor', 'none', '-no-reboot', ...fw,
    '-drive', `file=${o.disk},format=raw,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0,bootindex=0',
    '-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${o.mac}`];
  const proc = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc, started: Date.now(), serial,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await Promise.race([exited, sleep(10_000)]); }
      sh(`ip -n ${o.lan.hub} link del ${o.tap}`, true);
    },
    console: () => { try { return readFileSync(serial, 'utf8') + err; } catch { return err; } },
  };
}

/** A file of the guest's root fs, read without mounting (debugfs at the partition offset). */
export function guestFile(disk: string, path: string): string {
  return sh(`debugfs -R 'cat ${path}' '${disk}?offset=${ROOT_OFFSET}' 2>/dev/null`, true);
}

export function guestMode(disk: string, path: string): number | null {
  const out = sh(`debugfs -R 'stat ${path}' '${disk}?offset=${ROOT_OFFSET}' 2>/dev/null`, true);
  const m = /Mode:\s+(\d+)/.exec(out);
  return m ? parseInt(m[1]!, 8) : null;
}

/** A file's inode number and creation time in the guest's root fs (the same pair = the same file, never made again). */
export function guestIdentity(disk: string, path: string): string | null {
  const out = sh(`debugfs -R 'stat ${path}' '${disk}?offset=${ROOT_OFFSET}' 2>/dev/null`, true);
  const ino = /Inode:\s+(\d+)/.exec(out)?.[1];
  const crtime = /crtime:\s+(\S+)/.exec(out)?.[1];
  return ino && crtime ? `inode ${ino} crtime ${crtime}` : null;
}

/** Blocks of the root ext4 and sectors of its partition. */
export function rootSizes(disk: string): { fsBytes: number; partSectors: number } {
  const h = sh(`dumpe2fs -h '${disk}?offset=${ROOT_OFFSET}' 2>/dev/null`, true);
  const blocks = Number(/Block count:\s+(\d+)/.exec(h)?.[1] ?? 0);
  const bsize = Number(/Block size:\s+(\d+)/.exec(h)?.[1] ?? 0);
  const pt = JSON.parse(sh(`sfdisk -J ${disk}`)) as { partitiontable: { partitions: { size: number }[] } };
  return { fsBytes: blocks * bsize, partSectors: pt.partitiontable.partitions[1]!.size };
}

export interface SerfMember { name: string; addr: string; status: string; tags: Record<string, string> }

export function serfMembers(ns: string, rpc = '127.0.0.1:7373'): SerfMember[] {
  const out = sh(`ip netns exec ${ns} serf members -rpc-addr=${rpc} -format=json`, true);
  try { return (JSON.parse(out) as { members: SerfMember[] }).members; } catch { return []; }
}

/** avahi-ps's reader of the Cloudy `services` tag: base64 -> bzip2 -> JSON with single quotes. */
export function decodeServices(tag: string | undefined): { s?: string; p?: string; i?: string }[] {
  if (!tag) return [];
  const text = sh(`echo '${tag}' | base64 -d | bunzip2 | sed "s/'/\\"/g"`, true);
  try { return JSON.parse(text) as { s?: string; p?: string; i?: string }[]; } catch { return []; }
}
