// Gives memory back after a burst (edge mode).
//
// Every table of the agent is bounded, so its live heap stays flat (~10 MB)
// whatever the federation size. What does not stay flat on its own is what the
// process keeps *after* a burst: a push/pull listing 10,000 members, or a
// flood of alive messages, grows V8's old generation and the malloc heap for
// a moment, and V8 then keeps those pages committed while the agent is busy
// with steady gossip (its memory reducer waits for an idle isolate, which an
// agent answering probes rarely is). Measured: heap committed 17 MB for
// 10 MB live, RssAnon x1.9 after growing from 100 to 10,000 members.
//
// The governor looks at process.memoryUsage() every `memoryCheckIntervalMs`
// and, when the committed heap exceeds the live heap by more than
// `memoryReclaimSlackBytes` over what it did right after the last reclaim (or
// anonymous RSS grew that much over its settled level), runs one last-resort major GC
// (compacts, releases free pages to the OS),
// at most once per `memoryReclaimMinGapMs`. On a ~15 MB heap that GC takes
// about 10-30 ms; it happens only after bursts. Each one is counted
// (memory.reclaim) with the bytes it gave back (memory.reclaimed_kb).
//
// Two more reclaims need no burst (memory.reclaim.settle, .refresh). V8 keeps
// the bytecode of every function that ever ran, and an agent runs most of its
// code once, at start (flags, config, plug-ins, probing the host): ~1 MB of
// bytecode plus the feedback and the heap pages around it. A memory-reducing
// GC flushes bytecode that is not running (it is compiled again, lazily, if
// the function ever runs again) and compacts: measured on the idle executable,
// RssAnon 18.7 -> 14.4 MB. So one reclaim runs `settleAfterMs` after start
// (start-up done) and again that long after each burst reclaim (the burst's
// code), and another every `refreshIntervalMs` after the last one
// (what one-off commands and the recompiled hot paths left behind; 10 min by
// default: one such GC costs 30-120 ms of CPU on a 2-core box, 2-10 % of an
// idle agent's CPU at that rate).
//
// Why the slack is counted from the last reclaim and not from zero: even
// straight after a full compacting GC, V8 keeps some committed heap that holds
// nothing (the young generation's semi-spaces, pooled pages, code space). On
// Node 20 that floor is ~1.6 MB; on Node 22 and 24 it is 2.3-2.7 MB, above the
// 2 MB slack, so "committed - live > slack" held forever and the governor ran a
// last-resort GC (two full mark-compacts, 10-25 ms each) every minGapMs (10 s):
// about half of an idle agent's CPU on Node 22 (issue 17 point 4, measured with
// --trace-gc; docs in bench/README.md, section cpu).
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Counters } from '../obs/counters.ts';
import type { Logger } from '../obs/log.ts';

/**
 * What the governor watches. `rss` is the resident memory a reclaim can give
 * back: RssAnon (processUsage()), not VmRSS, whose file pages (the executable's
 * code and data, paged in as code first runs: several MB over an agent's first
 * minutes after a cold start) no GC can shrink; counted in, they asked for
 * reclaims that gave nothing back (~1 a minute per agent in the 50-node bench).
 */
export interface MemoryUsage {
  rss: number; heapTotal: number; heapUsed: number; external: number;
  /** Committed young generation (bytes): a reclaim uncommits it and the next allocations commit it again. */
  young?: number;
}

/** RssAnon of /proc/self/status in bytes; null where there is no such line (not Linux). */
export function rssAnon(status: () => string = () => readFileSync('/proc/self/status', 'latin1')): number | null {
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(status());
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** process.memoryUsage() with RssAnon as `rss` (VmRSS where RssAnon cannot be read). */
export function processUsage(): MemoryUsage {
  const m = process.memoryUsage();
  let young = 0;
  for (const sp of getHeapSpaceStatistics()) if (sp.space_name === 'new_space' || sp.space_name === 'new_large_object_space') young += sp.space_size;
  return { rss: rssAnon() ?? m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, young };
}

export interface MemoryGovernorOptions {
  checkIntervalMs: number;
  slackBytes: number;
  minGapMs: number;
  /** A reclaim this long after start() whatever the slack (0 = none). */
  settleAfterMs?: number;
  /** A reclaim whenever this long passed since the last one, whatever the slack (0 = none). */
  refreshIntervalMs?: number;
  counters: Counters;
  logger: Logger;
  /** Injected for tests; default processUsage() (RssAnon as rss). */
  usage?: () => MemoryUsage;
  /** Injected for tests; default a last-resort V8 major GC. */
  collect?: () => void;
  now?: () => number;
  setInterval?: (fn: () => void, ms: number) => { unref?: () => void };
  clearInterval?: (t: unknown) => void;
}

export type GcFunction = (opts?: { type?: string; execution?: string; flavor?: string }) => void;

let gcFunction: GcFunction | null = null;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/**
 * V8's gc(): the global one when the process runs with --expose-gc (the single
 * executable carries it in its execArgv: tools/build-sea.mjs); otherwise the flag
 * is set at run time and gc() read from a fresh context. That second V8 context
 * stays alive as long as its gc() does (the agent's life) and costs ~0.2 MB of
 * RssAnon (issue 17 point 2), hence the global one first.
 */
export function exposedGc(global: { gc?: unknown } = globalThis): GcFunction {
  if (!gcFunction) {
    if (typeof global.gc === 'function') gcFunction = global.gc as GcFunction;
    else {
      setFlagsFromString('--expose-gc');
      gcFunction = runInNewContext('gc') as GcFunction;
    }
  }
  return gcFunction;
}

/** A memory-reducing major GC (compacts, gives free pages back to the OS). */
export function lastResortGc(): void {
  const gc = exposedGc();
  // The options form (V8 >= 12, Node 22) asks for a memory-reducing GC; the
  // V8 of Node 20 mishandles it (nothing collected), so there: a plain full GC.
  if (NODE_MAJOR >= 22) gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  else gc();
}

/** Streak that makes gapFor() return its cap. */
const USELESS_STREAK = 20;

export class MemoryGovernor {
  private timer: unknown = null;
  private lastReclaim = -Infinity;
  /** RSS after the last reclaim (or at start): growth beyond it + slack triggers one. */
  private settledRss = 0;
  /** Committed-but-unused heap right after the last reclaim (0 before the first): the runtime's floor. */
  private settledHeapSlack = 0;
  /** Reclaims in a row that RSS growth alone asked for: each doubles the gap before the next such one. */
  private rssOnlyStreak = 0;
  /** When the start-up settle reclaim is due (null: done or off). */
  private settleAt: number | null = null;
  private startedAt = 0;
  private readonly usage: () => MemoryUsage;
  private readonly collect: () => void;
  private readonly now: () => number;

  constructor(private readonly o: MemoryGovernorOptions) {
    this.usage = o.usage ?? processUsage;
    this.collect = o.collect ?? lastResortGc;
    this.now = o.now ?? Date.now;
  }

  start(): void {
    if (this.timer !== null) return;
    this.settledRss = this.usage().rss;
    this.startedAt = this.now();
    this.settleAt = (this.o.settleAfterMs ?? 0) > 0 ? this.startedAt + this.o.settleAfterMs! : null;
    const every = this.o.setInterval ?? ((fn, ms) => setInterval(fn, ms));
    const t = every(() => this.check(), this.o.checkIntervalMs);
    t.unref?.();
    this.timer = t;
  }

  stop(): void {
    if (this.timer === null) return;
    (this.o.clearInterval ?? ((x) => clearInterval(x as NodeJS.Timeout)))(this.timer);
    this.timer = null;
  }

  /** One check; returns true when it reclaimed. */
  check(): boolean {
    const u = this.usage();
    const now = this.now();
    const heapSlack = u.heapTotal - u.heapUsed - this.settledHeapSlack;
    const rssGrowth = u.rss - this.settledRss;
    const refresh = this.o.refreshIntervalMs ?? 0;
    const settle = this.settleAt !== null && now >= this.settleAt;
    const stale = !settle && this.settleAt === null && refresh > 0 && now - Math.max(this.lastReclaim, this.startedAt) >= refresh;
    const heapBurst = heapSlack > this.o.slackBytes;
    if (!settle && !stale && !heapBurst && rssGrowth <= this.o.slackBytes) {
      if (u.rss < this.settledRss) this.settledRss = u.rss;
      return false;
    }
    if (!settle && !stale && now - this.lastReclaim < this.gapFor(heapBurst)) return false;
    const rssOnly = !settle && !stale && !heapBurst;
    this.rssOnlyStreak = rssOnly ? this.rssOnlyStreak + 1 : settle || stale ? this.rssOnlyStreak : 0;
    if (settle) this.settleAt = null;
    this.lastReclaim = now;
    try {
      this.collect();
    } catch (e) {
      this.o.counters.inc('error.memory_reclaim');
      this.o.logger.warn(`memory reclaim failed: ${(e as Error).message}`);
      return false;
    }
    const after = this.usage();
    // The young generation a last-resort GC uncommitted (on V8 12/13: both 1 MB
    // semi-spaces) is committed again by the next allocations within seconds:
    // it is part of the level RSS settles at, not growth (counted in, every
    // reclaim's 2 MB "gain" grew back and asked for the next reclaim).
    this.settledRss = after.rss + Math.max(0, (u.young ?? 0) - (after.young ?? 0));
    this.settledHeapSlack = Math.max(0, after.heapTotal - after.heapUsed);
    // RSS growth that a reclaim could not give back (less than half the slack
    // below what it was) is the working set growing (tables filling as a
    // cluster is joined), not garbage: no more RSS-only reclaims until the
    // longest gap (the refresh interval) has passed.
    if (rssOnly && u.rss - this.settledRss < this.o.slackBytes / 2) this.rssOnlyStreak = USELESS_STREAK;
    const freedKb = Math.max(0, Math.round((u.rss - after.rss) / 1024));
    this.o.counters.inc('memory.reclaim');
    if (settle) this.o.counters.inc('memory.reclaim.settle');
    else if (stale) this.o.counters.inc('memory.reclaim.refresh');
    else this.o.counters.inc(rssOnly ? 'memory.reclaim.rss' : 'memory.reclaim.heap');
    // A burst: the code it ran (push/pull merge, alive handling) is flushed by one
    // more reclaim once it is over, as after start-up (not after a repeated
    // RSS-only reclaim: that is the steady level coming back, not a burst).
    if (!settle && !stale && (this.o.settleAfterMs ?? 0) > 0 && this.rssOnlyStreak <= 1) this.settleAt = now + this.o.settleAfterMs!;
    this.o.counters.inc('memory.reclaimed_kb', freedKb);
    this.o.logger.debug(`reclaimed ${freedKb} kB in ${this.now() - now} ms (${settle ? 'settle' : stale ? 'refresh' : rssOnly ? 'rss' : 'heap'}; rss ${mb(u.rss)} -> ${mb(after.rss)} MB, settled ${mb(this.settledRss)}; heap ${mb(u.heapUsed)}/${mb(u.heapTotal)} MB before, ${mb(after.heapUsed)}/${mb(after.heapTotal)} MB after)`);
    return true;
  }

  /**
   * Least time since the last reclaim before the next burst reclaim. A heap
   * burst (V8's committed heap over its floor) waits minGapMs. RSS growth alone
   * waits minGapMs x 2^(reclaims it asked for in a row), up to the refresh
   * interval: a reclaiming GC shrinks the young generation and the malloc
   * arenas below their working size, RSS grows back to it within a minute or
   * two, and at a fixed gap that regrowth asked for a reclaim again and again
   * (measured on Node 22 and 24: a pair of full GCs every 60-100 s in a steady
   * cluster). A real burst also grows the heap, which resets the streak.
   */
  private gapFor(heapBurst: boolean): number {
    if (heapBurst || this.rssOnlyStreak === 0) return this.o.minGapMs;
    const cap = Math.max(this.o.minGapMs, this.o.refreshIntervalMs || this.o.minGapMs * 64);
    return Math.min(cap, this.o.minGapMs * 2 ** Math.min(this.rssOnlyStreak, USELESS_STREAK));
  }
}

function mb(n: number): string {
  return (n / 1048576).toFixed(1);
}
