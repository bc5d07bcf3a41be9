// Answers larger than a serf query response (1,024 bytes with serf's
// defaults, SERF-PROTOCOL.md §3.9).
//
// Why not several responses: serf de-duplicates responses per node per query
// (the requester keeps the first one from each `From`; relays carry copies of
// that one), so numbered chunks as several responses to ONE query do not
// survive real serf nodes. Chunks as one follow-up query each would work but
// cost a cluster-wide gossip broadcast per ~900 bytes (70+ for 64 KiB).
//
// Design: the requester listens on a TCP port of its advertised address and
// puts `reply = [addr, port, token]` into the SIGNED command. When the answer
// does not fit, the target answers the query with a small signed "large"
// marker (its size) and connects to addr:port, sending
//     token (16 bytes) | length (uint32 BE) | answer envelope (signed, as in envelope.ts)
// The token only routes the connection to the waiting request (every node that
// relays the query can read it); authenticity comes from the answer's own
// signature by the target's node key and its request hash, which the
// requester verifies exactly as for an inline answer. Connections with an
// unknown token, oversize lengths or that stall are closed, and the listener
// keeps waiting for the real one until the request's deadline.
// Weakness: the target must reach the requester over TCP (true for full
// nodes on the community network; an edge behind NAT connects outwards).
import { connect, createServer, type Server, type Socket } from 'node:net';
import { AgentError, errorMessage } from '../errors.ts';
import { TOKEN_BYTES } from './envelope.ts';

const HEADER = TOKEN_BYTES + 4;

/** Target side: delivers one large answer to the requester. */
export function pushLargeAnswer(to: { addr: string; port: number; token: Uint8Array }, answer: Uint8Array, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: to.addr, port: to.port });
    const timer = setTimeout(() => { sock.destroy(); reject(new AgentError('E_TIMEOUT', `large answer to ${to.addr}:${to.port} timed out`)); }, timeoutMs);
    sock.once('error', (e) => { clearTimeout(timer); reject(new AgentError('E_IO', `large answer to ${to.addr}:${to.port}: ${errorMessage(e)}`)); });
    sock.once('connect', () => {
      const head = Buffer.alloc(HEADER);
      head.set(to.token, 0);
      head.writeUInt32BE(answer.length, TOKEN_BYTES);
      sock.end(Buffer.concat([head, answer]), () => { clearTimeout(timer); resolve(); });
    });
  });
}

/** Requester side: one listener per client; each request registers its token. */
export class LargeAnswerListener {
  private server: Server | null = null;
  private readonly waiting = new Map<string, (answer: Uint8Array) => void>();
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly o: { host: string; maxBytes: number; maxConnections: number; stallMs: number }) {}

  async listen(): Promise<number> {
    const server = createServer((s) => this.accept(s));
    server.maxConnections = this.o.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.o.host, () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Calls `onAnswer` for every connection presenting `token` (they may be forgeries: the caller verifies). */
  expect(token: Uint8Array, onAnswer: (answer: Uint8Array) => void): () => void {
    const k = Buffer.from(token).toString('hex');
    this.waiting.set(k, onAnswer);
    return () => { this.waiting.delete(k); };
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    const chunks: Buffer[] = [];
    let have = 0;
    let want = -1;
    let deliver: ((a: Uint8Array) => void) | undefined;
    const stall = setTimeout(() => s.destroy(), this.o.stallMs);
    const done = (): void => { clearTimeout(stall); this.sockets.delete(s); };
    s.on('close', done);
    s.on('error', () => s.destroy());
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      if (want < 0 && have >= HEADER) {
        const all = Buffer.concat(chunks);
        chunks.length = 0; chunks.push(all);
        deliver = this.waiting.get(all.subarray(0, TOKEN_BYTES).toString('hex'));
        want = all.readUInt32BE(TOKEN_BYTES);
        if (!deliver || want > this.o.maxBytes) { s.destroy(); return; }
      }
      if (want >= 0 && have > HEADER + want) { s.destroy(); return; }
      if (want >= 0 && have === HEADER + want) {
        const body = new Uint8Array(Buffer.concat(chunks).subarray(HEADER));
        s.end();
        deliver!(body);
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.waiting.clear();
    const srv = this.server;
    this.server = null;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }
}
