// An edge node's management proxy (`-http ADDR` in edge mode): an edge node
// serves no GUI of its own; every HTTP request it receives is forwarded,
// streamed, to the nearest alive full node, and `/` opens that full node's
// page for this edge node (`/?node=NAME#/node/NAME`). Full nodes announce
// themselves with the tags `mode=full` and `http=PORT` (announceFullNode).
// Nearest = lowest Vivaldi RTT estimate from our coordinate; on a failure to
// connect the next one is tried (the request body is only read once a full
// node accepted the connection, so nothing needs buffering), and a node that
// failed is skipped for a cool-down. With none reachable the edge answers with
// one small page: node name, addresses, members alive, its services, and "no
// full node reachable". The page is built from escaped text only.
//
// Bounds (agent/config/limits.ts): requests in flight (more get 503 at once),
// body bytes (413; by Content-Length before reading, else when the stream
// overflows), time per request end to end (headers, body, answer), plus
// node:http's own header size limit and request timeout for clients that never
// finish their request.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import type { AddressInfo } from 'node:net';
import type { Coordinate, Member, Serf } from '../gossip/serf/types.ts';
import { distance } from '../gossip/coordinate/vivaldi.ts';
import type { Limits } from '../config/limits.ts';
import type { Counters } from '../obs/counters.ts';
import type { Logger } from '../obs/log.ts';
import { errorMessage } from '../errors.ts';

// node:http when the proxy starts, not at start-up (system/lazy-builtin.ts).
const http = lazyBuiltin('node:http');

/** Tags a full node announces (part of the cluster's conventions). */
export const FULL_MODE_TAG = 'mode';
export const FULL_MODE_VALUE = 'full';
export const HTTP_PORT_TAG = 'http';
/** How long a full node that refused a connection is skipped. */
const COOL_DOWN_MS = 15_000;

/** A full node's tags: mode=full and the port its GUI listens on. */
export async function announceFullNode(serf: Pick<Serf, 'localMember' | 'setTags'>, httpPort: number): Promise<void> {
  await serf.setTags({ ...serf.localMember().tags, [FULL_MODE_TAG]: FULL_MODE_VALUE, [HTTP_PORT_TAG]: String(httpPort) });
}

export function edgePagePath(node: string): string {
  return `/?node=${encodeURIComponent(node)}#/node/${encodeURIComponent(node)}`;
}

export interface ProxyDeps {
  serf: Pick<Serf, 'members' | 'localMember' | 'getCoordinate'>;
  limits: Pick<Limits, 'proxyConcurrent' | 'proxyMaxBodyBytes' | 'proxyTimeoutMs'>;
  logger: Logger;
  counters: Counters;
  /** This node's services for the fallback page (type, port, description). */
  services?: () => Promise<{ type: string; port: number; description: string }[]>;
  /** This node's addresses for the fallback page (default: its gossip address). */
  addresses?: () => string[];
  /** Problems this node wants its owner to see first on the fallback page (e.g. a malformed first-boot seed). */
  notices?: () => string[];
  now?: () => number;
}

export interface Upstream { name: string; host: string; port: number; rtt: number }

export class ManagementProxy {
  private server: Server | null = null;
  private inFlight = 0;
  private readonly failedUntil = new Map<string, number>();

  constructor(private readonly d: ProxyDeps) {}

  /** Alive full nodes announcing a GUI port, nearest first (unknown RTT last), cooling-down ones after the rest. */
  candidates(): Upstream[] {
    const self = this.d.serf.localMember().name;
    const mine = this.d.serf.getCoordinate();
    const now = (this.d.now ?? Date.now)();
    const out: (Upstream & { cool: boolean })[] = [];
    for (const m of this.d.serf.members()) {
      if (m.name === self || m.status !== 'alive' || m.tags[FULL_MODE_TAG] !== FULL_MODE_VALUE) continue;
      const port = Number(m.tags[HTTP_PORT_TAG]);
      if (!Number.isInteger(port) || port <= 0 || port > 65535) continue;
      out.push({ name: m.name, host: m.addr, port, rtt: rttTo(mine, this.d.serf.getCoordinate(m.name)), cool: (this.failedUntil.get(m.name) ?? 0) > now });
    }
    out.sort((a, b) => Number(a.cool) - Number(b.cool) || a.rtt - b.rtt || a.name.localeCompare(b.name));
    return out.map(({ cool: _c, ...u }) => u);
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = http().createServer({ maxHeaderSize: 16 * 1024, requestTimeout: this.d.limits.proxyTimeoutMs, headersTimeout: Math.min(this.d.limits.proxyTimeoutMs, 10_000), keepAliveTimeout: 5_000 },
      (req, res) => this.handle(req, res));
    server.maxConnections = this.d.limits.proxyConcurrent * 4;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const c = this.d.counters;
    c.inc('proxy.requests');
    if (this.inFlight >= this.d.limits.proxyConcurrent) {
      c.inc('proxy.refused_busy');
      this.plain(res, 503, 'busy: too many requests in flight\n', true);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.d.limits.proxyMaxBodyBytes) {
      c.inc('proxy.refused_too_large');
      this.plain(res, 413, `request body over ${this.d.limits.proxyMaxBodyBytes} bytes\n`, true);
      return;
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && (req.url === '/' || req.url === '')) {
      res.writeHead(302, { location: edgePagePath(this.d.serf.localMember().name), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    this.inFlight++;
    let finished = false;
    const done = (): void => { if (!finished) { finished = true; this.inFlight--; clearTimeout(timer); } };
    const timer = setTimeout(() => {
      c.inc('proxy.timeouts');
      if (!res.headersSent) this.plain(res, 504, 'the full node did not answer in time\n', true);
      req.destroy(); res.destroy(); done();
    }, this.d.limits.proxyTimeoutMs);
    res.once('close', done);
    this.forward(req, res, this.candidates(), 0);
  }

  private forward(req: IncomingMessage, res: ServerResponse, ups: Upstream[], i: number): void {
    if (res.destroyed) return;
    const up = ups[i];
    if (!up) {
      this.fallback(req, res).catch((e) => { this.d.logger.warn(`fallback page: ${errorMessage(e)}`); res.destroy(); });
      return;
    }
    const self = this.d.serf.localMember();
    const headers = { ...req.headers };
    delete headers.connection;
    headers.host = `${up.host.includes(':') ? `[${up.host}]` : up.host}:${up.port}`;
    headers['x-forwarded-for'] = [headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    headers['x-cloudy-edge'] = self.name;
    let connected = false;
    const upReq = http().request({ host: up.host, port: up.port, method: req.method, path: req.url, headers, agent: false, timeout: this.d.limits.proxyTimeoutMs });
    upReq.once('socket', (s) => {
      const go = (): void => {
        connected = true;
        this.failedUntil.delete(up.name);
        let seen = 0;
        req.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > this.d.limits.proxyMaxBodyBytes) {
            this.d.counters.inc('proxy.refused_too_large');
            upReq.destroy();
            if (!res.headersSent) this.plain(res, 413, `request body over ${this.d.limits.proxyMaxBodyBytes} bytes\n`, true);
            req.destroy();
            return;
          }
          if (!upReq.write(chunk)) { req.pause(); upReq.once('drain', () => req.resume()); }
        });
        req.once('end', () => upReq.end());
      };
      if (s.connecting) s.once('connect', go); else go();
    });
    upReq.once('response', (upRes) => {
      this.d.counters.inc('proxy.forwarded');
      const h = { ...upRes.headers };
      delete h.connection;
      res.writeHead(upRes.statusCode ?? 502, h);
      upRes.pipe(res);
      upRes.once('error', () => res.destroy());
    });
    upReq.once('timeout', () => upReq.destroy(new Error('timeout')));
    upReq.once('error', (e) => {
      if (!connected) {
        this.d.counters.inc('proxy.upstream_failures');
        this.failedUntil.set(up.name, (this.d.now ?? Date.now)() + COOL_DOWN_MS);
        this.d.logger.debug(`full node ${up.name} (${up.host}:${up.port}) unreachable: ${errorMessage(e)}; trying the next`);
        this.forward(req, res, ups, i + 1);
        return;
      }
      if (!res.headersSent) this.plain(res, 502, `the full node ${up.name} failed: ${errorMessage(e)}\n`, true);
      else res.destroy();
    });
  }

  private async fallback(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.d.counters.inc('proxy.fallback_pages');
    req.resume(); // drain (bounded by the request timeout and the body check above)
    const self = this.d.serf.localMember();
    const alive = this.d.serf.members().filter((m: Member) => m.status === 'alive').length;
    const addrs = this.d.addresses?.() ?? [`${self.addr}:${self.port}`];
    const svcs = await this.d.services?.().catch(() => []) ?? [];
    const notices = this.d.notices?.() ?? [];
    if (res.destroyed) return;
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>${esc(self.name)}</title></head><body>
<h1>${esc(self.name)}</h1>
${notices.length ? `<div id="notices">${notices.map((n) => `<pre class="notice">${esc(n)}</pre>`).join('')}</div>\n` : ''}<p id="no-full-node"><strong>No full node reachable.</strong> This edge node serves no management pages of its own; they come from a full node of the community cloud.</p>
<h2>Addresses</h2><ul>${addrs.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>
<p>Members alive: <span id="members-alive">${alive}</span></p>
<h2>Services</h2><ul id="services">${svcs.map((s) => `<li>${esc(s.type)} ${s.port} ${esc(s.description)}</li>`).join('') || '<li>none</li>'}</ul>
</body></html>
`;
    res.writeHead(503, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'", 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : html);
  }

  private plain(res: ServerResponse, status: number, text: string, close: boolean): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...(close ? { connection: 'close' } : {}) });
    res.end(text);
  }
}

function rttTo(a: Coordinate | null, b: Coordinate | null): number {
  if (!a || !b || a.vec.length !== b.vec.length) return Number.POSITIVE_INFINITY;
  return distance(a, b);
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** The proxy as a daemon plug-in (edge mode with -http ADDR); `notices`: shown on its fallback page. */
export function proxyPlugin(addr: { host: string; port: number }, notices: () => string[] = () => []): import('../plugin.ts').DaemonPlugin {
  return {
    name: 'proxy',
    async start(ctx) {
      const log = ctx.logger.child('proxy');
      const proxy = new ManagementProxy({
        serf: ctx.serf, limits: ctx.limits, logger: log, counters: ctx.counters, notices,
        services: async () => {
          const r = await ctx.registry.invoke('services', {}, { origin: 'http', role: 'viewer' }) as { Services?: { Type: string; Port: number; Description: string; Withdrawn: boolean }[] };
          return (r.Services ?? []).filter((x) => !x.Withdrawn).map((x) => ({ type: x.Type, port: x.Port, description: x.Description }));
        },
      });
      const bound = await proxy.listen(addr.host, addr.port);
      log.info(`management proxy on ${bound.address}:${bound.port}: forwards to the nearest full node`);
      return { stop: () => proxy.close(), stats: () => ({ listen: `${bound.address}:${bound.port}`, full_nodes: String(proxy.candidates().length) }) };
    },
  };
}
