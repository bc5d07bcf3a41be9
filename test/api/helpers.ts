// Test helpers for the HTTP API: a small node:http client (it can bind a
// source address, so the login throttle sees another client), and a cookie jar.
import { request } from 'node:http';

export interface HttpResult { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }

export interface CallOptions {
  body?: unknown;
  /** Raw body bytes/text (sent as is). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
  /** Source address (127.0.0.x). */
  local?: string;
}

export function call(port: number, method: string, path: string, o: CallOptions = {}): Promise<HttpResult> {
  const body = o.raw !== undefined ? o.raw : o.body !== undefined ? JSON.stringify(o.body) : undefined;
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method, path, agent: false, ...(o.local ? { localAddress: o.local } : {}),
      headers: { ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}), ...o.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A logged-in browser: the session cookie and its CSRF token. */
export class Browser {
  cookie = '';
  csrf = '';
  constructor(readonly port: number, readonly local?: string) {}

  async login(password: string): Promise<HttpResult> {
    const r = await call(this.port, 'POST', '/api/v1/session', { body: { password }, ...(this.local ? { local: this.local } : {}) });
    const sc = r.headers['set-cookie'];
    if (r.status === 200 && sc) { this.cookie = String(Array.isArray(sc) ? sc[0] : sc).split(';')[0]!; this.csrf = r.json.csrf; }
    return r;
  }

  req(method: string, path: string, o: CallOptions & { noCsrf?: boolean } = {}): Promise<HttpResult> {
    const headers: Record<string, string> = { cookie: this.cookie, ...o.headers };
    if (method !== 'GET' && !o.noCsrf && headers['x-csrf-token'] === undefined) headers['x-csrf-token'] = this.csrf;
    return call(this.port, method, path, { ...o, headers });
  }
}

export { waitFor } from '../support/wait.ts';
