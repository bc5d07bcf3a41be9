// The JSON API's route table: method + path pattern (`:name` segments) + the
// least role the route needs. It authenticates the request, checks the role
// and, for a browser session, the CSRF token of any state-changing method;
// then runs the route and turns its value into JSON (or passes an ApiReply
// through). A path that exists with another method is a 405 with Allow.
// `routes()` lists the table (docs/API.md is tested against it).
import { AgentError } from '../errors.ts';
import type { Authenticator } from './auth/index.ts';
import { roleAllows, type Principal, type Role } from './auth/roles.ts';
import { csrfMatches } from './auth/sessions.ts';
import { HttpError } from './http-error.ts';
import { jsonReply, type ApiReply, type ApiRequest, type RouteHandler } from './http-server.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteContext {
  req: ApiRequest;
  params: Record<string, string>;
  /** null only on 'public' routes without credentials. */
  principal: Principal | null;
  /** The parsed JSON body ({} when empty); a body that is not a JSON object is a 400. */
  json(): Record<string, unknown>;
}

interface RouteBase {
  method: Method;
  /** e.g. /api/v1/members/:name */
  path: string;
  handle(ctx: RouteContext): Promise<unknown> | unknown;
}

/**
 * A route's least role: its own (`role`; 'public': anybody, e.g. login) for
 * routes that are not a registry command, or the role the command registry
 * declares for the command it runs (`command`): one role table for RPC, the
 * API and remote control.
 */
export type Route = RouteBase & ({ role: Role | 'public'; command?: undefined } | { command: string; role?: undefined });

const STATE_CHANGING = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

function compile(path: string): { re: RegExp; names: string[] } {
  const names: string[] = [];
  const re = path.split('/').map((seg) => {
    if (seg.startsWith(':')) { names.push(seg.slice(1)); return '([^/]+)'; }
    return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }).join('/');
  return { re: new RegExp(`^${re}$`), names };
}

export class ApiRouter {
  private readonly table: (Route & { re: RegExp; names: string[] })[] = [];

  /** `roleOf`: the command registry's role of a command (registry.roleOf). */
  constructor(private readonly auth: Authenticator, private readonly roleOf: (command: string) => Role | undefined, private readonly prefix = '/api/') {}

  add(...routes: Route[]): this {
    for (const r of routes) this.table.push({ ...r, ...compile(r.path) });
    return this;
  }

  /** Asked at each request: a command registered after the router was built still counts. */
  private roleFor(r: Route): Role | 'public' {
    if (r.command === undefined) return r.role;
    // A command nobody registered: admin, the safe default (the registry then answers E_NOT_FOUND).
    return this.roleOf(r.command) ?? 'admin';
  }

  routes(): { method: Method; path: string; role: Role | 'public'; command?: string }[] {
    return this.table.map((r) => ({ method: r.method, path: r.path, role: this.roleFor(r), ...(r.command !== undefined ? { command: r.command } : {}) }));
  }

  /** The pipeline stage (http-server.ts RouteHandler): answers every path under the prefix. */
  readonly handler: RouteHandler = async (req) => {
    if (!req.path.startsWith(this.prefix)) return null;
    const allowed: string[] = [];
    for (const r of this.table) {
      const m = r.re.exec(req.path);
      if (!m) continue;
      if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) { allowed.push(r.method); continue; }
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        try { params[n] = decodeURIComponent(m[i + 1]!); } catch { throw new HttpError(400, 'E_INVALID', `bad percent-encoding in ${n}`, {}, n); }
      });
      return this.run(r, req, params);
    }
    if (allowed.length) throw new HttpError(405, 'E_METHOD', `${req.method} not allowed on ${req.path}`, { allow: [...new Set(allowed)].join(', ') });
    throw new HttpError(404, 'E_NOT_FOUND', `no such API route: ${req.path}`);
  };

  private async run(r: Route, req: ApiRequest, params: Record<string, string>): Promise<ApiReply> {
    const principal = await this.auth.principal(req);
    const role = this.roleFor(r);
    if (role !== 'public') {
      if (!principal) throw new HttpError(401, 'E_AUTH', 'log in or send an API token (Authorization: Bearer ...)');
      if (!roleAllows(principal.role, role)) throw new HttpError(principal.via === 'guest' ? 401 : 403, principal.via === 'guest' ? 'E_AUTH' : 'E_FORBIDDEN', `${r.method} ${r.path} needs the ${role} role (you are ${principal.role})`);
    }
    if (principal?.via === 'session' && STATE_CHANGING.has(req.method) && !csrfMatches(principal.csrf!, header(req, 'x-csrf-token'))) {
      throw new HttpError(403, 'E_CSRF', 'missing or wrong X-CSRF-Token header');
    }
    let parsed: Record<string, unknown> | undefined;
    const ctx: RouteContext = {
      req, params, principal,
      json() {
        if (parsed) return parsed;
        if (req.body.length === 0) return (parsed = {});
        let v: unknown;
        try { v = JSON.parse(req.body.toString('utf8')); } catch { throw new HttpError(400, 'E_INVALID', 'body is not JSON', {}, 'body'); }
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'E_INVALID', 'body must be a JSON object', {}, 'body');
        return (parsed = v as Record<string, unknown>);
      },
    };
    const out = await r.handle(ctx);
    if (isReply(out)) return out;
    return jsonReply(r.method === 'POST' && out === undefined ? 204 : 200, out ?? {});
  }
}

function header(req: ApiRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const REPLY = Symbol('reply');
/** A route returning this passes status/headers/body through as is (CSV export, Set-Cookie). */
export function reply(r: ApiReply): ApiReply {
  return Object.assign(r, { [REPLY]: true });
}
function isReply(v: unknown): v is ApiReply {
  return typeof v === 'object' && v !== null && REPLY in v;
}

/** Query/body helpers that name the field in a 400. */
export function badField(field: string, message: string): never {
  throw new AgentError('E_INVALID', `${field}: ${message}`, { field });
}

export function optString(v: unknown, field: string, max = 256): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') badField(field, 'must be a string');
  if (v.length > max) badField(field, `at most ${max} characters`);
  return v;
}

export function optRegExp(v: string | null, field: string): RegExp | undefined {
  if (v === null || v === '') return undefined;
  if (v.length > 256) badField(field, 'at most 256 characters');
  try { return new RegExp(v); } catch (e) { badField(field, `not a regular expression: ${(e as Error).message}`); }
}
