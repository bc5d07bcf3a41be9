// Queries and their responses (serf query.go, internal_query.go;
// SERF-PROTOCOL.md §3.9): sending a query with node/tag filters, relay factor
// and ack request, collecting acks and responses (query-collector.ts),
// receiving queries (filters, de-duplication by LTime/ID, ack, relayed
// responses) and handing each to the handler registered for its name or, for
// the others, to the event stream. Serf's own internal queries (_serf_ping,
// _serf_conflict, the key queries) are registered handlers like any other.
//
// Using it from another module (remote control, the full node):
//   const h = await serf.queries.send('cloudy-cmd', payload,
//     { filterNodes: ['n1'], filterTags: { role: '^web$' }, requestAck: true, relayFactor: 2, timeoutMs: 5000 },
//     { onAck: (from) => ..., onResponse: (from, payload) => ..., onDone: () => ... });
//   const off = serf.queries.handle('cloudy-cmd', (q) => { void q.respond(answer(q.payload)); });

import type { Counters } from '../../obs/counters.ts';
import type { Logger } from '../../obs/log.ts';
import type { Limits } from '../../config/limits.ts';
import type { TransmitLimitedQueue } from '../broadcast-queue.ts';
import type { Memberlist } from '../memberlist/types.ts';
import type { Clock } from '../clock.ts';
import type { LamportClock } from './lamport.ts';
import type { IncomingQuery, Member, QueryHandle, QueryHandlers, QueryParams } from './types.ts';
import { AgentError, errorMessage } from '../../errors.ts';
import { bytesToIp, ipToBytes } from '../wire/memberlist-messages.ts';
import {
  decodeFilter, encodeNodeFilter, encodeSerfMessage, encodeTagFilter, INTERNAL_QUERY_PREFIX, QUERY_FLAG_ACK,
  QUERY_FLAG_NO_BROADCAST, QUERY_PING, type SerfMessage,
} from '../wire/serf-messages.ts';
import { QueryBuffer, tooOld } from './event-buffer.ts';
import { filtersMatch, type QueryFilter } from './filters.ts';
import { QueryCollector } from './query-collector.ts';

/** Queries need serf protocol >= 4 on the sender. */
export const QUERY_MIN_PROTOCOL = 4;
/** Relays go only to members whose memberlist PMax >= 5 (they understand type 9). */
const RELAY_MIN_PMAX = 5;

export type QueryMessage = Extract<SerfMessage, { type: 'query' }>;
export type QueryResponseMessage = Extract<SerfMessage, { type: 'queryResponse' }>;
export type RelayMessage = Extract<SerfMessage, { type: 'relay' }>;

/** Answers one named query; respond() at most once, before q.deadline. */
export type QueryHandler = (q: IncomingQuery) => void;

export interface SerfQueriesOptions {
  nodeName: string;
  protocolVersion: number;
  /** Default timeout = gossipIntervalMs x queryTimeoutMult x ceil(log10(N+1)). */
  gossipIntervalMs: number;
  queryTimeoutMult: number;
  querySizeLimit: number;
  queryResponseSizeLimit: number;
  clock: Clock;
  counters: Counters;
  logger: Logger;
  /** pendingQueries, queryResponsesPerQuery, pendingInboundQueries, queryBuffer, entriesPerLTime. */
  limits: Limits;
  random: () => number;
  /** serf's query clock (also in push/pull and the snapshot). */
  queryClock: LamportClock;
  /** Where queries are gossiped. */
  queue: TransmitLimitedQueue;
  memberlist(): Memberlist | null;
  /** Our tags now (tag filters). */
  tags(): Record<string, string>;
  /** Members we know (relay candidates; their count bounds the relay factor). */
  members(): Iterable<Member>;
  /** Serf is shut down: no more queries go out. */
  stopped(): boolean;
  /** A query no handler is registered for (not internal): to the event stream. */
  unhandled(q: IncomingQuery): void;
}

export class SerfQueries {
  /** Queries older than this LTime were handled before a restart (snapshot): ignored. */
  minTime = 0;
  private readonly buffer: QueryBuffer;
  private readonly collector: QueryCollector;
  private readonly handlers = new Map<string, QueryHandler>();
  private inboundPending = 0;
  private readonly log: Logger;

  constructor(private readonly o: SerfQueriesOptions) {
    this.log = o.logger;
    this.buffer = new QueryBuffer(o.limits.queryBuffer, o.limits.entriesPerLTime, () => o.counters.inc('drop.serf_query_slot_full'));
    this.collector = new QueryCollector({
      clock: o.clock, counters: o.counters, logger: o.logger, maxPending: o.limits.pendingQueries, maxResponsesPerQuery: o.limits.queryResponsesPerQuery,
    });
  }

  /**
   * Answers queries named `name` with `handler` instead of passing them to the
   * event stream. Names with the internal prefix `_serf_` are not counted
   * against limits.pendingInboundQueries. Returns the function that removes it.
   */
  handle(name: string, handler: QueryHandler): () => void {
    if (this.handlers.has(name)) throw new AgentError('E_STATE', `a handler for query ${name} is already registered`);
    this.handlers.set(name, handler);
    return () => { if (this.handlers.get(name) === handler) this.handlers.delete(name); };
  }

  /** serf DefaultQueryTimeout: GossipInterval x QueryTimeoutMult x ceil(log10(N+1)). */
  defaultTimeoutMs(): number {
    const ml = this.o.memberlist();
    const n = ml ? ml.numMembers() : 1;
    return this.o.gossipIntervalMs * this.o.queryTimeoutMult * Math.ceil(Math.log10(n + 1));
  }

  /**
   * A user query. Like the serf agent, names with the internal prefix `_serf_`
   * are refused (E_INVALID), except `_serf_ping` without payload (reachability).
   */
  query(name: string, payload: Uint8Array, params: QueryParams, handlers: QueryHandlers): Promise<QueryHandle> {
    if (name.startsWith(INTERNAL_QUERY_PREFIX) && !(name === QUERY_PING && payload.length === 0)) {
      return Promise.reject(new AgentError('E_INVALID', `Queries cannot contain the '${INTERNAL_QUERY_PREFIX}' prefix`));
    }
    return this.send(name, payload, params, handlers);
  }

  /**
   * Sends a query of any name (internal ones included): E_STATE below protocol
   * 4 or after shutdown, E_LIMIT with too many in flight, E_INVALID for a bad
   * relay factor, E_TOO_LARGE over querySizeLimit. Acks and responses go to
   * `handlers` until the timeout (then onDone, once).
   */
  async send(name: string, payload: Uint8Array, params: QueryParams, handlers: QueryHandlers): Promise<QueryHandle> {
    if (this.o.protocolVersion < QUERY_MIN_PROTOCOL) {
      throw new AgentError('E_STATE', `queries need serf protocol ${QUERY_MIN_PROTOCOL} or higher`);
    }
    if (this.o.stopped()) throw new AgentError('E_STATE', 'serf is shut down');
    const ml = this.o.memberlist();
    if (!ml) throw new AgentError('E_STATE', 'serf is not started');
    this.collector.checkRoom();
    const filters: Uint8Array[] = [];
    if (params.filterNodes && params.filterNodes.length > 0) filters.push(encodeNodeFilter(params.filterNodes));
    for (const [tag, expr] of Object.entries(params.filterTags ?? {})) filters.push(encodeTagFilter(tag, expr));
    const relayFactor = params.relayFactor ?? 0;
    if (!Number.isInteger(relayFactor) || relayFactor < 0 || relayFactor > 255) {
      throw new AgentError('E_INVALID', 'relay factor must be 0..255');
    }
    const timeoutMs = params.timeoutMs && params.timeoutMs > 0 ? params.timeoutMs : this.defaultTimeoutMs();
    const self = ml.localNode();
    const ltime = this.o.queryClock.time();
    const id = this.collector.freeId(ltime, Math.floor(this.o.random() * 0x80000000));
    const q: QueryMessage = {
      type: 'query', ltime, id, addr: ipToBytes(self.addr), port: self.port, sourceNode: self.name,
      filters, flags: params.requestAck ? QUERY_FLAG_ACK : 0, relayFactor, timeoutNs: timeoutMs * 1e6, name, payload,
    };
    const raw = encodeSerfMessage(q);
    if (raw.length > this.o.querySizeLimit) {
      throw new AgentError('E_TOO_LARGE',
        `query exceeds limit of ${this.o.querySizeLimit} bytes (by ${raw.length - this.o.querySizeLimit} bytes)`,
        { serfText: `query exceeds limit of ${this.o.querySizeLimit} bytes` });
    }
    const handle = this.collector.register(ltime, id, timeoutMs, handlers);
    this.receive(q);
    this.o.queue.queue({ msg: raw });
    return handle;
  }

  /** Closes every outstanding query (shutdown). */
  closeAll(): void {
    this.collector.closeAll();
  }

  private shouldProcess(blobs: Uint8Array[]): boolean {
    const filters: QueryFilter[] = [];
    for (const b of blobs) {
      try {
        const f = decodeFilter(b);
        filters.push(f.kind === 'node' ? { type: 'node', nodes: f.names } : { type: 'tag', tag: f.tag, expr: f.expr });
      } catch (e) {
        // Unknown filter type or garbage: serf does not process such a query.
        this.o.counters.inc('serf.decode_errors.filter');
        this.log.warn(`query filter: ${errorMessage(e)}`);
        return false;
      }
    }
    return filtersMatch(filters, this.o.nodeName, this.o.tags());
  }

  /** A query arrived (or we sent one): true when it should be gossiped on. */
  receive(q: QueryMessage): boolean {
    const { counters, clock } = this.o;
    this.o.queryClock.witness(q.ltime);
    if (q.ltime < this.minTime) return false;
    if (tooOld(q.ltime, this.o.queryClock.time(), this.buffer.size)) {
      counters.inc('drop.serf_query_too_old');
      return false;
    }
    if (!this.buffer.add(q.ltime, q.id)) return false;
    const rebroadcast = (q.flags & QUERY_FLAG_NO_BROADCAST) === 0;
    if (!this.shouldProcess(q.filters)) return rebroadcast;
    const to = { addr: bytesToIp(q.addr), port: q.port };
    if (q.flags & QUERY_FLAG_ACK) {
      const ack = { type: 'queryResponse' as const, ltime: q.ltime, id: q.id, from: this.o.nodeName, flags: QUERY_FLAG_ACK, payload: new Uint8Array(0) };
      const raw = encodeSerfMessage(ack);
      this.o.memberlist()?.sendToAddress(to, raw);
      this.relayResponse(q.relayFactor, to, q.sourceNode, raw);
    }
    const timeoutMs = q.timeoutNs / 1e6;
    const deadline = clock.now() + timeoutMs;
    const internal = q.name.startsWith(INTERNAL_QUERY_PREFIX);
    if (!internal && this.inboundPending >= this.o.limits.pendingInboundQueries) {
      counters.inc('drop.serf_inbound_queries');
      return rebroadcast;
    }
    let responded = false;
    let pending = !internal;
    if (pending) this.inboundPending++;
    const release = (): void => { if (pending) { pending = false; this.inboundPending--; } };
    if (pending) clock.after(Math.max(0, timeoutMs), release);
    const incoming: IncomingQuery = {
      ltime: q.ltime, id: q.id, name: q.name, payload: q.payload, sourceNode: q.sourceNode, deadline,
      respond: async (payload: Uint8Array) => {
        if (clock.now() > deadline) throw new AgentError('E_TIMEOUT', 'response is past the deadline');
        if (responded) throw new AgentError('E_STATE', 'response already sent');
        const resp = { type: 'queryResponse' as const, ltime: q.ltime, id: q.id, from: this.o.nodeName, flags: 0, payload };
        const raw = encodeSerfMessage(resp);
        if (raw.length > this.o.queryResponseSizeLimit) {
          throw new AgentError('E_TOO_LARGE',
            `response exceeds limit of ${this.o.queryResponseSizeLimit} bytes (by ${raw.length - this.o.queryResponseSizeLimit} bytes)`,
            { serfText: `response exceeds limit of ${this.o.queryResponseSizeLimit} bytes` });
        }
        const ml = this.o.memberlist();
        if (!ml) throw new AgentError('E_STATE', 'serf is not started');
        responded = true;
        release();
        ml.sendToAddress(to, raw);
        this.relayResponse(q.relayFactor, to, q.sourceNode, raw);
      },
    };
    const handler = this.handlers.get(q.name);
    if (handler) {
      try { handler(incoming); } catch (e) { this.log.warn(`query ${q.name} handler: ${errorMessage(e)}`); }
    } else if (internal) {
      this.log.warn(`unhandled internal query ${q.name}`);
    } else {
      this.o.unhandled(incoming);
    }
    return rebroadcast;
  }

  /** Sends a response (or ack) also through `relayFactor` random alive members (serf relayResponse). */
  private relayResponse(relayFactor: number, to: { addr: string; port: number }, destName: string, inner: Uint8Array): void {
    const ml = this.o.memberlist();
    if (relayFactor === 0 || !ml) return;
    const all = [...this.o.members()];
    const candidates = all.filter((m) => m.status === 'alive' && m.protocolMax >= RELAY_MIN_PMAX && m.name !== this.o.nodeName);
    if (all.length < relayFactor + 1) return;
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(this.o.random() * (i + 1));
      [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
    }
    const raw = encodeSerfMessage({ type: 'relay', destAddr: ipToBytes(to.addr), destPort: to.port, destName, inner });
    for (const m of candidates.slice(0, relayFactor)) ml.sendToAddress({ addr: m.addr, port: m.port }, raw);
  }

  /** A relayed message: forward its inner message to its destination. */
  relay(m: RelayMessage): void {
    const ml = this.o.memberlist();
    if (!ml) return;
    this.o.counters.inc('serf.relayed');
    ml.sendToAddress({ addr: bytesToIp(m.destAddr), port: m.destPort }, m.inner);
  }

  /** An ack or response to one of our queries. */
  receiveResponse(r: QueryResponseMessage): void {
    this.collector.deliver(r.ltime, r.id, r.from, (r.flags & QUERY_FLAG_ACK) !== 0, r.payload);
  }
}
