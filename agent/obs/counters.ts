// Named monotonic counters (drops, evictions, decode errors...). One instance is
// created by the daemon and passed to every part; `snapshot()` feeds `stats`.

export class Counters {
  private readonly values = new Map<string, number>();

  inc(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** Sorted copy, for stats output. */
  snapshot(prefix = ''): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.values.keys()].sort()) {
      if (k.startsWith(prefix)) out[k] = this.values.get(k)!;
    }
    return out;
  }
}
