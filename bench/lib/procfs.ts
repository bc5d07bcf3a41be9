// Resource figures of another process, read from /proc from the outside (the
// measured agent does nothing to report them).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/PID/stat times are in clock ticks, 100 per second on every Linux ABI we run on. */
export const CLOCK_TICKS_PER_SEC = 100;

/** VmRSS = RssAnon + RssFile (mapped executable and libraries) + RssShmem. */
export interface MemorySample { vmRssKb: number; rssAnonKb: number; rssFileKb: number }

/** VmRSS and RssAnon (kB) from /proc/PID/status; null once the process is gone. */
export function readMemory(pid: number): MemorySample | null {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return null; }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return { vmRssKb: field('VmRSS'), rssAnonKb: field('RssAnon'), rssFileKb: field('RssFile') };
}

/** CPU seconds (user + system, this process only) from /proc/PID/stat; null once gone. */
export function readCpuSeconds(pid: number): number | null {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return null; }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime = field 14, stime = field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SEC;
}

/**
 * Drops the page cache of an executable (pages no process maps), as a reboot
 * would. Why: RssFile counts the pages of the executable a process has mapped,
 * and on a page fault the kernel also maps the neighbouring pages that happen
 * to be cached (fault-around, 64 KiB). A file that was just written by the
 * build is cached whole, so a process started from it maps up to 16 times the
 * pages it touches: for the 120 MB Node executable that is ~14 MB more RssFile
 * than on a device, where the executable was only ever read by running it.
 * Both agents are measured after this, the same way. GNU dd's `iflag=nocache
 * count=0` is posix_fadvise(POSIX_FADV_DONTNEED) on the whole file.
 */
export function dropPageCache(file: string): boolean {
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' });
  return r.status === 0;
}

/** The kernel's UDP counters (system-wide, /proc/net/snmp): datagrams dropped for a full receive buffer, send errors. */
export interface UdpCounters { inDatagrams: number; rcvbufErrors: number; sndbufErrors: number; inErrors: number }

export function readUdpCounters(): UdpCounters | null {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp: '));
    if (lines.length < 2) return null;
    const names = lines[0]!.split(/\s+/).slice(1);
    const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
    const get = (k: string): number => vals[names.indexOf(k)] ?? NaN;
    return { inDatagrams: get('InDatagrams'), rcvbufErrors: get('RcvbufErrors'), sndbufErrors: get('SndbufErrors'), inErrors: get('InErrors') };
  } catch { return null; }
}
