// Serf's view of the members (SERF-PROTOCOL.md §3.5): status with the LTime of
// the last intent applied, and when a member failed/left (for reaping).
// Bounded by limits.maxMembers: when full, the oldest left member, then the
// oldest failed member is forgotten (counted as evict.serf_members); alive
// members are never evicted here (memberlist's retention decides those).
import type { Member, MemberStatus } from './types.ts';

export interface MemberState {
  member: Member;
  statusLTime: number;
  /** ms when it became failed/left (0 otherwise). */
  leaveTime: number;
}

export class MemberTable {
  private readonly byName = new Map<string, MemberState>();

  constructor(private readonly max: number, private readonly onEvict: (name: string) => void) {}

  get(name: string): MemberState | undefined { return this.byName.get(name); }
  has(name: string): boolean { return this.byName.has(name); }
  delete(name: string): boolean { return this.byName.delete(name); }
  values(): IterableIterator<MemberState> { return this.byName.values(); }
  get size(): number { return this.byName.size; }

  set(s: MemberState): void {
    this.byName.set(s.member.name, s);
    if (this.byName.size > this.max) this.evictOne(s.member.name);
  }

  private evictOne(keep: string): void {
    let victim: MemberState | undefined;
    for (const st of ['left', 'failed'] as const) {
      for (const s of this.byName.values()) {
        if (s.member.name === keep || s.member.status !== st) continue;
        if (!victim || s.leaveTime < victim.leaveTime) victim = s;
      }
      if (victim) break;
    }
    if (victim) {
      this.byName.delete(victim.member.name);
      this.onEvict(victim.member.name);
    }
  }

  count(status: MemberStatus): number {
    let n = 0;
    for (const s of this.byName.values()) if (s.member.status === status) n++;
    return n;
  }

  withStatus(status: MemberStatus): MemberState[] {
    return [...this.byName.values()].filter((s) => s.member.status === status);
  }
}

export function copyMember(m: Member): Member {
  return { ...m, tags: { ...m.tags } };
}
