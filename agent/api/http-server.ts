// The agent's one HTTP server (API and GUI), on node:http alone: a hono
// router on @hono/node-server costs ~12 MB more RSS idle for the same two
// routes (bench/api/server-stack.ts), which an Atom board or a gateway feels.
//
// The request pipeline is a seam: the server takes a list of handlers and asks
// each in turn; the first that returns a reply answers, a handler that returns
// null passes. The full node composes [api router, GUI assets]; an edge node
// (agent/api/proxy.ts) can compose [proxy] or [proxy, ...] the same way.
//
// Every resource is bounded by agent/config/limits.ts: body bytes (413 before
// the body is read when Content-Length says so, else as soon as it overflows),
// requests in flight (429, never queued), open connections, time to receive a
// request, keep-alive time.
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import type { AddressInfo } from 'node:net';
import type { Limits } from '../config/limits.ts';
import type { Counters } from '../obs/counters.ts';
import type { Logger } from '../obs/log.ts';
import { errorBody, HttpError, toHttpError } from './http-error.ts';

// node:http when a server is made, not at start (system/lazy-builtin.ts).
const http = lazyBuiltin('node:http');

export interface ApiRequest {
  method: string;
  /** Path without the query string, percent-decoding left to the router. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Peer IP address (the login throttle counts per address). */
  remote: string;
  /** Whole request body (bounded by limits.httpMaxBodyBytes); empty for GET/HEAD. */
  body: Buffer;
  /** The underlying request, for handlers that need more (a proxy). */
  raw: IncomingMessage;
}

export interface ApiReply {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Uint8Array;
}

/** One stage of the pipeline: a reply, or null to let the next handler try. */
export type RouteHandler = (req: ApiRequest) => Promise<ApiReply | null> | ApiReply | null;

export type HttpLimits = Pick<Limits, 'httpMaxBodyBytes' | 'httpMaxConcurrent' | 'httpMaxConnections' | 'httpRequestTimeoutMs' | 'httpKeepAliveMs'>;

export interface HttpServerOptions {
  handlers: RouteHandler[];
  limits: HttpLimits;
  logger: Logger;
  counters: Counters;
}

export function jsonReply(status: number, value: unknown, headers: Record<string, string | string[]> = {}): ApiReply {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(value) };
}

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export class HttpServer {
  private readonly server: Server;
  private inFlight = 0;

  constructor(private readonly opts: HttpServerOptions) {
    const l = opts.limits;
    this.server = http().createServer({ requestTimeout: l.httpRequestTimeoutMs, headersTimeout: Math.min(l.httpRequestTimeoutMs, 20_000), keepAliveTimeout: l.httpKeepAliveMs }, (req, res) => {
      void this.handle(req, res);
    });
    this.server.maxConnections = l.httpMaxConnections;
    this.server.maxHeadersCount = 64;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve(); });
    });
    return this.server.address() as AddressInfo;
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const c = this.opts.counters;
    c.inc('api.requests');
    if (this.inFlight >= this.opts.limits.httpMaxConcurrent) {
      c.inc('drop.api_concurrency');
      req.resume();
      this.send(res, req.method, this.errorReply(new HttpError(429, 'E_RATE', 'too many requests at once', { 'retry-after': '1' })));
      return;
    }
    this.inFlight++;
    try {
      const url = new URL(req.url ?? '/', 'http://agent');
      const body = await this.readBody(req);
      const ar: ApiRequest = {
        method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers,
        remote: req.socket.remoteAddress ?? '', body, raw: req,
      };
      let reply: ApiReply | null = null;
      for (const h of this.opts.handlers) {
        reply = await h(ar);
        if (reply) break;
      }
      this.send(res, req.method, reply ?? this.errorReply(new HttpError(404, 'E_NOT_FOUND', `no such resource: ${url.pathname}`)));
    } catch (e) {
      const he = toHttpError(e);
      if (he.status >= 500) this.opts.logger.warn(`${req.method} ${req.url}: ${he.message}`);
      if (he.status === 413) req.resume();
      this.send(res, req.method, this.errorReply(he));
    } finally {
      this.inFlight--;
    }
  }

  private errorReply(e: HttpError): ApiReply {
    this.opts.counters.inc(`api.status_${e.status}`);
    return jsonReply(e.status, JSON.parse(errorBody(e)), e.headers);
  }

  private readBody(req: IncomingMessage): Promise<Buffer> {
    const max = this.opts.limits.httpMaxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return Promise.reject(new HttpError(413, 'E_TOO_LARGE', `request body over ${max} bytes`));
    if (req.method === 'GET' || req.method === 'HEAD') { req.resume(); return Promise.resolve(Buffer.alloc(0)); }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      let failed = false;
      req.on('data', (d: Buffer) => {
        if (failed) return;
        n += d.length;
        if (n > max) { failed = true; chunks.length = 0; reject(new HttpError(413, 'E_TOO_LARGE', `request body over ${max} bytes`)); return; }
        chunks.push(d);
      });
      req.on('end', () => { if (!failed) resolve(Buffer.concat(chunks)); });
      req.on('error', (e) => { if (!failed) { failed = true; reject(e); } });
    });
  }

  private send(res: ServerResponse, method: string | undefined, r: ApiReply): void {
    if (res.headersSent) return;
    const body = r.body === undefined ? '' : r.body;
    const headers: Record<string, string | string[]> = { ...SECURITY_HEADERS, ...r.headers };
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    res.writeHead(r.status, headers);
    res.end(method === 'HEAD' ? undefined : body);
  }
}
