// Parsing of lxc-* tool output (pure). We ask the tools for their most
// machine-friendly forms: `lxc-ls -f -F NAME,STATE,PID,AUTOSTART` (fixed
// columns under a header) and `lxc-info -H` ("Key: value" lines with raw
// numbers). Unknown lines and columns are ignored, so newer LXC versions that
// add fields do not break us.
import type { ContainerInfo, LxcState, ObservedContainer } from './types.ts';

const STATES = new Set(['STOPPED', 'STARTING', 'RUNNING', 'STOPPING', 'ABORTING', 'FREEZING', 'FROZEN', 'THAWED']);

export function toState(s: string): LxcState {
  const u = s.trim().toUpperCase();
  return (STATES.has(u) ? u : 'UNKNOWN') as LxcState;
}

/** Columns requested from lxc-ls; the order does not matter to the parser. */
export const LXC_LS_FIELDS = ['NAME', 'STATE', 'PID', 'AUTOSTART'] as const;

/**
 * Parses `lxc-ls -f -F NAME,STATE,PID,AUTOSTART`. Columns are cut at the header
 * offsets (lxc-ls left-aligns each value under its header), which stays right
 * even for values holding spaces (IPV4 lists "a, b"). "-" means empty.
 */
export function parseLxcLsFancy(out: string): ObservedContainer[] {
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const header = lines[0]!;
  const cols: { name: string; start: number }[] = [];
  const re = /\S+/g;
  for (let m = re.exec(header); m; m = re.exec(header)) cols.push({ name: m[0].toUpperCase(), start: m.index });
  if (!cols.some((c) => c.name === 'NAME')) return [];
  const result: ObservedContainer[] = [];
  for (const line of lines.slice(1)) {
    const row: Record<string, string> = {};
    cols.forEach((c, i) => {
      const end = i + 1 < cols.length ? cols[i + 1]!.start : line.length;
      const v = line.slice(c.start, end).trim();
      row[c.name] = v === '-' ? '' : v;
    });
    const name = row.NAME ?? '';
    if (!name) continue;
    const pid = Number(row.PID);
    result.push({
      name,
      state: toState(row.STATE ?? ''),
      pid: Number.isInteger(pid) && pid > 0 ? pid : 0,
      autostart: row.AUTOSTART === '1' || row.AUTOSTART?.toUpperCase() === 'YES',
    });
  }
  return result;
}

/** Parses `lxc-info -H -n NAME` ("Key: value" per line; IP may repeat). */
export function parseLxcInfo(out: string, name: string): ContainerInfo {
  const raw: Record<string, string> = {};
  const ipv4: string[] = [];
  for (const line of out.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const key = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (key === 'IP') {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(value)) ipv4.push(value);
      continue;
    }
    if (!(key in raw)) raw[key] = value;
  }
  const num = (k: string): number => {
    const n = Number((raw[k] ?? '').split(/\s+/)[0]);
    return Number.isFinite(n) ? n : 0;
  };
  return {
    name: raw.Name || name,
    state: toState(raw.State ?? ''),
    pid: num('PID'),
    autostart: false,
    ipv4,
    cpuNs: num('CPU use'),
    memoryBytes: num('Memory use'),
    raw,
  };
}

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

/** File (in the container's directory) where LXC logs at INFO level; the agent reads how init ended from it. */
export const LXC_LOG_FILE = 'cloudy-lxc.log';

/**
 * How the container's init ended, from LXC's own log (lxc.log.level = INFO):
 *   `Started "/sbin/init" with pid "N"` opens a run;
 *   `Child <N> ended on signal Interrupt(2)` / `Hangup(1)`: the container
 *     powered off / rebooted itself (reboot(2) in a pid namespace; what a clean
 *     `lxc-stop` of an init that honours lxc.signal.halt ends with);
 *   `Child <N> ended on error (S)`: init exited with status S;
 *   `... ended on signal Killed(9)` and other signals: killed (a crash, OOM, kill -9).
 * No "ended" line after the last start: init exited 0. SIGTERM (15, or status
 * 143 from an init like tini forwarding it) is a requested stop: clean.
 */
export function parseExitCause(log: string): 'clean' | 'failure' | 'unknown' {
  const started = log.lastIndexOf('Started "');
  if (started < 0) return 'unknown';
  const after = log.slice(started);
  const sig = /ended on signal [^(\n]*\((\d+)\)/.exec(after);
  if (sig) return [1, 2, 15].includes(Number(sig[1])) ? 'clean' : 'failure';
  const err = /ended on error \((\d+)\)/.exec(after);
  if (err) return [0, 143].includes(Number(err[1])) ? 'clean' : 'failure';
  return 'clean';
}
