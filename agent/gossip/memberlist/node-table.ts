// The member table: every node we keep, plus the probe order. Bounded by
// limits.maxMembers ("edge" mode): when full, a new node takes the place of a
// dead/left one first, else of the member with the lowest retention priority
// (RetentionDelegate; self is never evicted) if the newcomer's priority is
// strictly higher; otherwise the newcomer is not stored (its gossip is still
// relayed). Strictness keeps a full table stable instead of churning.

import type { Counters } from '../../obs/counters.ts';
import type { MemberNode, NodeStateName, RetentionDelegate } from './types.ts';

/** Random integer in [0, n). */
export function randInt(n: number): number {
  return n <= 0 ? 0 : Math.floor(Math.random() * n);
}

/** Internal per-node state: the public view plus the raw address bytes. */
export interface NodeEntry extends MemberNode {
  addrBytes: Uint8Array;
}

/** How long a computed eviction victim is reused (table changes invalidate it at once). */
const VICTIM_CACHE_MS = 1000;

export const STATE_CODE: Record<NodeStateName, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };

export function publicView(n: NodeEntry): MemberNode {
  return {
    name: n.name, addr: n.addr, port: n.port, meta: n.meta, state: n.state, incarnation: n.incarnation,
    pMin: n.pMin, pMax: n.pMax, pCur: n.pCur, dMin: n.dMin, dMax: n.dMax, dCur: n.dCur, stateChange: n.stateChange,
  };
}

export function isDeadOrLeft(s: NodeStateName): boolean { return s === 'dead' || s === 'left'; }

export class NodeTable {
  private readonly byName = new Map<string, NodeEntry>();
  /** Probe order (names); new nodes are inserted at a random position. */
  private order: string[] = [];
  probeIndex = 0;

  constructor(
    private readonly selfName: string,
    private readonly maxMembers: () => number,
    private readonly counters: Counters,
    private readonly retention: () => RetentionDelegate | undefined,
    private readonly onEvict: (n: NodeEntry) => void,
  ) {}

  get(name: string): NodeEntry | undefined { return this.byName.get(name); }
  size(): number { return this.byName.size; }
  values(): IterableIterator<NodeEntry> { return this.byName.values(); }
  probeOrder(): readonly string[] { return this.order; }

  /**
   * The member a newcomer would replace (dead/left first, else lowest priority),
   * cached for VICTIM_CACHE_MS or until the table changes: a 50,000-member
   * push/pull into a full table must not rescan (and re-rank) it per node.
   */
  private victimCache: { at: number; victim: NodeEntry | undefined; prio: number; dead: boolean } | null = null;

  private findVictim(now: number): { victim: NodeEntry | undefined; prio: number; dead: boolean } {
    const c = this.victimCache;
    if (c && now - c.at < VICTIM_CACHE_MS && (!c.victim || this.byName.get(c.victim.name) === c.victim)) return c;
    let deadVictim: NodeEntry | undefined;
    let victim: NodeEntry | undefined;
    let victimPrio = Infinity;
    const ret = this.retention();
    for (const n of this.byName.values()) {
      if (n.name === this.selfName) continue;
      if (isDeadOrLeft(n.state)) {
        if (!deadVictim || n.stateChange < deadVictim.stateChange) deadVictim = n;
        continue;
      }
      if (deadVictim) continue; // a dead one will do; skip priority work
      const p = ret ? safePriority(ret, n) : 0;
      if (p < victimPrio || (p === victimPrio && victim && n.stateChange < victim.stateChange)) {
        victim = n; victimPrio = p;
      }
    }
    const r = deadVictim
      ? { at: now, victim: deadVictim, prio: -Infinity, dead: true }
      : { at: now, victim, prio: victimPrio, dead: false };
    this.victimCache = r;
    return r;
  }

  /**
   * Makes room for one more node if the table is full. Returns false (and counts)
   * when the newcomer should not be stored.
   */
  admit(candidate: NodeEntry, now: number): boolean {
    if (this.byName.size < this.maxMembers()) return true;
    const { victim, prio, dead } = this.findVictim(now);
    if (victim && dead) {
      this.evict(victim, 'evict.dead');
      return true;
    }
    const ret = this.retention();
    const candPrio = ret ? safePriority(ret, candidate) : 0;
    if (victim && candPrio > prio) {
      this.evict(victim, 'evict.low-priority');
      return true;
    }
    this.counters.inc('evict.newcomer');
    return false;
  }

  /** Adds a node (caller ran admit first) at a random position of the probe order. */
  insert(n: NodeEntry): void {
    this.victimCache = null;
    this.byName.set(n.name, n);
    const offset = randInt(this.order.length + 1);
    this.order.push(n.name);
    const last = this.order.length - 1;
    [this.order[offset], this.order[last]] = [this.order[last]!, this.order[offset]!];
  }

  remove(name: string): void {
    if (!this.byName.delete(name)) return;
    this.victimCache = null;
    const i = this.order.indexOf(name);
    if (i >= 0) {
      this.order.splice(i, 1);
      if (i < this.probeIndex) this.probeIndex--;
    }
  }

  /** After a full probe pass: forget dead/left nodes older than `deadlineMs` ago and reshuffle. */
  resetProbeOrder(now: number, gossipToTheDeadMs: number): NodeEntry[] {
    this.victimCache = null;
    const removed: NodeEntry[] = [];
    for (const n of [...this.byName.values()]) {
      if (n.name !== this.selfName && isDeadOrLeft(n.state) && now - n.stateChange > gossipToTheDeadMs) {
        this.byName.delete(n.name);
        removed.push(n);
      }
    }
    this.order = [...this.byName.keys()];
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = randInt(i + 1);
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
    }
    this.probeIndex = 0;
    return removed;
  }

  /** Up to k random nodes satisfying `pred` (reservoir-free: bounded random tries, then a scan). */
  randomNodes(k: number, pred: (n: NodeEntry) => boolean): NodeEntry[] {
    const out: NodeEntry[] = [];
    const n = this.order.length;
    if (n === 0 || k <= 0) return out;
    const seen = new Set<string>();
    for (let tries = 0; tries < 3 * n && out.length < k; tries++) {
      const name = this.order[randInt(n)]!;
      if (seen.has(name)) continue;
      seen.add(name);
      const e = this.byName.get(name);
      if (e && pred(e)) out.push(e);
    }
    return out;
  }

  private evict(n: NodeEntry, counter: string): void {
    this.counters.inc(counter);
    this.remove(n.name);
    this.onEvict(n);
  }
}

function safePriority(r: RetentionDelegate, n: MemberNode): number {
  try { return r.retainPriority(publicView(n as NodeEntry)); } catch { return 0; }
}
