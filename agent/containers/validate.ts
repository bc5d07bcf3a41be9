// Validation of every user-supplied value that reaches an lxc-* argument, a
// config file or a firewall rule. Everything fails with AgentError E_INVALID
// and a message naming the value, before anything is created.
import { AgentError } from '../errors.ts';
import { RESTART_POLICIES, type RestartPolicy } from './types.ts';

/**
 * Container names: start with a letter or digit, then letters, digits, '-',
 * '_' or '.', at most 63 characters (a hostname label: the name becomes the
 * container's hostname and the veth/cgroup names are derived from it). No '/',
 * no "..", no shell metacharacters, no leading '-' (would read as an option).
 */
export const CONTAINER_NAME_MAX = 63;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function validateName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw invalid('container name is required');
  if (name.length > CONTAINER_NAME_MAX) {
    throw invalid(`container name '${name.slice(0, 20)}...' is ${name.length} characters long; at most ${CONTAINER_NAME_MAX} are allowed`);
  }
  if (!NAME_RE.test(name) || name.includes('..')) {
    throw invalid(`invalid container name '${printable(name)}': use letters, digits, '-', '_' and '.', starting with a letter or digit`);
  }
  return name;
}

/** Template names: a plain file name (no path), e.g. "cloudy-busybox" or "busybox". */
export function validateTemplateName(t: unknown): string {
  if (typeof t !== 'string' || t.length === 0) throw invalid('template is required (-t TEMPLATE)');
  if (t.length > 64 || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(t) || t.includes('..')) {
    throw invalid(`invalid template name '${printable(t)}': a template is named, not given as a path`);
  }
  return t;
}

export const MEMORY_MIN_BYTES = 4 * 1024 * 1024;
export const MEMORY_MAX_BYTES = 1024 * 1024 * 1024 * 1024; // 1 TiB: beyond any host this runs on

/** "128M", "1G", "65536K", "134217728" (bytes) -> bytes. "0"/"" = no limit. */
export function parseMemory(v: unknown): number {
  if (v === undefined || v === null || v === '' || v === 0 || v === '0') return 0;
  if (typeof v === 'number') return checkMemory(v, String(v));
  if (typeof v !== 'string') throw invalid('memory must be a size such as 128M');
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?$/i.exec(v.trim());
  if (!m) throw invalid(`invalid memory size '${printable(v)}': use a number with K, M or G (e.g. 128M)`);
  const mult: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
  const bytes = Math.floor(Number(m[1]) * mult[m[2]!.toUpperCase()]!);
  return checkMemory(bytes, v);
}

function checkMemory(bytes: number, shown: string): number {
  if (!Number.isFinite(bytes) || bytes < MEMORY_MIN_BYTES || bytes > MEMORY_MAX_BYTES) {
    throw invalid(`memory limit '${printable(shown)}' out of range: between 4M and 1T`);
  }
  return bytes;
}

export const CPUS_MAX = 1024;

/** "1", "0.5", "2" -> CPUs; 0 = no limit. At least 0.01 CPU (1 ms per 100 ms period). */
export function parseCpus(v: unknown, hostCpus?: number): number {
  if (v === undefined || v === null || v === '' || v === 0 || v === '0') return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw invalid(`invalid cpus '${printable(String(v))}': use a number such as 1 or 0.5`);
  const max = hostCpus && hostCpus > 0 ? hostCpus : CPUS_MAX;
  if (n < 0.01 || n > max) throw invalid(`cpus ${n} out of range: between 0.01 and ${max}${hostCpus ? ' (CPUs of this host)' : ''}`);
  return Math.round(n * 100) / 100;
}

export function parseRestartPolicy(v: unknown): RestartPolicy {
  if (v === undefined || v === null || v === '') return 'on-failure';
  if (typeof v === 'string' && (RESTART_POLICIES as readonly string[]).includes(v)) return v as RestartPolicy;
  throw invalid(`invalid restart policy '${printable(String(v))}': use always, on-failure or never`);
}

export function parseIntInRange(v: unknown, what: string, min: number, max: number, dflt: number): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(`${what} must be an integer between ${min} and ${max}, got '${printable(String(v))}'`);
  return n;
}

export function parsePort(v: unknown, what = 'port'): number {
  return parseIntInRange(v, what, 1, 65535, NaN);
}

/**
 * Service type/description/txt end up in the Cloudy JSON records, which are
 * built and parsed by shell scripts on real Cloudy nodes without escaping:
 * no spaces, quotes, backslashes or control characters (spaces in a
 * description are turned into '_' as avahi-ps does).
 */
export function validateServiceType(v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(v)) {
    throw invalid(`invalid service type '${printable(String(v ?? ''))}': 1-32 letters, digits, '-', '_' or '.'`);
  }
  return v;
}

export function normalizeDescription(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid('service description must be a string');
  const d = v.trim().replace(/\s+/g, '_');
  if (d.length > 64 || /["'\\`$\x00-\x1f\x7f]/.test(d)) {
    throw invalid(`invalid service description '${printable(v)}': at most 64 characters, no quotes, backslashes or control characters`);
  }
  return d;
}

export function validateTxt(v: unknown): string {
  if (v === undefined || v === null) return '';
  // The same refusals as discovery/record.ts (what avahi-ps's search cannot carry), checked before anything is created.
  if (typeof v !== 'string' || v.length > 128 || /["'\\`$\s&,*?[]|[^\x20-\x7e]/.test(v)) {
    throw invalid(`invalid service txt '${printable(String(v))}': one k=v item, at most 128 printable ASCII characters, no spaces, quotes, & , \\ * ? [ (avahi-ps search cannot carry them)`);
  }
  return v;
}

/** Arguments passed to a template after "--": each a plain token, bounded. */
export function validateTemplateArgs(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 32) throw invalid('template arguments must be a list of at most 32 strings');
  return v.map((a) => {
    if (typeof a !== 'string' || a.length > 512 || /[\x00-\x1f\x7f]/.test(a)) throw invalid(`invalid template argument '${printable(String(a))}'`);
    return a;
  });
}

export function validateIpv4(v: string, what = 'address'): string {
  const parts = v.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw invalid(`invalid IPv4 ${what} '${printable(v)}'`);
  return v;
}

function invalid(msg: string): AgentError {
  return new AgentError('E_INVALID', msg);
}

/** Shows a hostile value safely in a message. */
function printable(s: string): string {
  const t = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  return t.replace(/[\x00-\x1f\x7f]/g, '?');
}
