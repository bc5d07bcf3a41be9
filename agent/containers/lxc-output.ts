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
export const LXC_LS_FIELDS = ['NAME', 'STATE', 'PID', 'AUTOSTART', 'IPV4'] as const;

/**
 * Parses `lxc-ls -f -F NAME,STATE,PID,AUTOSTART,IPV4`. Columns are cut at the header
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
      ...(row.IPV4 !== undefined ? { ipv4: row.IPV4.split(/[,\s]+/).filter((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) } : {}),
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

/**
 * Static IPv4 addresses in a container's LXC config: `lxc.net.N.ipv4.address = a.b.c.d/p`
 * (LXC 3+) and the old `lxc.network.ipv4 = a.b.c.d/p [broadcast]` (LXC 2), every line of them.
 */
export function configAddresses(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*lxc\.net(?:work)?(?:\.\d+)?\.ipv4(?:\.address)?\s*=\s*(\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}
