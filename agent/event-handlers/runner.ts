// Runs event handler scripts for serf events, like serf's ScriptEventHandler:
// events are handled one at a time, in order, each matching script in turn;
// a query handler's output (stdout then stderr, as serf captures both) is
// sent as the query response.
//
// Bounded: at most limits.handlerQueue events wait (beyond it the event is
// dropped for handlers and counted in `drop.handler_queue`); every script is
// killed after limits.handlerTimeoutMs (a query's script also at the query
// deadline); a query whose deadline passed while queued is skipped and
// counted (`drop.handler_query_expired`); output kept is capped.
import type { Member, SerfEvent } from '../gossip/serf/types.ts';
import type { Exec } from '../system/exec.ts';
import type { Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import type { Limits } from '../config/limits.ts';
import { errorMessage } from '../errors.ts';
import { filterMatches } from '../gossip/serf/event-filter.ts';
import { handlerEnv, handlerStdin } from './invoke.ts';
import type { EventScript } from './scripts.ts';

/** serf keeps the last 8 KiB of a handler's output (maxBufSize in invoke.go). */
const HANDLER_OUTPUT_BYTES = 8 * 1024;
/** serf warns about handlers running longer than this (warnSlow). */
const SLOW_HANDLER_MS = 1000;

export interface HandlerRunnerOptions {
  scripts: EventScript[];
  /** The local member at the time of the event (name and tags for the env). */
  self: () => Member;
  exec: Exec;
  logger: Logger;
  counters: Counters;
  limits: Limits;
  now?: () => number;
  shell?: string;
}

export class EventHandlerRunner {
  private scripts: EventScript[];
  private readonly queue: SerfEvent[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly o: HandlerRunnerOptions) {
    this.scripts = o.scripts;
    this.log = o.logger.child('agent');
    this.now = o.now ?? Date.now;
  }

  /** Replaces the scripts (SIGHUP reload); applies from the next event. */
  update(scripts: EventScript[]): void { this.scripts = scripts; }

  currentScripts(): readonly EventScript[] { return this.scripts; }

  queued(): number { return this.queue.length; }

  /** Serf event listener: enqueue when some script wants it. Never blocks. */
  handle(e: SerfEvent): void {
    if (this.stopped) return;
    if (!this.scripts.some((s) => filterMatches(s.filter, e))) return;
    if (this.queue.length >= this.o.limits.handlerQueue) {
      this.o.counters.inc('drop.handler_queue');
      return;
    }
    this.queue.push(e);
    if (!this.running) this.running = this.drain().finally(() => { this.running = null; });
  }

  /** Stops accepting events; waits for the script in progress (the rest of the queue is dropped). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.queue.length) this.o.counters.inc('drop.handler_queue', this.queue.length);
    this.queue.length = 0;
    await this.running;
  }

  /** Resolves when the queue is empty and no script runs (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    for (let e = this.queue.shift(); e; e = this.queue.shift()) {
      for (const s of this.scripts) {
        if (this.stopped) return;
        if (!filterMatches(s.filter, e)) continue;
        await this.invoke(s, e);
      }
    }
  }

  private async invoke(s: EventScript, e: SerfEvent): Promise<void> {
    const { counters, limits } = this.o;
    let timeoutMs = limits.handlerTimeoutMs;
    if (e.type === 'query') {
      const left = e.query.deadline - this.now();
      if (left <= 0) { counters.inc('drop.handler_query_expired'); return; }
      timeoutMs = Math.min(timeoutMs, left);
    }
    counters.inc('handler.invocations');
    const started = this.now();
    const slow = setTimeout(() => this.log.warn(`Script '${s.script}' slow, execution exceeding ${SLOW_HANDLER_MS}ms`), SLOW_HANDLER_MS);
    slow.unref();
    try {
      const r = await this.o.exec.run(this.o.shell ?? '/bin/sh', ['-c', s.script], {
        env: handlerEnv(this.o.self(), e),
        input: handlerStdin(e),
        timeoutMs,
        maxOutputBytes: Math.min(HANDLER_OUTPUT_BYTES, limits.execOutputBytes),
        killGroup: true,
      });
      const output = r.stdout + r.stderr;
      this.log.debug(`Event '${e.type}' script output: ${output}`);
      if (r.timedOut) {
        counters.inc('handler.timeouts');
        this.log.error(`Error invoking script '${s.script}': killed after ${timeoutMs}ms`);
        return;
      }
      if (r.exitCode !== 0) {
        counters.inc('handler.failures');
        this.log.error(`Error invoking script '${s.script}': exit status ${r.exitCode}`);
        return;
      }
      if (e.type === 'query' && output.length > 0) {
        try {
          await e.query.respond(new TextEncoder().encode(output));
        } catch (err) {
          counters.inc('handler.respond_errors');
          this.log.warn(`Failed to respond to query '${e.query.name}': ${errorMessage(err)}`);
        }
      }
    } catch (err) {
      counters.inc('handler.failures');
      this.log.error(`Error invoking script '${s.script}': ${errorMessage(err)}`);
    } finally {
      clearTimeout(slow);
      this.log.debug(`handler '${s.script}' took ${this.now() - started}ms`);
    }
  }
}
