// Event coalescing as the serf agent configures it (SERF-PROTOCOL.md §3.7):
// member events are merged per member (only the newest type survives, an
// unchanged repeat of what was already delivered is dropped, updates always
// pass), user events flagged CC are merged per name (only the newest LTime
// survives). A batch is flushed `periodMs` after its first event, or earlier
// after `quiescentMs` without a new one. Queries and CC=false user events pass
// straight through.
import type { Clock, TimerHandle } from '../clock.ts';
import type { Member, MemberEvent, MemberEventType, SerfEvent, UserEvent } from './types.ts';

export interface CoalesceTiming { periodMs: number; quiescentMs: number }

/** Holds a batch and decides when to flush it (shared by both coalescers). */
class Batcher {
  private period: TimerHandle | null = null;
  private quiet: TimerHandle | null = null;
  constructor(private readonly clock: Clock, private readonly t: CoalesceTiming, private readonly flush: () => void) {}

  touched(): void {
    if (!this.period) this.period = this.clock.after(this.t.periodMs, () => this.fire());
    this.quiet?.cancel();
    this.quiet = this.clock.after(this.t.quiescentMs, () => this.fire());
  }

  private fire(): void {
    this.period?.cancel(); this.quiet?.cancel();
    this.period = null; this.quiet = null;
    this.flush();
  }

  stop(): void { this.period?.cancel(); this.quiet?.cancel(); this.period = null; this.quiet = null; }
}

export class MemberEventCoalescer {
  private latest = new Map<string, { type: MemberEventType; member: Member }>();
  /** What was last delivered per member (bounded: forgotten on reap). */
  private readonly lastDelivered = new Map<string, MemberEventType>();
  private readonly batcher: Batcher;

  constructor(clock: Clock, timing: CoalesceTiming, private readonly out: (e: MemberEvent) => void, private readonly maxTracked = 100_000) {
    this.batcher = new Batcher(clock, timing, () => this.flush());
  }

  push(e: MemberEvent): void {
    for (const m of e.members) this.latest.set(m.name, { type: e.type, member: m });
    this.batcher.touched();
  }

  flush(): void {
    const byType = new Map<MemberEventType, Member[]>();
    for (const [name, ev] of this.latest) {
      const prev = this.lastDelivered.get(name);
      if (prev === ev.type && ev.type !== 'member-update') continue;
      this.lastDelivered.delete(name);
      if (ev.type !== 'member-reap') this.lastDelivered.set(name, ev.type);
      // Bounded: forgetting the oldest only means one repeat may be delivered again.
      if (this.lastDelivered.size > this.maxTracked) this.lastDelivered.delete(this.lastDelivered.keys().next().value as string);
      const list = byType.get(ev.type) ?? [];
      list.push(ev.member);
      byType.set(ev.type, list);
    }
    this.latest = new Map();
    for (const [type, members] of byType) this.out({ type, members });
  }

  stop(): void { this.batcher.stop(); }
}

export class UserEventCoalescer {
  private latest = new Map<string, { ltime: number; events: UserEvent[] }>();
  private readonly batcher: Batcher;

  constructor(clock: Clock, timing: CoalesceTiming, private readonly out: (e: UserEvent) => void, private readonly maxNames = 1024) {
    this.batcher = new Batcher(clock, timing, () => this.flush());
  }

  push(e: UserEvent): void {
    // Bounded: a flood of distinct names flushes the batch early instead of growing it.
    if (this.latest.size >= this.maxNames && !this.latest.has(e.name)) this.flush();
    const cur = this.latest.get(e.name);
    if (!cur || e.ltime > cur.ltime) this.latest.set(e.name, { ltime: e.ltime, events: [e] });
    else if (e.ltime === cur.ltime) cur.events.push(e);
    else return; // older than what is already pending for this name
    this.batcher.touched();
  }

  flush(): void {
    const batch = this.latest;
    this.latest = new Map();
    for (const { events } of batch.values()) for (const e of events) this.out(e);
  }

  stop(): void { this.batcher.stop(); }
}

/**
 * Routes serf events through the coalescers (those with a non-zero period)
 * and everything else straight to `out`.
 */
export class EventCoalescing {
  private readonly member: MemberEventCoalescer | null;
  private readonly user: UserEventCoalescer | null;

  constructor(clock: Clock, member: CoalesceTiming | null, user: CoalesceTiming | null, private readonly out: (e: SerfEvent) => void, maxMembers = 100_000) {
    this.member = member && member.periodMs > 0 ? new MemberEventCoalescer(clock, member, out, maxMembers) : null;
    this.user = user && user.periodMs > 0 ? new UserEventCoalescer(clock, user, out, Math.max(16, Math.min(maxMembers, 1024))) : null;
  }

  push(e: SerfEvent): void {
    if (e.type === 'user') {
      if (e.coalesce && this.user) this.user.push(e); else this.out(e);
    } else if (e.type === 'query') {
      this.out(e);
    } else if (this.member) {
      this.member.push(e);
    } else {
      this.out(e);
    }
  }

  /** Delivers whatever is pending now (used at shutdown). */
  flush(): void { this.member?.flush(); this.user?.flush(); }

  stop(): void { this.member?.stop(); this.user?.stop(); }
}
