// The one HTTP exchange guifi.net's API and CNML need: a GET with query
// variables and headers, through tiny-json-http (the project's HTTP client),
// bounded in time and size. The body is taken raw: guifi.net's Drupal may
// label its JSON text/html, so the client decides how to read it.
import type { TinyError } from 'tiny-json-http';
import { AgentError, errorMessage } from '../errors.ts';

export interface HttpReply {
  status: number;
  contentType: string;
  body: Buffer;
}

export interface HttpGetOptions {
  query?: Record<string, string>;
  headers?: Record<string, string>;
  timeoutMs: number;
  maxBytes: number;
  signal?: AbortSignal;
}

export type HttpGet = (url: string, o: HttpGetOptions) => Promise<HttpReply>;

/** tiny-json-http GET with a deadline and an abort signal (tiny-json-http itself cannot abort). */
export const tinyHttpGet: HttpGet = async (url, o) => {
  if (o.signal?.aborted) throw new AgentError('E_STATE', 'request cancelled');
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_res, rej) => {
    timer = setTimeout(() => rej(new AgentError('E_TIMEOUT', `no complete reply from ${origin(url)} in ${o.timeoutMs} ms`)), o.timeoutMs);
    onAbort = () => rej(new AgentError('E_STATE', 'request cancelled'));
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
  // Loaded on the first request (it pulls in node:https and tls), not at start.
  const tiny = (await import('tiny-json-http')).default;
  const req = tiny.get({
    url,
    ...(o.query && Object.keys(o.query).length ? { data: o.query } : {}),
    headers: { accept: 'application/json, text/xml;q=0.9, */*;q=0.5', ...o.headers },
    buffer: true,
    timeout: o.timeoutMs,
  }).then(
    (r): HttpReply => ({ status: 200, contentType: headerOf(r.headers['content-type']), body: r.body }),
    (e: TinyError): HttpReply => {
      if (typeof e.statusCode === 'number') {
        return { status: e.statusCode, contentType: '', body: Buffer.from(typeof e.body === 'string' ? e.body : '') };
      }
      throw new AgentError('E_UNAVAILABLE', `cannot reach ${origin(url)}: ${errorMessage(e)}`);
    },
  );
  req.catch(() => {}); // a late failure after the deadline is not unhandled
  try {
    const r = await Promise.race([req, stop]);
    if (r.body.length > o.maxBytes) throw new AgentError('E_TOO_LARGE', `reply from ${origin(url)} is ${r.body.length} bytes (limit ${o.maxBytes})`);
    return r;
  } finally {
    clearTimeout(timer);
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
  }
};

function headerOf(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

function origin(url: string): string {
  try { return new URL(url).origin; } catch { return url; }
}
