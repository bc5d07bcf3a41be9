// Failed logins per source address. After limits.loginFreeFailures failures an
// address waits before each answer (limits.loginDelayBaseMs, doubling up to
// limits.loginDelayMaxMs); at four times that many it is refused (429 with
// Retry-After) until its failures age out (limits.loginFailureMemoryMs after
// the last one). Memory is bounded: at most limits.loginThrottleEntries
// addresses are remembered, the least recently failed forgotten first (an
// attacker with many addresses only gets the free attempts of each, which
// scrypt keeps slow). Time comes from the injected clock.
export interface ThrottleLimits { maxEntries: number; freeFailures: number; delayBaseMs: number; delayMaxMs: number; failureMemoryMs: number }

interface Entry { failures: number; last: number }

export class LoginThrottle {
  private readonly byAddr = new Map<string, Entry>();

  constructor(private readonly limits: ThrottleLimits, private readonly now: () => number = Date.now) {}

  private entry(addr: string): Entry | undefined {
    const e = this.byAddr.get(addr);
    if (e && this.now() - e.last > this.limits.failureMemoryMs) { this.byAddr.delete(addr); return undefined; }
    return e;
  }

  /** Before checking a password: refuse (retry after N s), or wait delayMs, or go. */
  check(addr: string): { refuseForS: number } | { delayMs: number } {
    const e = this.entry(addr);
    const f = e?.failures ?? 0;
    if (e && f >= this.limits.freeFailures * 4) return { refuseForS: Math.ceil((this.limits.failureMemoryMs - (this.now() - e.last)) / 1000) };
    if (f < this.limits.freeFailures) return { delayMs: 0 };
    return { delayMs: Math.min(this.limits.delayMaxMs, this.limits.delayBaseMs * 2 ** (f - this.limits.freeFailures)) };
  }

  failed(addr: string): number {
    const e = this.entry(addr) ?? { failures: 0, last: 0 };
    e.failures++;
    e.last = this.now();
    this.byAddr.delete(addr);
    while (this.byAddr.size >= this.limits.maxEntries) this.byAddr.delete(this.byAddr.keys().next().value!);
    this.byAddr.set(addr, e);
    return e.failures;
  }

  succeeded(addr: string): void {
    this.byAddr.delete(addr);
  }

  failures(addr: string): number {
    return this.entry(addr)?.failures ?? 0;
  }

  size(): number {
    return this.byAddr.size;
  }
}
