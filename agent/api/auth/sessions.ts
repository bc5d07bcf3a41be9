// Browser sessions of the admin: a random id in an HttpOnly, SameSite=Strict
// cookie, a CSRF token the GUI sends back in `X-CSRF-Token` on every
// state-changing request, expiry after limits.httpSessionIdleMs without use.
// At most limits.httpSessions live at once (the least recently used goes).
// Only SHA-256 of the id is kept, so a heap dump does not hand out sessions.
import { lazyBuiltin } from '../../system/lazy-builtin.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

export const SESSION_COOKIE = 'cloudy_session';

interface Session { csrf: string; lastSeen: number }

export interface SessionLimits { maxSessions: number; idleMs: number }

function key(id: string): string {
  return nodeCrypto().createHash('sha256').update(id).digest('base64');
}

export class SessionTable {
  private readonly byKey = new Map<string, Session>();

  constructor(private readonly limits: SessionLimits, private readonly now: () => number = Date.now) {}

  create(): { id: string; csrf: string } {
    const id = nodeCrypto().randomBytes(32).toString('base64url');
    const csrf = nodeCrypto().randomBytes(24).toString('base64url');
    while (this.byKey.size >= this.limits.maxSessions) this.byKey.delete(this.byKey.keys().next().value!);
    this.byKey.set(key(id), { csrf, lastSeen: this.now() });
    return { id, csrf };
  }

  /** The live session of this id (its idle clock restarted), or null. */
  touch(id: string): { csrf: string } | null {
    const k = key(id);
    const s = this.byKey.get(k);
    if (!s) return null;
    const t = this.now();
    if (t - s.lastSeen > this.limits.idleMs) { this.byKey.delete(k); return null; }
    s.lastSeen = t;
    this.byKey.delete(k); // LRU order
    this.byKey.set(k, s);
    return { csrf: s.csrf };
  }

  destroy(id: string): void {
    this.byKey.delete(key(id));
  }

  size(): number {
    return this.byKey.size;
  }
}

export function csrfMatches(expected: string, got: string | undefined): boolean {
  if (got === undefined) return false;
  const a = Buffer.from(expected), b = Buffer.from(got);
  return a.length === b.length && nodeCrypto().timingSafeEqual(a, b);
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function sessionCookie(id: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}
