// Client of serf's agent RPC protocol (used by our CLI; speaks to our agent or
// to a real serf agent alike). Behaves like serf 0.9.4 client/rpc_client.go:
// one connection, handshake (Seq 0) then optional auth, requests matched to
// replies by Seq, streams delivered to callbacks until stopped.
import type { Member } from '../gossip/serf/types.ts';
import { connect, type Socket } from 'node:net';
import { decodeMultiStream } from '@msgpack/msgpack';
import { encodeGo, type GoValue } from '../gossip/wire/msgpack.ts';
import { AgentError, errorMessage } from '../errors.ts';
import { parseHostPort } from '../config/address.ts';
import { ERR, bytesToIp } from './protocol.ts';
import { asBody, fBytes, fInt, fStr, fUint, type Body } from './fields.ts';

/** A member as the RPC returns it: serf's Member, with whatever status string the agent sent. */
export type RpcMember = Omit<Member, 'status'> & { status: string };

export interface RpcKeyResponse {
  keys: Record<string, number> | null;
  messages: Record<string, string>;
  numNodes: number;
  numResp: number;
  numErr: number;
}

export interface RpcQueryParams {
  name: string;
  payload?: Uint8Array;
  filterNodes?: string[];
  filterTags?: Record<string, string>;
  requestAck?: boolean;
  relayFactor?: number;
  /** 0 = agent default. */
  timeoutMs?: number;
}

export interface RpcCoordinate { vec: number[]; error: number; adjustment: number; height: number }

/** Error returned by the agent in a response header (message verbatim). */
export class RpcRemoteError extends AgentError {
  /** Body sent with the error, if any (key commands send counts and messages). */
  constructor(message: string, readonly body: unknown = undefined) { super('E_RPC', message); }
}

interface Pending {
  /** Whether a body follows this reply header. */
  expectBody: (error: string) => boolean;
  onReply: (error: string, body: unknown) => void;
  /** Streams: receive further header+record pairs with the same Seq. */
  onRecord?: (body: unknown) => void;
}

export interface StreamHandle { seq: number }

export interface RpcClientOptions {
  authKey?: string;
  /** Connect timeout (ms). Default 10 s. */
  timeoutMs?: number;
}

export class RpcClient {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private closeError: Error | null = null;
  private readonly closeListeners = new Set<() => void>();

  private constructor(private readonly sock: Socket) {}

  /** Connects, performs the handshake and, when given, the auth. */
  static async connect(addr: string, opts: RpcClientOptions = {}): Promise<RpcClient> {
    const { host, port } = parseHostPort(addr, 7373, 'rpc-addr');
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: host === '0.0.0.0' ? '127.0.0.1' : host, port, noDelay: true });
      const timer = setTimeout(() => { s.destroy(); reject(new AgentError('E_TIMEOUT', `dial tcp ${addr}: i/o timeout`)); }, opts.timeoutMs ?? 10_000);
      s.once('connect', () => { clearTimeout(timer); s.off('error', onErr); resolve(s); });
      const onErr = (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = e.code === 'ECONNREFUSED' ? 'connect: connection refused' : e.message;
        reject(new AgentError('E_IO', `dial tcp ${addr}: ${why}`));
      };
      s.once('error', onErr);
    });
    const c = new RpcClient(sock);
    c.listen();
    try {
      await c.call('handshake', { Version: 1 });
      if (opts.authKey) await c.call('auth', { AuthKey: opts.authKey });
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  private listen(): void {
    this.sock.on('error', (e) => { this.closeError = e; });
    this.sock.on('close', () => this.shutdown());
    const it = decodeMultiStream<undefined>(this.sock, { maxStrLength: 16 << 20, maxBinLength: 16 << 20 })[Symbol.asyncIterator]();
    const loop = async () => {
      for (;;) {
        const h = await it.next();
        if (h.done) return;
        const header = asBody(h.value, 'response header');
        const seq = fUint(header.Seq, 'Seq');
        const error = fStr(header.Error, 'Error');
        const p = this.pending.get(seq);
        if (!p) continue; // nothing registered: a header without body (late stop reply)
        if (p.onRecord && (p as { started?: boolean }).started) {
          const b = await it.next();
          if (b.done) return;
          p.onRecord(b.value);
          continue;
        }
        let body: unknown;
        if (p.expectBody(error)) {
          const b = await it.next();
          if (b.done) { p.onReply(error || 'EOF', undefined); return; }
          body = b.value;
        }
        if (p.onRecord && !error) (p as { started?: boolean }).started = true;
        else this.pending.delete(seq);
        p.onReply(error, body);
      }
    };
    loop().catch((e) => { this.closeError = e instanceof Error ? e : new Error(String(e)); })
      .finally(() => { this.sock.destroy(); this.shutdown(); });
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    const err = this.closeError ? errorMessage(this.closeError) : 'EOF';
    for (const p of this.pending.values()) {
      try { p.onReply(err, undefined); } catch { /* ignore */ }
    }
    this.pending.clear();
    for (const l of this.closeListeners) l();
  }

  /** Called once when the connection ends (remote closed or close()). */
  onClose(fn: () => void): void {
    if (this.closed) fn(); else this.closeListeners.add(fn);
  }

  isClosed(): boolean { return this.closed; }

  close(): void {
    this.sock.destroy();
    this.shutdown();
  }

  private nextSeq(): number { return ++this.seq; }

  private write(command: string, seq: number, body?: GoValue): void {
    const h = encodeGo({ Command: command, Seq: seq }, 'rpc');
    this.sock.write(body === undefined ? h : Buffer.concat([h, encodeGo(body, 'rpc')]));
  }

  /**
   * Generic request/reply. `replyBody`: whether the reply carries a body;
   * 'on-success' = only a successful reply does (registry commands: a handler
   * that throws answers with the error header alone).
   */
  call(command: string, body?: GoValue, replyBody: boolean | 'on-success' = false): Promise<unknown> {
    if (this.closed) return Promise.reject(new RpcRemoteError('client closed'));
    const seq = this.nextSeq();
    return new Promise((resolve, reject) => {
      this.pending.set(seq, {
        // serf skips the body of an "Authentication required" reply.
        expectBody: (error) => (replyBody === 'on-success' ? error === '' : replyBody && error !== ERR.authRequired),
        onReply: (error, b) => (error ? reject(new RpcRemoteError(error, b)) : resolve(b)),
      });
      this.write(command, seq, body);
    });
  }

  /** Starts a streaming command; records go to onRecord until stop(). */
  private startStream(command: string, body: GoValue, onRecord: (b: unknown) => void, onStart?: () => void): Promise<StreamHandle> {
    if (this.closed) return Promise.reject(new RpcRemoteError('client closed'));
    const seq = this.nextSeq();
    return new Promise((resolve, reject) => {
      this.pending.set(seq, {
        expectBody: () => false,
        onReply: (error) => {
          if (error) { reject(new RpcRemoteError(error)); return; }
          onStart?.(); // synchronously, before any record of this stream is delivered
          resolve({ seq });
        },
        onRecord,
      });
      this.write(command, seq, body);
    });
  }

  // ---------------------------------------------------------------------------
  // serf commands

  async members(): Promise<RpcMember[]> {
    return decodeMembers(await this.call('members', undefined, true));
  }

  async membersFiltered(tags: Record<string, string>, status: string, name: string): Promise<RpcMember[]> {
    return decodeMembers(await this.call('members-filtered', { Name: name, Status: status, Tags: new Map(Object.entries(tags)) }, true));
  }

  async join(addrs: string[], replay: boolean): Promise<number> {
    const b = asBody(await this.call('join', { Existing: addrs, Replay: replay }, true));
    return fInt(b.Num, 'Num');
  }

  async leave(): Promise<void> { await this.call('leave'); }

  async forceLeave(node: string, prune = false): Promise<void> {
    await this.call('force-leave', { Node: node, Prune: prune });
  }

  async userEvent(name: string, payload: Uint8Array | null, coalesce: boolean): Promise<void> {
    await this.call('event', { Coalesce: coalesce, Name: name, Payload: payload && payload.length ? payload : null });
  }

  async updateTags(tags: Record<string, string>, deleteTags: string[]): Promise<void> {
    await this.call('tags', { DeleteTags: deleteTags.length ? deleteTags : null, Tags: new Map(Object.entries(tags)) });
  }

  async respond(id: number, payload: Uint8Array): Promise<void> {
    await this.call('respond', { ID: id, Payload: payload });
  }

  async stats(): Promise<Record<string, Record<string, string>>> {
    const b = asBody(await this.call('stats', undefined, true));
    const out: Record<string, Record<string, string>> = {};
    for (const [k, v] of Object.entries(b)) {
      const inner = asBody(v, k);
      out[k] = {};
      for (const [ik, iv] of Object.entries(inner)) out[k]![ik] = fStr(iv, `${k}.${ik}`);
    }
    return out;
  }

  async getCoordinate(node: string): Promise<RpcCoordinate | null> {
    const b = asBody(await this.call('get-coordinate', { Node: node }, true));
    if (!b.Ok) return null;
    const c = asBody(b.Coord, 'Coord');
    const num = (v: unknown) => (typeof v === 'number' ? v : 0);
    return {
      vec: Array.isArray(c.Vec) ? c.Vec.map(num) : [],
      error: num(c.Error), adjustment: num(c.Adjustment), height: num(c.Height),
    };
  }

  /** install-key / use-key / remove-key / list-keys. Rejects with RpcRemoteError (body = the response) on failure. */
  async keyOp(op: 'install-key' | 'use-key' | 'remove-key' | 'list-keys', key?: string): Promise<RpcKeyResponse> {
    try {
      return decodeKeyResponse(await this.call(op, op === 'list-keys' ? undefined : { Key: key ?? '' }, true));
    } catch (e) {
      if (e instanceof RpcRemoteError && e.body !== undefined) {
        throw new RpcRemoteError(e.message, decodeKeyResponse(e.body));
      }
      throw e;
    }
  }

  /** Event stream (`*`, `user:deploy`, ...). Records are the raw decoded maps. */
  stream(filter: string, onRecord: (rec: Body) => void): Promise<StreamHandle> {
    return this.startStream('stream', { Type: filter }, (b) => onRecord(asBody(b)));
  }

  monitor(logLevel: string, onLine: (line: string) => void): Promise<StreamHandle> {
    return this.startStream('monitor', { LogLevel: logLevel }, (b) => onLine(fStr(asBody(b).Log, 'Log')));
  }

  async stop(h: StreamHandle): Promise<void> {
    await this.call('stop', { Stop: h.seq });
    this.pending.delete(h.seq);
  }

  /**
   * Runs a query; acks and responses are delivered to the callbacks; resolves
   * when the agent sends the "done" record (or the connection ends).
   */
  async query(p: RpcQueryParams, cb: { onStarted?: () => void; onAck?: (from: string) => void; onResponse?: (from: string, payload: Uint8Array) => void }): Promise<void> {
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => { finish = resolve; });
    const h = await this.startStream('query', {
      FilterNodes: p.filterNodes && p.filterNodes.length ? p.filterNodes : null,
      FilterTags: p.filterTags ? new Map(Object.entries(p.filterTags)) : null,
      Name: p.name,
      Payload: p.payload && p.payload.length ? p.payload : null,
      RelayFactor: p.relayFactor ?? 0,
      RequestAck: p.requestAck ?? false,
      Timeout: (p.timeoutMs ?? 0) * 1_000_000,
    }, (b) => {
      const r = asBody(b);
      const type = fStr(r.Type, 'Type');
      if (type === 'ack') cb.onAck?.(fStr(r.From, 'From'));
      else if (type === 'response') cb.onResponse?.(fStr(r.From, 'From'), fBytes(r.Payload, 'Payload'));
      else if (type === 'done') finish();
    }, cb.onStarted);
    this.onClose(finish);
    await finished;
    this.pending.delete(h.seq);
  }
}

export function decodeMember(v: unknown): RpcMember {
  const m = asBody(v, 'member');
  const u = (k: string) => fInt(m[k], k);
  const tags: Record<string, string> = {};
  for (const [k, val] of Object.entries(asBody(m.Tags, 'Tags'))) tags[k] = fStr(val, k);
  return {
    name: fStr(m.Name, 'Name'),
    addr: bytesToIp(fBytes(m.Addr, 'Addr')),
    port: u('Port'),
    tags,
    status: fStr(m.Status, 'Status'),
    protocolMin: u('ProtocolMin'), protocolMax: u('ProtocolMax'), protocolCur: u('ProtocolCur'),
    delegateMin: u('DelegateMin'), delegateMax: u('DelegateMax'), delegateCur: u('DelegateCur'),
  };
}

function decodeMembers(v: unknown): RpcMember[] {
  const b = asBody(v, 'members response');
  return Array.isArray(b.Members) ? b.Members.map(decodeMember) : [];
}

function decodeKeyResponse(v: unknown): RpcKeyResponse {
  const b = asBody(v, 'key response');
  const messages: Record<string, string> = {};
  for (const [k, val] of Object.entries(asBody(b.Messages, 'Messages'))) messages[k] = fStr(val, k);
  let keys: Record<string, number> | null = null;
  if (b.Keys !== null && b.Keys !== undefined) {
    keys = {};
    for (const [k, val] of Object.entries(asBody(b.Keys, 'Keys'))) keys[k] = fInt(val, k);
  }
  return { keys, messages, numNodes: fInt(b.NumNodes, 'NumNodes'), numResp: fInt(b.NumResp, 'NumResp'), numErr: fInt(b.NumErr, 'NumErr') };
}
