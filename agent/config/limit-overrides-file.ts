// <data-dir>/remote/limits.json: limit overrides set at run time by a remote
// admin (`config set limit.NAME VALUE`, agent/remote/plugin.ts writes it).
// Most limits size tables and queues when components are built, so a change
// applies at the next start: daemon.ts reads this file before it builds
// anything. Precedence (lowest first): mode defaults scaled to the memory
// budget, config files (`limits`), this file, `-limit` flags.
//
// Format: {"v":1,"limits":{"maxMembers":300}}; names and values are checked as
// in a config file (parseLimitOverride). A file that does not parse is moved
// aside (NAME.corrupt-<time>) and the agent starts with the limits of its
// config files and flags.
import { join } from 'node:path';
import { AtomicFile, moveAside } from '../state/atomic-file.ts';
import { errorMessage } from '../errors.ts';
import { parseLimitOverride } from './agent-config.ts';
import type { Limits } from './limits.ts';

export const LIMITS_FILE = 'remote/limits.json';
export const LIMITS_FILE_INSTEAD = 'the limits of the config files and flags are used (remote `config set limit.*` changes are lost)';

export function limitsFilePath(dataDir: string): string {
  return join(dataDir, LIMITS_FILE);
}

export function parseLimitsFile(bytes: Uint8Array): Partial<Limits> {
  const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  if (o === null || typeof o !== 'object' || (o as { v?: unknown }).v !== 1) throw new Error('not a v1 limits file');
  const l = (o as { limits?: unknown }).limits;
  if (l === null || typeof l !== 'object' || Array.isArray(l)) throw new Error('limits: expected an object');
  const out: Partial<Limits> = {};
  for (const [name, val] of Object.entries(l as Record<string, unknown>)) {
    const [ln, n] = parseLimitOverride(`${name}=${String(val)}`, `limits.${name}`);
    out[ln] = n;
  }
  return out;
}

export function encodeLimitsFile(l: Partial<Limits>): Uint8Array {
  const sorted = Object.fromEntries(Object.entries(l).sort(([a], [b]) => a.localeCompare(b)));
  return new TextEncoder().encode(`${JSON.stringify({ v: 1, limits: sorted }, null, 2)}\n`);
}

export interface LimitsFileRead {
  overrides: Partial<Limits>;
  /** Set when the file was bad: where it went and why (the daemon reports it through StateHealth once it has one). */
  aside: { path: string; to: string; why: string } | null;
}

/**
 * Read before the daemon has its StateHealth (which itself needs the limits),
 * so the move aside is reported by the caller; otherwise as AtomicFile.readOrMoveAside.
 * An unreadable file (I/O error) is not fatal either: no overrides.
 */
export async function readLimitsFile(dataDir: string): Promise<LimitsFileRead> {
  const path = limitsFilePath(dataDir);
  let bytes: Uint8Array | null;
  try { bytes = await new AtomicFile(path).read(); } catch (e) {
    return { overrides: {}, aside: { path, to: '(not moved: unreadable)', why: errorMessage(e) } };
  }
  if (bytes === null) return { overrides: {}, aside: null };
  try {
    return { overrides: parseLimitsFile(bytes), aside: null };
  } catch (e) {
    const why = errorMessage(e);
    let to: string;
    try { to = await moveAside(path); } catch (m) { to = `(not moved: ${errorMessage(m)})`; }
    return { overrides: {}, aside: { path, to, why } };
  }
}
