// Per-operator-key token bucket: `burst` commands at once, refilled at
// `perMinute`. Driven by a monotonic clock (performance.now), never the wall
// clock, which a gateway without RTC may step by decades.
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly o: { burst: number; perMinute: number; now?: () => number }) {}

  private now(): number { return (this.o.now ?? (() => performance.now()))(); }

  /** Takes one token for `key`; false when the bucket is empty. */
  take(key: string): boolean {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.o.burst, at: t };
    b.tokens = Math.min(this.o.burst, b.tokens + ((t - b.at) / 60_000) * this.o.perMinute);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
