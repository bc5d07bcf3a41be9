// Real-socket transport: node:dgram + node:net bound to the SAME address and
// port (memberlist's NetTransport). IPv4 or IPv6 by the bind address (stock
// serf cannot bind IPv6; we can). Port 0 picks a free port usable by both.
//
// Bounds: at most `maxTcpStreams` concurrent streams (inbound beyond it are
// closed at once and counted), UDP datagrams up to 65536 bytes.

import { monotonicNow } from '../clock.ts';
import dgram from 'node:dgram';
import net from 'node:net';
import { AgentError, errorMessage } from '../../errors.ts';
import type { Counters } from '../../obs/counters.ts';
import type { Logger } from '../../obs/log.ts';
import type { Addr, PacketHandler, Stream, StreamHandler, Transport } from './types.ts';
import { ChunkQueue } from './stream-queue.ts';
import { isWildcard, pickAdvertiseAddr } from './advertise.ts';
import { lookup } from 'node:dns/promises';

/** memberlist udpRecvBufSize: the largest datagram we read. */
export const UDP_RECV_BUFFER = 65_536;
/** Kernel socket buffer we ask for (memberlist asks 2 MiB, falls back silently). */
const UDP_SOCKET_BUFFER = 2 * 1024 * 1024;

export interface NetTransportOptions {
  bindAddr: string;
  bindPort: number;
  maxTcpStreams: number;
  counters: Counters;
  logger: Logger;
}

class NetStream implements Stream {
  readonly remote: Addr;
  private readonly q: ChunkQueue;
  private closed = false;

  constructor(private readonly sock: net.Socket, private readonly onGone: () => void) {
    this.remote = { addr: normalizeIp(sock.remoteAddress ?? ''), port: sock.remotePort ?? 0 };
    this.q = new ChunkQueue(() => sock.resume(), () => this.destroy());
    sock.on('data', (d: Buffer) => {
      this.q.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      if (this.q.pending > 0) sock.pause();
    });
    sock.on('end', () => this.q.end());
    sock.on('error', (e) => this.q.fail(new AgentError('E_IO', errorMessage(e))));
    sock.on('close', () => { this.q.end(); this.gone(); });
  }

  read(): Promise<Uint8Array | null> { return this.q.read(); }

  write(buf: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new AgentError('E_IO', 'stream closed'));
    return new Promise((resolve, reject) => {
      this.sock.write(buf, (err) => (err ? reject(new AgentError('E_IO', errorMessage(err))) : resolve()));
    });
  }

  setDeadline(atMs: number): void { this.q.setDeadline(atMs); }

  excludeReaderTime(): void { this.q.excludeReaderTime(); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.q.clearDeadline();
    this.sock.end();
    // A peer that never closes its side must not hold the slot forever.
    setTimeout(() => this.sock.destroy(), 5000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.q.clearDeadline();
    this.q.fail(new AgentError('E_IO', 'stream destroyed'));
    this.sock.destroy();
    this.gone();
  }

  private goneCalled = false;
  private gone(): void {
    if (this.goneCalled) return;
    this.goneCalled = true;
    this.q.clearDeadline();
    this.onGone();
  }
}

/** "::ffff:1.2.3.4" → "1.2.3.4"; IPv6 zone ids are kept. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export class NetTransport implements Transport {
  private udp: dgram.Socket | null = null;
  private tcp: net.Server | null = null;
  private port = 0;
  private activeStreams = 0;
  private pendingDials = 0;
  private onPacket: PacketHandler = () => {};
  private onStream: StreamHandler = (s) => s.destroy();
  private readonly sockets = new Set<net.Socket>();
  private stopped = false;

  private constructor(private readonly opts: NetTransportOptions) {}

  /** Binds TCP and UDP on the same port. */
  static async start(opts: NetTransportOptions): Promise<NetTransport> {
    const t = new NetTransport(opts);
    await t.bind();
    return t;
  }

  private async bind(): Promise<void> {
    const { bindAddr, bindPort } = this.opts;
    // (A colon first: Node's IPv6 pattern is costly to compile at start.)
    const family = bindAddr.includes(':') && net.isIPv6(bindAddr) ? 'udp6' : 'udp4';
    let lastErr: unknown = null;
    // With port 0 the TCP port the kernel picks may be taken for UDP: retry a few times.
    for (let attempt = 0; attempt < (bindPort === 0 ? 10 : 1); attempt++) {
      const server = net.createServer({ pauseOnConnect: false }, (s) => this.accept(s));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: bindAddr, port: bindPort, ipv6Only: family === 'udp6' }, () => { server.off('error', reject); resolve(); });
        });
      } catch (e) { lastErr = e; server.close(); continue; }
      const port = (server.address() as net.AddressInfo).port;
      const udp = dgram.createSocket({ type: family, reuseAddr: false, ipv6Only: family === 'udp6' });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ address: bindAddr, port, exclusive: true }, () => { udp.off('error', reject); resolve(); });
        });
      } catch (e) { lastErr = e; udp.close(); server.close(); continue; }
      try { udp.setRecvBufferSize(UDP_SOCKET_BUFFER); } catch { /* kernel limit: keep default */ }
      udp.on('message', (msg, rinfo) => {
        if (this.stopped) return;
        this.opts.counters.inc('transport.udp.in');
        try {
          this.onPacket(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { addr: normalizeIp(rinfo.address), port: rinfo.port }, monotonicNow());
        } catch (e) {
          // A handler bug must not take the receive loop (or the process) down.
          this.opts.counters.inc('error.packet-handler');
          this.opts.logger.error(`packet handler failed: ${errorMessage(e)}`);
        }
      });
      udp.on('error', (e) => { this.opts.counters.inc('transport.udp.error'); this.opts.logger.warn(`udp error: ${errorMessage(e)}`); });
      server.on('error', (e) => { this.opts.counters.inc('transport.tcp.error'); this.opts.logger.warn(`tcp listener error: ${errorMessage(e)}`); });
      this.udp = udp;
      this.tcp = server;
      this.port = port;
      return;
    }
    throw new AgentError('E_IO', `cannot bind ${bindAddr}:${bindPort}: ${errorMessage(lastErr)}`);
  }

  localAddr(): Addr { return { addr: this.opts.bindAddr, port: this.port }; }

  private advertised: string | null = null;
  advertiseAddr(): Addr {
    if (!isWildcard(this.opts.bindAddr)) return this.localAddr();
    this.advertised ??= pickAdvertiseAddr(this.opts.bindAddr);
    return { addr: this.advertised, port: this.port };
  }

  async resolve(host: string): Promise<string[]> {
    return (await lookup(host, { all: true })).map((r) => r.address);
  }

  setHandlers(onPacket: PacketHandler, onStream: StreamHandler): void {
    this.onPacket = onPacket;
    this.onStream = onStream;
  }

  sendPacket(to: Addr, buf: Uint8Array): void {
    if (!this.udp || this.stopped) return;
    if (!(to.port > 0 && to.port < 65536) || !net.isIP(to.addr)) {
      // Addresses come from the network: a bad one is counted, never thrown.
      this.opts.counters.inc('transport.udp.bad-destination');
      return;
    }
    this.opts.counters.inc('transport.udp.out');
    try {
      this.udp.send(buf, to.port, to.addr, (err) => {
        if (err) this.opts.counters.inc('transport.udp.send-error');
      });
    } catch {
      this.opts.counters.inc('transport.udp.send-error');
    }
  }

  private accept(sock: net.Socket): void {
    if (this.stopped || this.activeStreams >= this.opts.maxTcpStreams) {
      this.opts.counters.inc('drop.tcp.too-many-streams');
      sock.destroy();
      return;
    }
    this.opts.counters.inc('transport.tcp.accepted');
    try { this.onStream(this.track(sock)); } catch (e) {
      this.opts.counters.inc('error.stream-handler');
      this.opts.logger.error(`stream handler failed: ${errorMessage(e)}`);
      sock.destroy();
    }
  }

  private track(sock: net.Socket): NetStream {
    this.activeStreams++;
    this.sockets.add(sock);
    sock.setNoDelay(true);
    return new NetStream(sock, () => { this.activeStreams--; this.sockets.delete(sock); });
  }

  dial(to: Addr, timeoutMs: number): Promise<Stream> {
    if (this.stopped) return Promise.reject(new AgentError('E_STATE', 'transport stopped'));
    if (!(to.port > 0 && to.port < 65536)) return Promise.reject(new AgentError('E_INVALID', `bad port ${to.port}`));
    if (this.activeStreams + this.pendingDials >= this.opts.maxTcpStreams) {
      this.opts.counters.inc('drop.tcp.too-many-streams');
      return Promise.reject(new AgentError('E_LIMIT', 'too many concurrent gossip streams'));
    }
    this.pendingDials++;
    return new Promise<Stream>((resolve, reject) => {
      const sock = net.connect({ host: to.addr, port: to.port });
      const timer = setTimeout(() => { sock.destroy(); reject(new AgentError('E_TIMEOUT', `dial ${to.addr}:${to.port} timed out`)); }, timeoutMs);
      sock.once('error', (e) => { clearTimeout(timer); reject(new AgentError('E_IO', `dial ${to.addr}:${to.port}: ${errorMessage(e)}`)); });
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        if (this.stopped) { sock.destroy(); reject(new AgentError('E_STATE', 'transport stopped')); return; }
        resolve(this.track(sock));
      });
    }).finally(() => { this.pendingDials--; });
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
      new Promise<void>((r) => { try { this.udp ? this.udp.close(() => r()) : r(); } catch { r(); } }),
    ]);
  }
}
