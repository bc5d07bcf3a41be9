// Authentication of HTTP requests: a Bearer token, a browser session cookie,
// or (with -http-guest) nobody, seen as the read-only guest. Login checks the
// admin password (scrypt) behind the per-address throttle.
import { join } from 'node:path';
import { AtomicFile } from '../../state/atomic-file.ts';
import type { StateHealth } from '../../state/state-health.ts';
import type { Counters } from '../../obs/counters.ts';
import type { Logger } from '../../obs/log.ts';
import type { Limits } from '../../config/limits.ts';
import { HttpError } from '../http-error.ts';
import type { ApiRequest } from '../http-server.ts';
import { PasswordFile } from './password.ts';
import { TokenStore } from './tokens.ts';
import { clearedSessionCookie, readCookie, SESSION_COOKIE, sessionCookie, SessionTable } from './sessions.ts';
import { LoginThrottle } from './throttle.ts';
import type { Principal } from './roles.ts';

/** Where the password hash and the token hashes live, under the agent's data dir. */
export function authFiles(dataDir: string, health: StateHealth | null = null): { password: AtomicFile; tokens: AtomicFile } {
  return { password: new AtomicFile(join(dataDir, 'api', 'admin.passwd'), health), tokens: new AtomicFile(join(dataDir, 'api', 'tokens.json'), health) };
}

export interface AuthOptions {
  dataDir: string;
  /** The daemon's storage health (a full or read-only disk is retried, not thrown). */
  stateHealth?: StateHealth | null;
  limits: Pick<Limits, 'httpSessions' | 'httpSessionIdleMs' | 'loginThrottleEntries' | 'loginFreeFailures' | 'loginDelayBaseMs' | 'loginDelayMaxMs' | 'loginFailureMemoryMs' | 'apiTokens'>;
  /** -http-guest: unauthenticated requests get the guest role instead of 401. */
  guest: boolean;
  counters: Counters;
  logger: Logger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class Authenticator {
  readonly passwords: PasswordFile;
  readonly tokens: TokenStore;
  readonly sessions: SessionTable;
  readonly throttle: LoginThrottle;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: AuthOptions) {
    const files = authFiles(opts.dataDir, opts.stateHealth ?? null);
    const now = opts.now ?? Date.now;
    this.passwords = new PasswordFile(files.password);
    this.tokens = new TokenStore(files.tokens, opts.limits.apiTokens);
    this.sessions = new SessionTable({ maxSessions: opts.limits.httpSessions, idleMs: opts.limits.httpSessionIdleMs }, now);
    const l = opts.limits;
    this.throttle = new LoginThrottle({
      maxEntries: l.loginThrottleEntries, freeFailures: l.loginFreeFailures, delayBaseMs: l.loginDelayBaseMs, delayMaxMs: l.loginDelayMaxMs, failureMemoryMs: l.loginFailureMemoryMs,
    }, now);
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get guestEnabled(): boolean {
    return this.opts.guest;
  }

  /** Who sent this request (null: nobody, and no guest view). A bad Bearer token is a 401, never a guest. */
  async principal(req: ApiRequest): Promise<Principal | null> {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      const t = m ? await this.tokens.verify(m[1]!) : null;
      if (!t) {
        this.opts.counters.inc('api.bad_token');
        throw new HttpError(401, 'E_AUTH', 'invalid API token', { 'www-authenticate': 'Bearer' });
      }
      return { role: t.role, via: 'token', name: t.name };
    }
    const id = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (id !== undefined) {
      const s = this.sessions.touch(id);
      if (s) return { role: 'admin', via: 'session', name: 'admin', csrf: s.csrf };
    }
    return this.opts.guest ? { role: 'guest', via: 'guest', name: 'guest' } : null;
  }

  /** Checks the password (throttled per address); on success a new session and its Set-Cookie header. */
  async login(req: ApiRequest, password: string): Promise<{ csrf: string; setCookie: string }> {
    if (!(await this.passwords.isSet())) throw new HttpError(503, 'E_NO_PASSWORD', 'no admin password is set: run `cloudy-agent passwd` on this node');
    const verdict = this.throttle.check(req.remote);
    if ('refuseForS' in verdict) {
      this.opts.counters.inc('api.login_refused');
      throw new HttpError(429, 'E_RATE', `too many failed logins from ${req.remote}; try again in ${verdict.refuseForS} s`, { 'retry-after': String(verdict.refuseForS) });
    }
    if (verdict.delayMs > 0) await this.sleep(verdict.delayMs);
    if (!(await this.passwords.verify(password))) {
      const n = this.throttle.failed(req.remote);
      this.opts.counters.inc('api.login_failures');
      this.opts.logger.warn(`failed login from ${req.remote} (${n} in a row)`);
      throw new HttpError(401, 'E_AUTH', 'wrong password');
    }
    this.throttle.succeeded(req.remote);
    this.opts.counters.inc('api.logins');
    const s = this.sessions.create();
    return { csrf: s.csrf, setCookie: sessionCookie(s.id, Math.ceil(this.opts.limits.httpSessionIdleMs / 1000)) };
  }

  logout(req: ApiRequest): string {
    const id = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (id !== undefined) this.sessions.destroy(id);
    return clearedSessionCookie();
  }
}
