// LXC container configs: the limit keys for this host's cgroup hierarchy,
// their live (lxc-cgroup) form, and editing/reading "key = value" config text.
// Pure; the driver reads and writes the files.
import type { CgroupLayout } from '../system/cgroup.ts';

/** CFS period used for CPU limits (the kernel default, 100 ms). */
export const CPU_PERIOD_US = 100_000;

/**
 * LXC config keys for the limits, for this host's hierarchy. A zero limit
 * renders the key with null (= remove it from the config). Live values for
 * lxc-cgroup use the same controller file names without the lxc prefix.
 */
export function renderLimitKeys(layout: CgroupLayout, memoryBytes: number, cpus: number): Record<string, string | null> {
  const keys: Record<string, string | null> = {};
  const quota = cpus > 0 ? Math.max(1000, Math.round(cpus * CPU_PERIOD_US)) : 0;
  // Remove the keys of both hierarchies first, so a config moved between hosts stays consistent.
  keys['lxc.cgroup.memory.limit_in_bytes'] = null;
  keys['lxc.cgroup2.memory.max'] = null;
  keys['lxc.cgroup.cpu.cfs_quota_us'] = null;
  keys['lxc.cgroup.cpu.cfs_period_us'] = null;
  keys['lxc.cgroup2.cpu.max'] = null;
  if (memoryBytes > 0) {
    if (layout.memory === 1) keys['lxc.cgroup.memory.limit_in_bytes'] = String(memoryBytes);
    else if (layout.memory === 2) keys['lxc.cgroup2.memory.max'] = String(memoryBytes);
  }
  if (quota > 0) {
    if (layout.cpu === 1) {
      keys['lxc.cgroup.cpu.cfs_period_us'] = String(CPU_PERIOD_US);
      keys['lxc.cgroup.cpu.cfs_quota_us'] = String(quota);
    } else if (layout.cpu === 2) {
      keys['lxc.cgroup2.cpu.max'] = `${quota} ${CPU_PERIOD_US}`;
    }
  }
  return keys;
}

/** Live cgroup settings (controller file -> value) for lxc-cgroup on a running container. */
export function liveLimitSettings(layout: CgroupLayout, memoryBytes: number, cpus: number): [string, string][] {
  const out: [string, string][] = [];
  const quota = cpus > 0 ? Math.max(1000, Math.round(cpus * CPU_PERIOD_US)) : -1;
  if (layout.memory === 1) out.push(['memory.limit_in_bytes', memoryBytes > 0 ? String(memoryBytes) : '-1']);
  else if (layout.memory === 2) out.push(['memory.max', memoryBytes > 0 ? String(memoryBytes) : 'max']);
  if (layout.cpu === 1) out.push(['cpu.cfs_period_us', String(CPU_PERIOD_US)], ['cpu.cfs_quota_us', String(quota)]);
  else if (layout.cpu === 2) out.push(['cpu.max', `${quota > 0 ? quota : 'max'} ${CPU_PERIOD_US}`]);
  return out;
}

/**
 * Edits an LXC config text: every key in `set` loses its existing lines and,
 * unless its value is null, gets one "key = value" line at the end. Other lines
 * (comments, includes, network) are kept as they are.
 */
export function editLxcConfig(text: string, set: Record<string, string | null>): string {
  const keys = new Set(Object.keys(set));
  const kept = text.split('\n').filter((line) => {
    const m = /^\s*([A-Za-z0-9_.]+)\s*=/.exec(line);
    return !(m && keys.has(m[1]!));
  });
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  for (const [k, v] of Object.entries(set)) if (v !== null) kept.push(`${k} = ${v}`);
  return kept.join('\n') + '\n';
}

/** Reads "key = value" pairs of an LXC config (last one wins). */
export function readLxcConfig(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_.]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
