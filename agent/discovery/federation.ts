// Federation statistics as seen from this node: how many Cloudy instances are
// alive and how many services of each type they announce, sampled at a fixed
// interval into a bounded history (limits.federationHistory samples; one week
// at 5-minute samples by default) so the evolution can be plotted — the
// "instances and services over time" figures of the Cloudy papers, which had
// no collector in the public code (CLOUDY-FACTS §5).
import type { Serf } from '../gossip/serf/types.ts';
import type { Counters } from '../obs/counters.ts';
import type { Logger } from '../obs/log.ts';
import { SERVICES_TAG } from './codec.ts';
import type { ServicesTagDecoder } from './search.ts';
import { isoTime } from '../obs/iso-time.ts';

export interface FederationSample {
  /** ms since epoch. */
  t: number;
  /** Alive serf members. */
  aliveMembers: number;
  /** Alive members announcing at least one decodable Cloudy service. */
  cloudyInstances: number;
  /** Announced services of all alive members. */
  services: number;
  /** type -> announced services of that type. */
  byType: Record<string, number>;
  /** Alive members whose `services` tag did not decode (skipped). */
  undecodable: number;
}

export interface FederationStatsOptions {
  serf: Pick<Serf, 'members'>;
  decoder: ServicesTagDecoder;
  counters: Counters;
  logger: Logger;
  /** Samples kept. */
  historySize: number;
  /** Time between samples. */
  intervalMs: number;
  now?: () => number;
}

export class FederationStats {
  private readonly history: FederationSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly sampleListeners = new Set<(s: FederationSample) => void>();

  constructor(private readonly opts: FederationStatsOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Counts now, without recording. */
  current(): FederationSample {
    const byType: Record<string, number> = {};
    let alive = 0, instances = 0, services = 0, undecodable = 0;
    for (const m of this.opts.serf.members()) {
      if (m.status !== 'alive') continue;
      alive++;
      const value = m.tags[SERVICES_TAG];
      if (value === undefined) continue;
      const res = this.opts.decoder.decode(value);
      if (!res.ok) { undecodable++; continue; }
      if (res.records.length > 0) instances++;
      for (const r of res.records) {
        services++;
        byType[r.s] = (byType[r.s] ?? 0) + 1;
      }
    }
    const sorted: Record<string, number> = {};
    for (const k of Object.keys(byType).sort()) sorted[k] = byType[k]!;
    return { t: this.now(), aliveMembers: alive, cloudyInstances: instances, services, byType: sorted, undecodable };
  }

  /** Takes one sample into the history (oldest dropped beyond historySize). */
  sample(): FederationSample {
    const s = this.current();
    this.history.push(s);
    while (this.history.length > this.opts.historySize) {
      this.history.shift();
      this.opts.counters.inc('evict.federation_history');
    }
    for (const l of this.sampleListeners) l(s);
    return s;
  }

  /** Called after each recorded sample; returns the unsubscribe function. */
  onSample(l: (s: FederationSample) => void): () => void {
    this.sampleListeners.add(l);
    return () => this.sampleListeners.delete(l);
  }

  samples(): readonly FederationSample[] {
    return this.history;
  }

  /** Replaces the history (restored from disk); keeps the newest historySize samples. */
  restore(samples: readonly FederationSample[]): void {
    this.history.length = 0;
    this.history.push(...samples.slice(-this.opts.historySize));
  }

  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => {
      try { this.sample(); } catch (e) { this.opts.logger.error(`federation sample failed: ${(e as Error).message}`); }
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Readable summary for `stats` without -format json. */
export function formatFederationText(cur: FederationSample, history: readonly FederationSample[], intervalMs: number): string {
  const lines = [
    `alive members:    ${cur.aliveMembers}`,
    `cloudy instances: ${cur.cloudyInstances}`,
    `services:         ${cur.services}`,
    `undecodable tags: ${cur.undecodable}`,
  ];
  const types = Object.keys(cur.byType);
  if (types.length) {
    const w = Math.max(...types.map((t) => t.length));
    lines.push('services by type:');
    for (const t of types) lines.push(`  ${t.padEnd(w)}  ${cur.byType[t]}`);
  }
  if (history.length) {
    const first = history[0]!;
    lines.push(`history: ${history.length} samples every ${Math.round(intervalMs / 1000)} s since ${isoTime(first.t)} (use -format json to plot)`);
  }
  return lines.join('\n') + '\n';
}
