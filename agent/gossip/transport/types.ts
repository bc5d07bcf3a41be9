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
