// Our outstanding queries and the acks/responses coming back for them
// (SERF-PROTOCOL.md §3.9). Like serf, a collector is keyed by the query's LTime
// and must also match its ID; acks and responses are de-duplicated per sender.
// Bounded: limits.pendingQueries collectors, limits.queryResponsesPerQuery
// entries each; overflow is refused/dropped and counted.
import type { Counters } from '../../obs/counters.ts';
import type { Logger } from '../../obs/log.ts';
import type { QueryHandle, QueryHandlers } from './types.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { AgentError, errorMessage } from '../../errors.ts';

interface Outstanding {
  ltime: number;
  id: number;
  deadline: number;
  acks: Set<string>;
  responses: Set<string>;
  handlers: QueryHandlers;
  timer: TimerHandle | null;
  closed: boolean;
}

export interface QueryCollectorOptions {
  clock: Clock;
  counters: Counters;
  logger: Logger;
  maxPending: number;
  maxResponsesPerQuery: number;
}

export class QueryCollector {
  private readonly byLTime = new Map<number, Outstanding>();

  constructor(private readonly o: QueryCollectorOptions) {}

  get size(): number { return this.byLTime.size; }

  /** Throws E_LIMIT (counted) when too many queries are outstanding. */
  checkRoom(): void {
    if (this.byLTime.size >= this.o.maxPending) {
      this.o.counters.inc('drop.serf_pending_queries');
      throw new AgentError('E_LIMIT', `too many queries in flight (${this.o.maxPending})`);
    }
  }

  /** An ID not in use for this LTime (starting from `id`). */
  freeId(ltime: number, id: number): number {
    while (this.byLTime.get(ltime)?.id === id) id = (id + 1) & 0x7fffffff;
    return id;
  }

  /** Registers a collector closed after `timeoutMs` (onDone called once). */
  register(ltime: number, id: number, timeoutMs: number, handlers: QueryHandlers): QueryHandle {
    const prev = this.byLTime.get(ltime);
    if (prev) this.finish(prev); // serf keys collectors by LTime: a newer query with the same LTime replaces it
    const deadline = this.o.clock.now() + timeoutMs;
    const q: Outstanding = { ltime, id, deadline, acks: new Set(), responses: new Set(), handlers, timer: null, closed: false };
    q.timer = this.o.clock.after(timeoutMs, () => this.finish(q));
    this.byLTime.set(ltime, q);
    return { ltime, id, deadline, close: () => this.finish(q) };
  }

  /** An ack (isAck) or response arrived from `from`. */
  deliver(ltime: number, id: number, from: string, isAck: boolean, payload: Uint8Array): void {
    const q = this.byLTime.get(ltime);
    if (!q || q.id !== id || q.closed) {
      this.o.counters.inc('serf.query_responses_unmatched');
      return;
    }
    const seen = isAck ? q.acks : q.responses;
    const kind = isAck ? 'acks' : 'responses';
    if (seen.has(from)) { this.o.counters.inc(`serf.query_duplicate_${kind}`); return; }
    if (seen.size >= this.o.maxResponsesPerQuery) { this.o.counters.inc(`drop.serf_query_${kind}`); return; }
    seen.add(from);
    try {
      if (isAck) q.handlers.onAck?.(from); else q.handlers.onResponse?.(from, payload);
    } catch (e) {
      this.o.logger.warn(`query ${kind} handler: ${errorMessage(e)}`);
    }
  }

  /** Closes every collector (shutdown). */
  closeAll(): void {
    for (const q of [...this.byLTime.values()]) this.finish(q);
  }

  private finish(q: Outstanding): void {
    if (q.closed) return;
    q.closed = true;
    q.timer?.cancel();
    if (this.byLTime.get(q.ltime) === q) this.byLTime.delete(q.ltime);
    try { q.handlers.onDone?.(); } catch (e) { this.o.logger.warn(`query onDone: ${errorMessage(e)}`); }
  }
}
