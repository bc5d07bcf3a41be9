// The agent RPC server: serf's msgpack IPC on TCP (127.0.0.1:7373 by default,
// IPv6 too), so the unmodified `serf` CLI and any serf RPC client drive our
// agent. One RpcConnection per client; see connection.ts for the protocol.
//
// Memory bounds: at most limits.maxRpcClients connections (extra ones are
// closed and counted); each connection's streamed records are bounded (see
// connection.ts); request objects are size-capped by the msgpack decoder.
import { appliedV8Flags } from '../system/v8-budget.ts';
import { createServer, type Server, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Serf } from '../gossip/serf/types.ts';
import type { Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import type { Limits } from '../config/limits.ts';
import { RpcConnection, type RpcAgentHooks, type RpcExtensions } from './connection.ts';
import { parseHostPort, type HostPort } from '../config/address.ts';
import { AgentError } from '../errors.ts';
import { DEFAULT_RPC_ADDR } from '../config/agent-config.ts';

export type { RpcAgentHooks, RpcExtension, RpcExtensions } from './connection.ts';

export interface RpcServerOptions {
  serf: Serf;
  /** Commands beyond serf's verbs (the agent's registry through commands/rpc-verbs.ts); default none. */
  extensions?: RpcExtensions;
  logger: Logger;
  counters: Counters;
  limits: Limits;
  /** host:port, default 127.0.0.1:7373 ("[::1]:7373" for IPv6). */
  addr?: string;
  /** `-rpc-auth`: when set, clients must `auth` after the handshake. */
  authKey?: string;
  /** Agent-level behaviour (leave/shutdown, tag persistence, stats). Defaults act on serf directly. */
  hooks?: Partial<RpcAgentHooks>;
}

const NO_EXTENSIONS: RpcExtensions = { lookup: () => null };

export class RpcServer {
  private server: Server | null = null;
  private readonly conns = new Set<RpcConnection>();
  private readonly log: Logger;
  private readonly hooks: RpcAgentHooks;
  private bound: HostPort | null = null;
  private stopping = false;

  constructor(private readonly opts: RpcServerOptions) {
    this.log = opts.logger.child('agent.ipc');
    const serf = opts.serf;
    this.hooks = {
      leave: opts.hooks?.leave ?? (() => serf.leave()),
      shutdown: opts.hooks?.shutdown ?? (() => { void serf.shutdown(); }),
      setTags: opts.hooks?.setTags ?? ((t) => serf.setTags(t)),
      stats: opts.hooks?.stats ?? (() => defaultStats(serf, {})),
    };
  }

  /** Starts listening; resolves with the bound address (port 0 = any free port). */
  async listen(): Promise<HostPort> {
    const want = parseHostPort(this.opts.addr ?? DEFAULT_RPC_ADDR, 7373, 'rpc-addr');
    const server = createServer({ noDelay: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => reject(new AgentError('E_IO', `rpc: cannot listen on ${want.host}:${want.port}: ${e.message}`));
      server.once('error', onErr);
      server.listen({ host: want.host, port: want.port, exclusive: true }, () => {
        server.off('error', onErr);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error(`listener error: ${e.message}`));
    this.server = server;
    const a = server.address();
    this.bound = typeof a === 'object' && a ? { host: a.address, port: a.port } : want;
    this.log.debug(`RPC listening on ${this.bound.host}:${this.bound.port}`);
    return this.bound;
  }

  address(): HostPort | null { return this.bound; }

  clientCount(): number { return this.conns.size; }

  private accept(sock: Socket): void {
    if (this.stopping) { sock.destroy(); return; }
    const peer = `${sock.remoteAddress}:${sock.remotePort}`;
    if (this.conns.size >= this.opts.limits.maxRpcClients) {
      this.opts.counters.inc('drop.rpc_client_limit');
      this.log.warn(`Rejected client ${peer}: ${this.conns.size} clients connected (limit maxRpcClients)`);
      sock.destroy();
      return;
    }
    this.log.info(`Accepted client: ${peer}`);
    const conn = new RpcConnection(sock, peer, {
      serf: this.opts.serf,
      extensions: this.opts.extensions ?? NO_EXTENSIONS,
      logger: this.log,
      counters: this.opts.counters,
      limits: this.opts.limits,
      authKey: this.opts.authKey ?? '',
      hooks: this.hooks,
    });
    this.conns.add(conn);
    void conn.run().finally(() => this.conns.delete(conn));
  }

  /** Stops accepting and closes every client connection. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const c of this.conns) c.close();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** serf's agent.Stats(): agent, runtime, serf, tags, event_handlers (+ extra sections). */
export function defaultStats(
  serf: Serf,
  eventHandlers: Record<string, string>,
  extra: Record<string, Record<string, string>> = {},
): Record<string, Record<string, string>> {
  const local = serf.localMember();
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  const cpus = availableParallelism();
  const handles = (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.().length ?? 0;
  return {
    agent: { name: local.name },
    runtime: {
      os: process.platform,
      arch,
      version: `node${process.versions.node}`,
      max_procs: String(cpus),
      goroutines: String(handles),
      cpu_count: String(cpus),
      v8_flags: appliedV8Flags().join(' '),
    },
    serf: serf.stats(),
    memory: memoryStats(),
    tags: { ...local.tags },
    event_handlers: { ...eventHandlers },
    ...extra,
  };
}

/** Process memory in bytes (the budget of the memory-bounded mode is checked against these). */
function memoryStats(): Record<string, string> {
  const m = process.memoryUsage();
  return {
    rss: String(m.rss),
    heap_total: String(m.heapTotal),
    heap_used: String(m.heapUsed),
    external: String(m.external),
    array_buffers: String(m.arrayBuffers),
  };
}
