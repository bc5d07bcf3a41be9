// The host's cgroup layout: which hierarchy (v1 or v2) holds the memory and
// cpu controllers. Read once at start; container limits are written for it.
import { readFile } from 'node:fs/promises';

/** Which cgroup hierarchy holds a controller on this host. */
export type CgroupVersion = 1 | 2;
export interface CgroupLayout { memory: CgroupVersion | null; cpu: CgroupVersion | null }

/**
 * From /proc/self/mounts (and the unified hierarchy's cgroup.controllers):
 * a controller mounted as a v1 hierarchy is managed through v1 keys
 * (lxc.cgroup.*); otherwise, if the unified hierarchy offers it, v2 keys
 * (lxc.cgroup2.*). Hybrid hosts (systemd "hybrid", this kind of VM) have
 * memory and cpu on v1 with an empty cgroup2 mount beside them.
 */
export function detectCgroupLayout(mounts: string, unifiedControllers: string | null): CgroupLayout {
  const v1 = new Set<string>();
  for (const line of mounts.split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup') for (const opt of (f[3] ?? '').split(',')) v1.add(opt);
  }
  const v2 = new Set((unifiedControllers ?? '').split(/\s+/).filter(Boolean));
  const pick = (c: string): CgroupVersion | null => (v1.has(c) ? 1 : v2.has(c) ? 2 : null);
  return { memory: pick('memory'), cpu: pick('cpu') };
}

/** Reads the layout of this host (/proc/self/mounts and the unified hierarchy's controllers). */
export async function readCgroupLayout(): Promise<CgroupLayout> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const unified = await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8')
    .catch(() => readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8'))
    .catch(() => null);
  return detectCgroupLayout(mounts, unified);
}
