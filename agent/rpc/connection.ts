// One agent RPC client connection (serf 0.9.4 ipc.go semantics).
//
// Requests are read one at a time (header, then the body when the command has
// one) with @msgpack/msgpack's stream decoder; replies are written with the
// go-msgpack RPC encoding (str8 + bin, sorted struct keys). Commands run in
// order, one at a time per connection, like serf's handleClient loop.
//
// Streams (`stream`, `monitor`, `query` results) write `header{Seq}` + record
// pairs as events happen. They never block the agent and never buffer without
// bound: a record is dropped (and counted in `drop.rpc_stream_record`) when
// the subscriber already has limits.rpcSubscriberBacklog records not yet
// flushed to the kernel, or the socket holds more than
// limits.rpcSocketBufferBytes unsent bytes.
import type { Socket } from 'node:net';
import { decodeMultiStream } from '@msgpack/msgpack';
import type { IncomingQuery, QueryHandle, Serf, SerfEvent } from '../gossip/serf/types.ts';
import { levelRank, type LogLevel, type Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import type { Limits } from '../config/limits.ts';
import { encodeGo, Float64, type GoValue } from '../gossip/wire/msgpack.ts';
import { AgentError, errorMessage, isAgentError, serfErrorText } from '../errors.ts';
import { ERR, IPC_VERSION, MONITOR_LEVELS, SERF_COMMANDS, goBytes, memberRecord } from './protocol.ts';
import { asBody, fBool, fBytes, fInt, fStr, fStrArray, fStrMap, fUint, type Body } from './fields.ts';
import { anyFilterMatches, isValidFilter, parseEventFilters } from '../gossip/serf/event-filter.ts';

export interface RpcAgentHooks {
  /** Graceful leave (reply is sent after it completes). */
  leave(): Promise<void>;
  /** Called after the leave reply has been written: the agent shuts down. */
  shutdown(): void;
  /** Replaces all tags (persisting them to the tags file when configured). */
  setTags(tags: Record<string, string>): Promise<void>;
  /** `stats` reply: section -> key -> value. */
  stats(): Record<string, Record<string, string>>;
}

/** One command beyond serf's own verbs. */
export interface RpcExtension {
  /** Whether a body follows the request header (the server must know to read it). */
  hasBody: boolean;
  /** Runs it; the reply body, or undefined for a header-only reply. A throw becomes the header's Error. */
  invoke(body: unknown): Promise<unknown>;
}

/** Commands beyond serf's verbs: the agent's command registry (adapted in commands/rpc-verbs.ts). */
export interface RpcExtensions {
  /** The command a wire verb names, or null (then serf's "Unsupported command"). */
  lookup(verb: string): RpcExtension | null;
}

export interface RpcConnectionDeps {
  serf: Serf;
  extensions: RpcExtensions;
  logger: Logger;
  counters: Counters;
  limits: Limits;
  authKey: string;
  hooks: RpcAgentHooks;
}

/** Caps on one request object (requests are small; these stop length bombs). */
const DECODER_LIMITS = {
  maxStrLength: 1024 * 1024,
  maxBinLength: 1024 * 1024,
  maxArrayLength: 65536,
  maxMapLength: 65536,
  maxExtLength: 0,
};

/** A stream/monitor/query-result subscription of this connection. */
class Subscription {
  inFlight = 0;
  dropped = 0;
  closed = false;
  constructor(readonly seq: number, readonly kind: 'stream' | 'monitor' | 'query', readonly stop: () => void) {}
}

class CloseConnection extends Error {}

export class RpcConnection {
  private version = 0;
  private didAuth = false;
  private closed = false;
  private readonly streams = new Map<number, Subscription>();
  private monitor: Subscription | null = null;
  private readonly queries = new Set<Subscription>();
  /** Queries delivered to this client's streams, awaiting `respond` (serf: pendingQueries). */
  private readonly pendingQueries = new Map<number, { q: IncomingQuery; timer: NodeJS.Timeout }>();
  private queryId = 0;
  private readonly log: Logger;

  constructor(private readonly sock: Socket, readonly peer: string, private readonly d: RpcConnectionDeps) {
    this.log = d.logger;
    sock.on('error', () => { /* reported through close */ });
    sock.on('close', () => this.cleanup());
  }

  /** Serves requests until the client goes away or a protocol error closes the connection. */
  async run(): Promise<void> {
    const it = decodeMultiStream<undefined>(this.sock, DECODER_LIMITS)[Symbol.asyncIterator]();
    const next = async (): Promise<unknown> => {
      const r = await it.next();
      if (r.done) throw new CloseConnection();
      return r.value;
    };
    try {
      for (;;) {
        await this.waitWritable();
        if (this.closed) break;
        const header = asBody(await next(), 'request header');
        const command = fStr(header.Command, 'Command');
        const seq = fUint(header.Seq, 'Seq');
        await this.handle(command, seq, next);
      }
    } catch (e) {
      if (!(e instanceof CloseConnection) && !this.closed) {
        this.d.counters.inc('rpc.request_errors');
        this.log.error(`Failed to evaluate request from ${this.peer}: ${errorMessage(e)}`);
      }
    } finally {
      this.close();
      try { await it.return?.(undefined); } catch { /* socket already gone */ }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    this.cleanup();
  }

  // -------------------------------------------------------------------------
  // Writing

  private send(seq: number, error: string, body?: GoValue): void {
    if (this.closed) return;
    const h = encodeGo({ Error: error, Seq: seq }, 'rpc');
    if (body === undefined) { this.sock.write(h); return; }
    this.sock.write(Buffer.concat([h, encodeGo(body, 'rpc')]));
  }

  /** Streamed record: bounded, never blocks; returns false when dropped. */
  private sendRecord(sub: Subscription, body: GoValue, force = false): boolean {
    if (this.closed || sub.closed) return false;
    const { limits, counters } = this.d;
    const full = sub.inFlight >= limits.rpcSubscriberBacklog || this.sock.writableLength > limits.rpcSocketBufferBytes;
    if (full && !force) {
      sub.dropped++;
      counters.inc('drop.rpc_stream_record');
      return false;
    }
    sub.inFlight++;
    const buf = Buffer.concat([encodeGo({ Error: '', Seq: sub.seq }, 'rpc'), encodeGo(body, 'rpc')]);
    this.sock.write(buf, () => { sub.inFlight--; });
    return true;
  }

  /** Stop reading requests while our replies pile up unread (backpressure on the client). */
  private async waitWritable(): Promise<void> {
    if (this.sock.writableLength <= this.d.limits.rpcSocketBufferBytes || this.closed) return;
    await new Promise<void>((resolve) => {
      const done = () => { this.sock.off('drain', done); this.sock.off('close', done); resolve(); };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  // -------------------------------------------------------------------------
  // Dispatch

  private async handle(command: string, seq: number, next: () => Promise<unknown>): Promise<void> {
    if (command !== 'handshake' && this.version === 0) {
      this.send(seq, ERR.handshakeRequired);
      throw new AgentError('E_RPC', ERR.handshakeRequired);
    }
    if (this.d.authKey !== '' && !this.didAuth && command !== 'auth' && command !== 'handshake') {
      this.log.warn('Client sending commands before auth');
      // serf does not read the body here either; a client that sent one gets
      // it parsed as the next header (and the connection closes on garbage).
      this.send(seq, ERR.authRequired);
      return;
    }
    this.d.counters.inc('rpc.commands');
    const hasBody = SERF_COMMANDS[command];
    if (hasBody === undefined) return this.handleRegistered(command, seq, next);
    const body: Body = hasBody ? asBody(await next(), `${command} request`) : {};
    switch (command) {
      case 'handshake': return this.handshake(seq, body);
      case 'auth': return this.auth(seq, body);
      case 'event': return this.event(seq, body);
      case 'force-leave': return this.forceLeave(seq, body);
      case 'join': return this.join(seq, body);
      case 'members': return this.members(seq, null);
      case 'members-filtered': return this.members(seq, body);
      case 'stream': return this.stream(seq, body);
      case 'monitor': return this.startMonitor(seq, body);
      case 'stop': return this.stop(seq, body);
      case 'leave': return this.leave(seq);
      case 'install-key': case 'use-key': case 'remove-key': case 'list-keys':
        return this.keys(command, seq, body);
      case 'tags': return this.tags(seq, body);
      case 'query': return this.query(seq, body);
      case 'respond': return this.respond(seq, body);
      case 'stats': return this.stats(seq);
      case 'get-coordinate': return this.coordinate(seq, body);
    }
  }

  /** Extension commands (the agent's registry); unknown names close the connection like serf. */
  private async handleRegistered(command: string, seq: number, next: () => Promise<unknown>): Promise<void> {
    const cmd = this.d.extensions.lookup(command);
    if (!cmd) {
      this.send(seq, ERR.unsupportedCommand);
      throw new AgentError('E_RPC', `command '${command}' not recognized`);
    }
    const body = cmd.hasBody ? await next() : undefined;
    try {
      const reply = await cmd.invoke(body);
      this.send(seq, '', reply as GoValue);
    } catch (e) {
      const msg = isAgentError(e) ? `${e.code}: ${e.message}` : errorMessage(e);
      this.send(seq, msg);
    }
  }

  private handshake(seq: number, b: Body): void {
    const v = fInt(b.Version, 'Version');
    let err = '';
    if (v < IPC_VERSION || v > IPC_VERSION) err = ERR.unsupportedIPCVersion;
    else if (this.version !== 0) err = ERR.duplicateHandshake;
    else this.version = v;
    this.send(seq, err);
  }

  private auth(seq: number, b: Body): void {
    const key = fStr(b.AuthKey, 'AuthKey');
    if (key === this.d.authKey) { this.didAuth = true; this.send(seq, ''); }
    else this.send(seq, ERR.invalidAuthToken);
  }

  private async event(seq: number, b: Body): Promise<void> {
    const name = fStr(b.Name, 'Name');
    const payload = fBytes(b.Payload, 'Payload');
    const coalesce = fBool(b.Coalesce, 'Coalesce');
    this.send(seq, await errOf(() => this.d.serf.userEvent(name, payload, coalesce), this.log));
  }

  private async forceLeave(seq: number, b: Body): Promise<void> {
    const node = fStr(b.Node, 'Node');
    const prune = fBool(b.Prune, 'Prune');
    this.send(seq, await errOf(() => this.d.serf.removeFailedNode(node, prune), this.log));
  }

  private async join(seq: number, b: Body): Promise<void> {
    const existing = fStrArray(b.Existing, 'Existing');
    const replay = fBool(b.Replay, 'Replay');
    let num = 0;
    const err = await errOf(async () => { num = await this.d.serf.join(existing, !replay); });
    this.send(seq, err, { Num: num });
  }

  private members(seq: number, filter: Body | null): void {
    let list = this.d.serf.members();
    if (filter) {
      const tags = fStrMap(filter.Tags, 'Tags');
      const status = fStr(filter.Status, 'Status');
      const name = fStr(filter.Name, 'Name');
      try {
        list = filterMembers(list, tags, status, name);
      } catch (e) {
        // serf closes the connection here, leaving its own CLI waiting; we
        // answer with the error and an empty list instead.
        this.send(seq, `Failed to compile regex: ${errorMessage(e)}`, { Members: [] });
        return;
      }
    }
    this.send(seq, '', { Members: list.map(memberRecord) });
  }

  private stream(seq: number, b: Body): void {
    const filters = parseEventFilters(fStr(b.Type, 'Type'));
    if (!filters.every(isValidFilter)) { this.send(seq, ERR.invalidFilter); return; }
    if (this.streams.has(seq)) { this.send(seq, ERR.streamExists); return; }
    let unsubscribe: () => void = () => {};
    const sub = new Subscription(seq, 'stream', () => unsubscribe());
    this.streams.set(seq, sub);
    // Reply first, then register, so no record can precede the reply (as serf).
    this.send(seq, '');
    unsubscribe = this.d.serf.onEvent((e) => {
      if (anyFilterMatches(filters, e)) this.streamEvent(sub, e);
    });
  }

  private streamEvent(sub: Subscription, e: SerfEvent): void {
    switch (e.type) {
      case 'user':
        this.sendRecord(sub, { Event: 'user', LTime: e.ltime, Name: e.name, Payload: goBytes(e.payload), Coalesce: e.coalesce });
        return;
      case 'query': {
        const id = ++this.queryId;
        const q = e.query;
        if (this.sendRecord(sub, { Event: 'query', ID: id, LTime: q.ltime, Name: q.name, Payload: goBytes(q.payload) })) {
          this.registerPendingQuery(id, q);
        }
        return;
      }
      default:
        this.sendRecord(sub, { Event: e.type, Members: e.members.map(memberRecord) });
    }
  }

  private registerPendingQuery(id: number, q: IncomingQuery): void {
    if (this.pendingQueries.size >= this.d.limits.pendingInboundQueries) {
      const oldest = this.pendingQueries.keys().next().value as number;
      clearTimeout(this.pendingQueries.get(oldest)!.timer);
      this.pendingQueries.delete(oldest);
      this.d.counters.inc('evict.rpc_pending_query');
    }
    const wait = Math.max(0, q.deadline - Date.now());
    const timer = setTimeout(() => this.pendingQueries.delete(id), wait);
    timer.unref();
    this.pendingQueries.set(id, { q, timer });
  }

  private startMonitor(seq: number, b: Body): void {
    const level = fStr(b.LogLevel, 'LogLevel').toUpperCase();
    if (!(MONITOR_LEVELS as readonly string[]).includes(level)) {
      this.send(seq, `Unknown log level: ${level}`);
      return;
    }
    if (this.monitor) { this.send(seq, ERR.monitorExists); return; }
    const min = levelRank(level as LogLevel);
    let unsubscribe: () => void = () => {};
    const sub = new Subscription(seq, 'monitor', () => unsubscribe());
    this.monitor = sub;
    this.send(seq, '');
    // Replay the recent log ring, then live lines (serf's logWriter does the same).
    for (const rec of this.d.logger.recent()) {
      if (levelRank(rec.level) >= min) this.sendRecord(sub, { Log: rec.line });
    }
    unsubscribe = this.d.logger.subscribe((rec) => {
      if (levelRank(rec.level) >= min) this.sendRecord(sub, { Log: rec.line });
    });
  }

  private stop(seq: number, b: Body): void {
    const target = fUint(b.Stop, 'Stop');
    if (this.monitor && this.monitor.seq === target) {
      this.endSub(this.monitor);
      this.monitor = null;
    }
    const s = this.streams.get(target);
    if (s) { this.endSub(s); this.streams.delete(target); }
    this.send(seq, '');
  }

  private async leave(seq: number): Promise<void> {
    this.log.info('Graceful leave triggered');
    const err = await errOf(() => this.d.hooks.leave(), this.log);
    if (err) this.log.error(`leave failed: ${err}`);
    this.send(seq, err);
    // Let the reply reach the client before the agent tears everything down.
    await new Promise<void>((resolve) => this.sock.write(new Uint8Array(0), () => resolve()));
    this.d.hooks.shutdown();
  }

  private async keys(command: string, seq: number, b: Body): Promise<void> {
    const km = this.d.serf.keyManager();
    const key = command === 'list-keys' ? '' : fStr(b.Key, 'Key');
    this.log.info(
      command === 'install-key' ? 'Initiating key installation'
        : command === 'use-key' ? 'Initiating primary key change'
          : command === 'remove-key' ? 'Initiating key removal' : 'Initiating key listing',
    );
    let err = '';
    let resp: { messages: Record<string, string>; numNodes: number; numResp: number; numErr: number; keys?: Record<string, number> } =
      { messages: {}, numNodes: 0, numResp: 0, numErr: 0 };
    try {
      resp = command === 'install-key' ? await km.installKey(key)
        : command === 'use-key' ? await km.useKey(key)
          : command === 'remove-key' ? await km.removeKey(key) : await km.listKeys();
      // serf's KeyManager turns these conditions into the request's error.
      if (resp.numErr !== 0) err = `${resp.numErr}/${resp.numNodes} nodes reported failure`;
      else if (resp.numResp !== resp.numNodes) err = `${resp.numResp}/${resp.numNodes} nodes reported success`;
    } catch (e) {
      err = errorMessage(e);
    }
    this.send(seq, err, {
      Keys: command === 'list-keys' ? new Map(Object.entries(resp.keys ?? {})) : null,
      Messages: new Map(Object.entries(resp.messages)),
      NumErr: resp.numErr,
      NumNodes: resp.numNodes,
      NumResp: resp.numResp,
    });
  }

  private async tags(seq: number, b: Body): Promise<void> {
    const set = fStrMap(b.Tags, 'Tags');
    const del = new Set(fStrArray(b.DeleteTags, 'DeleteTags'));
    const tags: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.d.serf.localMember().tags)) if (!del.has(k)) tags[k] = v;
    Object.assign(tags, set);
    this.send(seq, await errOf(() => this.d.hooks.setTags(tags), this.log));
  }

  private async query(seq: number, b: Body): Promise<void> {
    const name = fStr(b.Name, 'Name');
    const payload = fBytes(b.Payload, 'Payload');
    const timeoutNs = fInt(b.Timeout, 'Timeout');
    const params = {
      filterNodes: fStrArray(b.FilterNodes, 'FilterNodes'),
      filterTags: fStrMap(b.FilterTags, 'FilterTags'),
      requestAck: fBool(b.RequestAck, 'RequestAck'),
      relayFactor: fUint(b.RelayFactor, 'RelayFactor', 255),
      timeoutMs: timeoutNs > 0 ? Math.max(1, Math.round(timeoutNs / 1e6)) : 0,
    };
    const holder: { handle: QueryHandle | null } = { handle: null };
    const sub = new Subscription(seq, 'query', () => holder.handle?.close());
    // Records produced before the reply header is written wait here (bounded by the backlog).
    let ready = false;
    const early: { rec: GoValue; force: boolean }[] = [];
    const deliver = (rec: GoValue, force: boolean): void => {
      if (ready) { this.sendRecord(sub, rec, force); return; }
      if (force || early.length < this.d.limits.rpcSubscriberBacklog) early.push({ rec, force });
      else { sub.dropped++; this.d.counters.inc('drop.rpc_stream_record'); }
    };
    this.queries.add(sub);
    const err = await errOf(async () => {
      holder.handle = await this.d.serf.query(name, payload, params, {
        onAck: (from) => deliver({ From: from, Payload: null, Type: 'ack' }, false),
        onResponse: (from, p) => deliver({ From: from, Payload: goBytes(p), Type: 'response' }, false),
        // The done record ends the client's wait: it always gets through.
        onDone: () => {
          deliver({ From: '', Payload: null, Type: 'done' }, true);
          sub.closed = true;
          this.queries.delete(sub);
        },
      });
    }, this.log);
    this.send(seq, err);
    if (err) { this.queries.delete(sub); return; }
    ready = true;
    const wasClosed = sub.closed;
    sub.closed = false;
    for (const { rec, force } of early) this.sendRecord(sub, rec, force);
    sub.closed = wasClosed;
  }

  private async respond(seq: number, b: Body): Promise<void> {
    const id = fUint(b.ID, 'ID');
    const payload = fBytes(b.Payload, 'Payload');
    const p = this.pendingQueries.get(id);
    if (!p) { this.send(seq, ERR.invalidQueryID); return; }
    this.send(seq, await errOf(() => p.q.respond(payload), this.log));
  }

  private stats(seq: number): void {
    const s = this.d.hooks.stats();
    const body = new Map<string, GoValue>();
    for (const [section, kv] of Object.entries(s)) body.set(section, new Map(Object.entries(kv)));
    this.send(seq, '', body);
  }

  private coordinate(seq: number, b: Body): void {
    const node = fStr(b.Node, 'Node');
    const c = this.d.serf.getCoordinate(node);
    this.send(seq, '', {
      Coord: c
        ? { Adjustment: f64(c.adjustment), Error: f64(c.error), Height: f64(c.height), Vec: c.vec.map(f64) }
        : { Adjustment: f64(0), Error: f64(0), Height: f64(0), Vec: null },
      Ok: c !== null,
    });
  }

  // -------------------------------------------------------------------------

  private endSub(s: Subscription): void {
    if (s.closed) return;
    s.closed = true;
    try { s.stop(); } catch { /* best effort */ }
  }

  private cleanup(): void {
    this.closed = true;
    for (const s of this.streams.values()) this.endSub(s);
    this.streams.clear();
    if (this.monitor) { this.endSub(this.monitor); this.monitor = null; }
    for (const q of this.queries) this.endSub(q);
    this.queries.clear();
    for (const p of this.pendingQueries.values()) clearTimeout(p.timer);
    this.pendingQueries.clear();
  }
}

function f64(v: number): Float64 { return new Float64(v); }

/** serf's error text for a serf verb; our detailed message goes to the log. */
async function errOf(fn: () => Promise<unknown>, log?: Logger): Promise<string> {
  try {
    await fn();
    return '';
  } catch (e) {
    const text = serfErrorText(e) || 'error';
    if (log && text !== errorMessage(e)) log.warn(errorMessage(e));
    return text;
  }
}

/**
 * Go's regexp.Compile(fmt.Sprintf("^%s$", expr)) in JS: same textual
 * anchoring (so `a|b` means `^a|b$`, as in serf). RE2's leading flag group
 * (`(?i)`, `(?s)`, `(?m)`, combined) has no JS syntax: it becomes RegExp flags.
 */
export function anchoredRegExp(expr: string): RegExp {
  const m = /^\(\?([ims]+)\)/.exec(expr);
  const flags = m ? [...new Set(m[1]!)].join('') : '';
  return new RegExp(`^${m ? expr.slice(m[0].length) : expr}$`, flags);
}

/** serf's filterMembers: anchored regexes (`^expr$`), "" status/name = any; tag filters always apply. */
export function filterMembers<M extends { name: string; status: string; tags: Record<string, string> }>(
  members: M[], tags: Record<string, string>, status: string, name: string,
): M[] {
  const tagRe = Object.entries(tags).map(([k, expr]) => [k, anchoredRegExp(expr)] as const);
  const statusRe = anchoredRegExp(status);
  const nameRe = anchoredRegExp(name);
  return members.filter((m) => {
    for (const [k, re] of tagRe) if (!re.test(m.tags[k] ?? '')) return false;
    if (status !== '' && !statusRe.test(m.status)) return false;
    if (name !== '' && !nameRe.test(m.name)) return false;
    return true;
  });
}
