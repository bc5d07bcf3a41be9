// Login, logout and "who am I" for the GUI. GET tells the GUI what to show:
// the how-to-set-a-password page (no password yet), the login form, or the
// app (with the CSRF token it must send on writes).
import type { Authenticator } from '../auth/index.ts';
import { optString, reply, type Route } from '../router.ts';
import { HttpError } from '../http-error.ts';
import { jsonReply } from '../http-server.ts';

export function sessionRoutes(auth: Authenticator, node: () => { name: string; mode: string }): Route[] {
  return [
    {
      method: 'GET', path: '/api/v1/session', role: 'public',
      async handle({ principal }) {
        return {
          node: node(),
          password_set: await auth.passwords.isSet(),
          guest_view: auth.guestEnabled,
          authenticated: principal !== null && principal.via !== 'guest',
          role: principal?.role ?? null,
          via: principal?.via ?? null,
          ...(principal?.csrf ? { csrf: principal.csrf } : {}),
        };
      },
    },
    {
      method: 'POST', path: '/api/v1/session', role: 'public',
      async handle({ req, json }) {
        const pw = optString(json().password, 'password', 1024);
        if (pw === undefined) throw new HttpError(400, 'E_INVALID', 'password: required', {}, 'password');
        const s = await auth.login(req, pw);
        return reply(jsonReply(200, { authenticated: true, role: 'admin', csrf: s.csrf }, { 'set-cookie': s.setCookie }));
      },
    },
    {
      method: 'DELETE', path: '/api/v1/session', role: 'public',
      handle({ req }) {
        return reply(jsonReply(200, { authenticated: false }, { 'set-cookie': auth.logout(req) }));
      },
    },
  ];
}
