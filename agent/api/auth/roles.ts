// Who may do what through the HTTP API. guest: the public read-only view of
// the federation (-http-guest: members, services, plots); viewer: also this
// node's state; admin: every action. A command of agent/commands/ declares
// viewer or admin; routes declare the least role they need.
export type Role = 'guest' | 'viewer' | 'admin';

const RANK: Record<Role, number> = { guest: 0, viewer: 1, admin: 2 };

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

/** How the request authenticated: a browser session (needs CSRF on writes), a Bearer token, or nobody (guest view). */
export interface Principal {
  role: Role;
  via: 'session' | 'token' | 'guest';
  /** Token name, or 'admin' for a session. */
  name: string;
  /** The session's CSRF token (sessions only). */
  csrf?: string;
}
