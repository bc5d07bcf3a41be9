// Feeds the full node's tiered federation history (history-tiers.ts): one
// sample every limits.historySampleMs, written to <data-dir>/discovery/
// federation-history.bin at most once per limits.historySaveMs (flash wear:
// ~0.5 MB an hour by default) and at stop, restored at start. A damaged file
// is counted and set aside; the history restarts empty.
import type { Counters } from '../obs/counters.ts';
import type { Logger } from '../obs/log.ts';
import type { FileStore } from '../state/atomic-file.ts';
import type { Limits } from '../config/limits.ts';
import type { FederationSample } from './federation.ts';
import { decodeHistoryInto, encodeHistory, TieredHistory, type TierSpec } from './history-tiers.ts';

export function historyTierSpecs(l: Pick<Limits, 'historyMinutePoints' | 'historyHourPoints' | 'historyDayPoints'>): TierSpec[] {
  return [
    { stepMs: 60_000, points: l.historyMinutePoints },
    { stepMs: 3_600_000, points: l.historyHourPoints },
    { stepMs: 86_400_000, points: l.historyDayPoints },
  ];
}

export interface HistoryRecorderOptions {
  history: TieredHistory;
  file: FileStore | null;
  sample: () => FederationSample;
  sampleMs: number;
  saveMs: number;
  logger: Logger;
  counters: Counters;
  now?: () => number;
}

export class HistoryRecorder {
  private timer: NodeJS.Timeout | null = null;
  private lastSave: number;
  private saving: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly o: HistoryRecorderOptions) {
    this.now = o.now ?? Date.now;
    this.lastSave = this.now();
  }

  get history(): TieredHistory {
    return this.o.history;
  }

  async restore(): Promise<void> {
    if (!this.o.file) return;
    try {
      if (this.o.file.readOrMoveAside) {
        await this.o.file.readOrMoveAside((raw) => decodeHistoryInto(this.o.history, raw), 'starting with an empty history', (m) => this.o.logger.warn(m), () => this.o.counters.inc('discovery.history_load_error'));
        return;
      }
      const raw = await this.o.file.read();
      if (raw) decodeHistoryInto(this.o.history, raw);
    } catch (e) {
      this.o.counters.inc('discovery.history_load_error');
      this.o.logger.warn(`federation history not restored: ${(e as Error).message}`);
    }
  }

  /** Takes one sample now (also what the timer does). */
  sampleNow(): void {
    try {
      this.o.history.add(this.o.sample());
    } catch (e) {
      this.o.logger.error(`federation history sample failed: ${(e as Error).message}`);
      return;
    }
    if (this.now() - this.lastSave >= this.o.saveMs) void this.save();
  }

  start(): void {
    if (this.timer) return;
    this.sampleNow();
    this.timer = setInterval(() => this.sampleNow(), this.o.sampleMs);
    this.timer.unref();
  }

  save(): Promise<void> {
    const file = this.o.file;
    if (!file) return Promise.resolve();
    this.lastSave = this.now();
    this.saving = this.saving.then(async () => {
      try {
        await file.write(encodeHistory(this.o.history));
        this.o.counters.inc('discovery.history_saves');
      } catch (e) {
        this.o.counters.inc('discovery.history_save_error');
        this.o.logger.error(`cannot save the federation history: ${(e as Error).message}`);
      }
    });
    return this.saving;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.save();
  }
}
