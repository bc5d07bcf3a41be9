// The transport under memberlist: whole UDP datagrams plus short-lived TCP
// streams (one exchange per connection), both on ONE address/port like
// memberlist's NetTransport. Two implementations: net-transport.ts (real
// sockets, IPv4/IPv6) and memory-transport.ts (in-process network for tests).

export interface Addr { addr: string; port: number }

/** A whole datagram arrived. `at` = receive time (ms). */
export type PacketHandler = (buf: Uint8Array, from: Addr, at: number) => void;
/** An inbound stream was accepted; the handler owns it and must close it. */
export type StreamHandler = (stream: Stream) => void;

export interface Stream {
  readonly remote: Addr;
  /** Next chunk of bytes, or null at end of stream. Rejects with E_TIMEOUT past the deadline, E_IO on error. */
  read(): Promise<Uint8Array | null>;
  write(buf: Uint8Array): Promise<void>;
  /** Absolute deadline for the whole exchange (ms since epoch, Date.now() clock). */
  setDeadline(atMs: number): void;
  /**
   * From now on the deadline counts only time spent waiting for the peer: the
   * reader's own work between chunks (merging a streamed push/pull, which
   * memberlist does after the exchange) is given back to it.
   */
  excludeReaderTime(): void;
  /** Graceful end (flushes what was written). */
  close(): void;
  /** Immediate teardown. */
  destroy(): void;
}

export interface Transport {
  /** The bound address and port (the port is known once started). */
  localAddr(): Addr;
  /** Address to announce when bound to a wildcard (0.0.0.0 / ::); default: localAddr(). */
  advertiseAddr?(): Addr;
  /** Resolves a host name for join (real network only). */
  resolve?(host: string): Promise<string[]>;
  setHandlers(onPacket: PacketHandler, onStream: StreamHandler): void;
  /** Fire and forget; failures are counted, not thrown. */
  sendPacket(to: Addr, buf: Uint8Array): void;
  /** Opens a stream; rejects E_TIMEOUT / E_IO / E_LIMIT (too many streams). */
  dial(to: Addr, timeoutMs: number): Promise<Stream>;
  shutdown(): Promise<void>;
}

export function addrKey(a: Addr): string {
  return a.addr.includes(':') ? `[${a.addr}]:${a.port}` : `${a.addr}:${a.port}`;
}

/**
 * Parses "ip", "ip:port", "[v6]:port", "v6" (bare IPv6, no port), "host[:port]".
 * A memberlist join address may carry a "name/" prefix, which is stripped.
 */
export function parseHostPort(s: string, defaultPort: number): { host: string; port: number } {
  let t = s.trim();
  const slash = t.indexOf('/');
  if (slash >= 0 && !t.slice(0, slash).includes(':')) t = t.slice(slash + 1);
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0) throw new Error(`bad address ${s}`);
    const host = t.slice(1, close);
    const rest = t.slice(close + 1);
    const port = rest.startsWith(':') ? Number(rest.slice(1)) : defaultPort;
    return { host, port: checkPort(port, s) };
  }
  const colons = (t.match(/:/g) ?? []).length;
  if (colons === 1) {
    const i = t.lastIndexOf(':');
    return { host: t.slice(0, i), port: checkPort(Number(t.slice(i + 1)), s) };
  }
  return { host: t, port: defaultPort }; // no port, or a bare IPv6 address
}

function checkPort(p: number, s: string): number {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`bad port in ${s}`);
  return p;
}
