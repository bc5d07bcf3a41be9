// Rejoin after a restart or a power cut (brief §9). Retries joining through
// every known peer (snapshot, alive and failed) and the -join seeds with
// jittered exponential backoff (1 s doubling to a 30 s cap) until the node
// sees at least one other alive member; it never gives up.
//
// Once joined it does not stop caring: if the node later finds itself alone
// (everyone else failed), the fast loop starts again. And while joined it
// keeps a slow "reconcile" pass that tries snapshot peers that are not alive
// members, so two groups that came back separately after a neighbourhood-wide
// power cut (A+B found each other, C+D too) still merge into one cluster.
import { formatHostPort } from '../../config/address.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import type { Logger } from '../../obs/log.ts';
import type { Counters } from '../../obs/counters.ts';
import { errorMessage } from '../../errors.ts';

export interface RejoinBackoff { baseMs: number; capMs: number }
export const DEFAULT_REJOIN_BACKOFF: RejoinBackoff = { baseMs: 1000, capMs: 30_000 };

/**
 * Delay before attempt number `attempt` (0-based): "equal jitter" - half of
 * min(cap, base * 2^attempt) fixed plus a random half, so nodes restarted at
 * the same instant spread out but the delay never collapses to ~0.
 */
export function backoffDelay(attempt: number, b: RejoinBackoff, random: () => number): number {
  const exp = Math.min(b.capMs, b.baseMs * Math.pow(2, Math.min(attempt, 30)));
  return Math.floor(exp / 2 + random() * (exp / 2));
}

export interface RejoinHost {
  /** Joins through these addresses; resolves with how many answered (0 = none). */
  join(addrs: string[]): Promise<number>;
  /** Other members currently alive. */
  aliveOthers(): number;
  /** Names of members currently alive (to skip them in reconcile passes). */
  aliveNames(): Set<string>;
}

export interface RejoinPeer { name?: string; addr: string; port: number }

export interface RejoinerOptions {
  host: RejoinHost;
  /** Current candidate list (snapshot peers, then seeds); re-read every attempt. */
  peers: () => RejoinPeer[];
  /** Addresses (host[:port]) given with -join. */
  seeds: string[];
  clock: Clock;
  random?: () => number;
  backoff?: RejoinBackoff;
  /** Parallel join attempts per round (each may wait for a TCP timeout). */
  concurrency?: number;
  /** Period of the reconcile pass while joined (0 disables). Default: the backoff cap. */
  reconcileMs?: number;
  /** Peers tried per reconcile pass. */
  reconcileBatch?: number;
  logger: Logger;
  counters: Counters;
}

function fmt(p: RejoinPeer): string {
  const hp = formatHostPort(p.addr, p.port);
  return hp;
}

export class Rejoiner {
  private attempt = 0;
  private timer: TimerHandle | null = null;
  private reconcileTimer: TimerHandle | null = null;
  private running = false;
  private stopped = true;
  private inFlight = false;
  readonly delays: number[] = []; // last scheduled delays (bounded), for stats/tests
  private readonly random: () => number;
  private readonly backoff: RejoinBackoff;
  private firstRoundSettled: () => void = () => {};
  /** Settles when the first round after start() is over (joined or not), or on stop(). */
  readonly firstRound: Promise<void> = new Promise((r) => { this.firstRoundSettled = r; });

  constructor(private readonly o: RejoinerOptions) {
    this.random = o.random ?? Math.random;
    this.backoff = o.backoff ?? DEFAULT_REJOIN_BACKOFF;
  }

  /** Starts the loop (first attempt immediately). */
  start(): void {
    this.stopped = false;
    this.kick();
    this.scheduleReconcile();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel(); this.timer = null;
    this.reconcileTimer?.cancel(); this.reconcileTimer = null;
    this.running = false;
    this.firstRoundSettled();
  }

  /** Whether the fast retry loop is active (the node is alone). */
  isRetrying(): boolean { return this.running; }

  /** Call on membership changes: restarts the fast loop if the node is alone, ends it once it is not. */
  membershipChanged(): void {
    if (this.stopped) return;
    const others = this.o.host.aliveOthers();
    if (this.running && others > 0) this.joined(); // someone found us first
    else if (!this.running && others === 0) this.kick();
  }

  private kick(): void {
    if (this.stopped || this.running) return;
    if (this.o.host.aliveOthers() > 0) { this.firstRoundSettled(); return; }
    this.running = true;
    this.attempt = 0;
    this.o.logger.info('alone: rejoin loop started');
    this.schedule(0);
  }

  private schedule(ms: number): void {
    this.timer?.cancel();
    this.delays.push(ms);
    if (this.delays.length > 32) this.delays.shift();
    this.timer = this.o.clock.after(ms, () => { void this.round(); });
  }

  private candidates(): string[] {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const p of this.o.peers()) {
      const a = fmt(p);
      if (!seen.has(a)) { seen.add(a); out.push(a); }
    }
    for (const s of this.o.seeds) if (!seen.has(s)) { seen.add(s); out.push(s); }
    return out;
  }

  /**
   * Joins through `addrs` with bounded parallelism until one answers (a single
   * push/pull brings the whole membership); resolves with the number that answered.
   */
  private async tryAll(addrs: string[]): Promise<number> {
    const conc = Math.max(1, this.o.concurrency ?? 4);
    let next = 0;
    let ok = 0;
    const worker = async (): Promise<void> => {
      while (next < addrs.length && !this.stopped && ok === 0) {
        const a = addrs[next++]!;
        try {
          const n = await this.o.host.join([a]);
          if (n > 0) ok++;
        } catch (e) {
          this.o.logger.debug(`rejoin via ${a} failed: ${errorMessage(e)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(conc, addrs.length) }, () => worker()));
    return ok;
  }

  private async round(): Promise<void> {
    try { await this.roundOnce(); } finally { this.firstRoundSettled(); }
  }

  private async roundOnce(): Promise<void> {
    if (this.stopped) return;
    if (this.o.host.aliveOthers() > 0) { this.joined(); return; }
    const addrs = this.candidates();
    if (addrs.length > 0 && !this.inFlight) {
      this.inFlight = true;
      this.o.counters.inc('rejoin.attempts');
      try {
        const n = await this.tryAll(addrs);
        if (n > 0) this.o.logger.info(`rejoin: ${n} of ${addrs.length} peers answered`);
      } finally {
        this.inFlight = false;
      }
    }
    if (this.stopped) return;
    if (this.o.host.aliveOthers() > 0) { this.joined(); return; }
    const d = backoffDelay(this.attempt++, this.backoff, this.random);
    this.schedule(d);
  }

  private joined(): void {
    this.running = false;
    this.timer?.cancel(); this.timer = null;
    this.o.counters.inc('rejoin.joined');
    this.o.logger.info('rejoin: joined the cluster');
  }

  private scheduleReconcile(): void {
    const every = this.o.reconcileMs ?? this.backoff.capMs;
    if (every <= 0 || this.stopped) return;
    const d = Math.floor(every / 2 + this.random() * every);
    this.reconcileTimer = this.o.clock.after(d, () => { void this.reconcile().finally(() => this.scheduleReconcile()); });
  }

  /** While joined: try a few known peers that are not alive members (merges split groups). */
  private async reconcile(): Promise<void> {
    if (this.stopped || this.running || this.inFlight) return;
    const alive = this.o.host.aliveNames();
    const missing = this.o.peers().filter((p) => !p.name || !alive.has(p.name));
    if (missing.length === 0) return;
    // Random sample so a long list is covered over several passes.
    for (let i = missing.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [missing[i], missing[j]] = [missing[j]!, missing[i]!];
    }
    const batch = missing.slice(0, this.o.reconcileBatch ?? 4).map(fmt);
    this.inFlight = true;
    try {
      this.o.counters.inc('rejoin.reconcile');
      await this.tryAll(batch);
    } finally {
      this.inFlight = false;
    }
  }
}
