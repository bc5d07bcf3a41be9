// Liveness of published services. Cloudy re-checks its services from cron
// every 10 minutes (avahi-service `check`, CLOUDY-FACTS §1.5); here each
// service may carry its own check, run every interval: after N consecutive
// failures the service leaves the `services` tag, and the first pass puts it
// back. At most `concurrency` checks run at once; one timer drives them all.
import type { Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import type { ServiceCheck } from './publisher.ts';
import type { Prober } from './probes.ts';
import type { PublishedService, ServiceAnnouncer } from './services.ts';
import { serviceKey } from './record.ts';

export const CHECK_DEFAULTS = Object.freeze({ intervalMs: 30_000, timeoutMs: 5_000, failuresToWithdraw: 3 });

export interface CheckClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemCheckClock: CheckClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref?.(); return t; },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ServiceCheckerOptions {
  announcer: Pick<ServiceAnnouncer, 'list' | 'onChange' | 'setWithdrawn'>;
  prober: Prober;
  logger: Logger;
  counters: Counters;
  concurrency: number;
  clock?: CheckClock;
}

export interface CheckStatus {
  type: string;
  port: number;
  failures: number;
  withdrawn: boolean;
  lastResult: string;
  lastRunAt: number;
}

interface CheckState {
  type: string;
  port: number;
  check: ServiceCheck;
  specJson: string;
  failures: number;
  withdrawn: boolean;
  nextDue: number;
  running: boolean;
  lastResult: string;
  lastRunAt: number;
}

export class ServiceChecker {
  private readonly states = new Map<string, CheckState>();
  private readonly clock: CheckClock;
  private running = 0;
  private timer: unknown = null;
  private timerDue = Infinity;
  private stopped = true;
  private unsubscribe: (() => void) | null = null;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly opts: ServiceCheckerOptions) {
    this.clock = opts.clock ?? systemCheckClock;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.opts.announcer.onChange((list) => this.sync(list));
    this.sync(this.opts.announcer.list());
  }

  /** Stops scheduling and waits for the checks in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.clearTimer();
    await Promise.allSettled([...this.inflight]);
  }

  status(): CheckStatus[] {
    return [...this.states.values()].map((s) => ({
      type: s.type, port: s.port, failures: s.failures, withdrawn: s.withdrawn, lastResult: s.lastResult, lastRunAt: s.lastRunAt,
    }));
  }

  /** Follows the published list: new checks are due at once, removed ones are forgotten. */
  private sync(list: readonly PublishedService[]): void {
    const seen = new Set<string>();
    for (const { service, withdrawn } of list) {
      if (!service.check) continue;
      const key = serviceKey(service.type, service.port);
      seen.add(key);
      const specJson = JSON.stringify(service.check);
      const st = this.states.get(key);
      if (st && st.specJson === specJson) {
        st.withdrawn = withdrawn;
        continue;
      }
      this.states.set(key, {
        type: service.type, port: service.port, check: service.check, specJson,
        failures: 0, withdrawn, nextDue: this.clock.now(), running: false, lastResult: '', lastRunAt: 0,
      });
    }
    for (const key of [...this.states.keys()]) if (!seen.has(key)) this.states.delete(key);
    this.pump();
  }

  private clearTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerDue = Infinity;
  }

  /** Starts every due check a free slot allows, then arms the timer for the next due one. */
  private pump(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const due = [...this.states.values()].filter((s) => !s.running && s.nextDue <= now).sort((a, b) => a.nextDue - b.nextDue);
    for (const st of due) {
      if (this.running >= this.opts.concurrency) break;
      this.launch(st);
    }
    let next = Infinity;
    for (const s of this.states.values()) if (!s.running && s.nextDue < next) next = s.nextDue;
    if (next === Infinity || (this.running >= this.opts.concurrency && next <= now)) {
      // Nothing to wait for, or every slot is busy: a finishing check pumps again.
      this.clearTimer();
      return;
    }
    if (this.timer !== null && this.timerDue === next) return;
    this.clearTimer();
    this.timerDue = next;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.timerDue = Infinity;
      this.pump();
    }, Math.max(0, next - now));
  }

  private launch(st: CheckState): void {
    st.running = true;
    this.running++;
    const interval = st.check.intervalMs ?? CHECK_DEFAULTS.intervalMs;
    const timeout = Math.min(st.check.timeoutMs ?? CHECK_DEFAULTS.timeoutMs, interval);
    const p = (async () => {
      try {
        const res = await this.opts.prober.run(st.check.probe, st.port, timeout);
        st.lastRunAt = this.clock.now();
        st.lastResult = res.detail;
        await this.record(st, res.ok);
      } catch (e) {
        this.opts.logger.error(`check of ${st.type}:${st.port} failed to run: ${(e as Error).message}`);
      } finally {
        st.running = false;
        st.nextDue = this.clock.now() + interval;
        this.running--;
        this.pump();
      }
    })();
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private async record(st: CheckState, ok: boolean): Promise<void> {
    if (this.states.get(serviceKey(st.type, st.port)) !== st) return; // unpublished or changed meanwhile
    if (ok) {
      st.failures = 0;
      if (st.withdrawn) {
        if (await this.opts.announcer.setWithdrawn(st.type, st.port, false)) st.withdrawn = false;
      }
      return;
    }
    st.failures++;
    this.opts.counters.inc('discovery.check_failed');
    const limit = st.check.failuresToWithdraw ?? CHECK_DEFAULTS.failuresToWithdraw;
    this.opts.logger.debug(`check of ${st.type}:${st.port} failed (${st.failures}/${limit}): ${st.lastResult}`);
    if (st.failures >= limit && !st.withdrawn) {
      if (await this.opts.announcer.setWithdrawn(st.type, st.port, true)) st.withdrawn = true;
    }
  }
}
