// In-process network for multi-node tests: many memberlist nodes in one
// process, each with its own MemoryTransport registered on a shared
// MemoryNetwork under "addr:port". Knobs: packet loss, latency, and
// partitions (blocked address pairs) for both datagrams and streams.

import { monotonicNow } from '../clock.ts';
import { AgentError } from '../../errors.ts';
import type { Addr, PacketHandler, Stream, StreamHandler, Transport } from './types.ts';
import { formatHostPort } from '../../config/address.ts';
import { ChunkQueue } from './stream-queue.ts';

/** The network's key of a node: its host:port. */
const addrKey = (a: Addr): string => formatHostPort(a.addr, a.port);

export interface MemoryNetworkOptions {
  /** Probability [0,1) that a datagram is lost. */
  lossRate?: number;
  /** One-way delay for datagrams and stream chunks (ms). */
  latencyMs?: number;
  /** Deterministic randomness for loss (default Math.random). */
  random?: () => number;
}

export class MemoryNetwork {
  readonly nodes = new Map<string, MemoryTransport>();
  lossRate: number;
  latencyMs: number;
  private readonly random: () => number;
  private readonly blocked = new Set<string>();
  private nextPort = 40000;
  delivered = 0;
  dropped = 0;

  constructor(opts: MemoryNetworkOptions = {}) {
    this.lossRate = opts.lossRate ?? 0;
    this.latencyMs = opts.latencyMs ?? 0;
    this.random = opts.random ?? Math.random;
  }

  /** Creates and registers a transport; port 0 allocates one. */
  transport(addr: string, port = 0, maxStreams = 64): MemoryTransport {
    const p = port || this.nextPort++;
    const t = new MemoryTransport(this, { addr, port: p }, maxStreams);
    const k = addrKey(t.localAddr());
    if (this.nodes.has(k)) throw new AgentError('E_EXISTS', `address in use ${k}`);
    this.nodes.set(k, t);
    return t;
  }

  /** Blocks traffic both ways between two addresses (ip strings). */
  partition(a: string, b: string): void { this.blocked.add(`${a}|${b}`); this.blocked.add(`${b}|${a}`); }
  heal(a?: string, b?: string): void {
    if (a === undefined || b === undefined) { this.blocked.clear(); return; }
    this.blocked.delete(`${a}|${b}`); this.blocked.delete(`${b}|${a}`);
  }
  isBlocked(from: Addr, to: Addr): boolean { return this.blocked.has(`${from.addr}|${to.addr}`); }

  /** @internal */
  deliverPacket(from: Addr, to: Addr, buf: Uint8Array): void {
    const dst = this.nodes.get(addrKey(to));
    if (!dst || this.isBlocked(from, to) || (this.lossRate > 0 && this.random() < this.lossRate)) {
      this.dropped++;
      return;
    }
    const copy = buf.slice();
    const run = () => { this.delivered++; dst.receivePacket(copy, from); };
    if (this.latencyMs > 0) setTimeout(run, this.latencyMs);
    else setImmediate(run);
  }

  /** @internal */
  unregister(t: MemoryTransport): void { this.nodes.delete(addrKey(t.localAddr())); }
}

class MemoryStream implements Stream {
  peer: MemoryStream | null = null;
  private readonly q: ChunkQueue;
  private closed = false;
  constructor(readonly remote: Addr, private readonly net: MemoryNetwork, private readonly onGone: () => void) {
    this.q = new ChunkQueue(() => {}, () => this.destroy());
  }
  read(): Promise<Uint8Array | null> { return this.q.read(); }
  write(buf: Uint8Array): Promise<void> {
    if (this.closed || !this.peer) return Promise.reject(new AgentError('E_IO', 'stream closed'));
    const peer = this.peer;
    const copy = buf.slice();
    const run = () => peer.q.push(copy);
    if (this.net.latencyMs > 0) setTimeout(run, this.net.latencyMs); else setImmediate(run);
    return Promise.resolve();
  }
  setDeadline(atMs: number): void { this.q.setDeadline(atMs); }

  excludeReaderTime(): void { this.q.excludeReaderTime(); }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.q.clearDeadline();
    const peer = this.peer;
    const run = () => peer?.q.end();
    if (this.net.latencyMs > 0) setTimeout(run, this.net.latencyMs); else setImmediate(run);
    this.gone();
  }
  destroy(): void {
    this.closed = true;
    this.q.fail(new AgentError('E_IO', 'stream destroyed'));
    this.peer?.q.fail(new AgentError('E_IO', 'connection reset'));
    this.gone();
  }
  private goneCalled = false;
  private gone(): void { if (!this.goneCalled) { this.goneCalled = true; this.q.clearDeadline(); this.onGone(); } }
}

export class MemoryTransport implements Transport {
  private onPacket: PacketHandler = () => {};
  private onStream: StreamHandler = (s) => s.destroy();
  private stopped = false;
  private active = 0;
  constructor(private readonly net: MemoryNetwork, private readonly addr: Addr, private readonly maxStreams: number) {}

  localAddr(): Addr { return { ...this.addr }; }
  setHandlers(onPacket: PacketHandler, onStream: StreamHandler): void { this.onPacket = onPacket; this.onStream = onStream; }

  sendPacket(to: Addr, buf: Uint8Array): void {
    if (this.stopped) return;
    this.net.deliverPacket(this.addr, to, buf);
  }

  /** @internal */
  receivePacket(buf: Uint8Array, from: Addr): void {
    if (!this.stopped) this.onPacket(buf, from, monotonicNow());
  }

  dial(to: Addr, timeoutMs: number): Promise<Stream> {
    if (this.stopped) return Promise.reject(new AgentError('E_STATE', 'transport stopped'));
    const dst = this.net.nodes.get(addrKey(to));
    if (!dst || this.net.isBlocked(this.addr, to)) {
      // An unreachable peer looks like a connect timeout (bounded by the caller's timeout).
      return new Promise((_r, reject) => { setTimeout(() => reject(new AgentError('E_TIMEOUT', `dial ${addrKey(to)} timed out`)), Math.min(timeoutMs, 50)); });
    }
    if (this.active >= this.maxStreams || dst.active >= dst.maxStreams) {
      return Promise.reject(new AgentError('E_LIMIT', 'too many concurrent gossip streams'));
    }
    this.active++; dst.active++;
    const mine = new MemoryStream(to, this.net, () => this.active--);
    const theirs = new MemoryStream(this.addr, this.net, () => dst.active--);
    mine.peer = theirs; theirs.peer = mine;
    setImmediate(() => dst.onStream(theirs));
    return Promise.resolve(mine);
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.net.unregister(this);
  }
}
