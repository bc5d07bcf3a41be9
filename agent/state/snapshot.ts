// Rejoin snapshot: what a node needs to find its cluster again after a power
// cut. Unlike serf's append-only text snapshot (§3.11) this is one small JSON
// document rewritten atomically (AtomicFile), because on flash-based boxes we
// want few writes and never a torn file:
//   - a bounded list (limits.snapshotPeers) of known peers, alive AND failed
//     (after a neighbourhood-wide power cut every peer looks failed, and those
//     are exactly the ones to try), with address and last-seen time;
//   - the three Lamport clocks (witnessed on start so our intents/events are
//     not taken as old);
//   - `left`: we left gracefully, so do not rejoin through old peers.
// Writes are coalesced: at most one every `minIntervalMs` (default 5 s).
import type { Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import type { FileStore } from './atomic-file.ts';
import { AgentError, errorMessage } from '../errors.ts';

export const SNAPSHOT_VERSION = 1;

export interface SnapshotPeer {
  name: string;
  addr: string;
  port: number;
  /** ms since epoch when we last knew it alive. */
  lastSeen: number;
  status: 'alive' | 'failed';
}

export interface SnapshotData {
  version: number;
  node: string;
  clock: number;
  eventClock: number;
  queryClock: number;
  left: boolean;
  peers: SnapshotPeer[];
  savedAt: number;
}

export function emptySnapshot(node: string): SnapshotData {
  return { version: SNAPSHOT_VERSION, node, clock: 0, eventClock: 0, queryClock: 0, left: false, peers: [], savedAt: 0 };
}

export function encodeSnapshot(s: SnapshotData): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(s) + '\n');
}

function nonNegInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new AgentError('E_DECODE', `snapshot: bad ${what}`);
  return v;
}

/** Parses and validates a snapshot; throws E_DECODE on anything malformed. */
export function decodeSnapshot(buf: Uint8Array, maxPeers = Infinity): SnapshotData {
  let raw: unknown;
  try { raw = JSON.parse(new TextDecoder().decode(buf)); } catch (e) {
    throw new AgentError('E_DECODE', `snapshot: not JSON: ${errorMessage(e)}`);
  }
  if (!raw || typeof raw !== 'object') throw new AgentError('E_DECODE', 'snapshot: not an object');
  const o = raw as Record<string, unknown>;
  if (o.version !== SNAPSHOT_VERSION) throw new AgentError('E_DECODE', `snapshot: unsupported version ${String(o.version)}`);
  if (typeof o.node !== 'string') throw new AgentError('E_DECODE', 'snapshot: bad node');
  if (!Array.isArray(o.peers)) throw new AgentError('E_DECODE', 'snapshot: bad peers');
  const peers: SnapshotPeer[] = [];
  for (const p of o.peers as unknown[]) {
    if (peers.length >= maxPeers) break;
    if (!p || typeof p !== 'object') continue;
    const q = p as Record<string, unknown>;
    if (typeof q.name !== 'string' || typeof q.addr !== 'string' || q.addr === '') continue;
    if (typeof q.port !== 'number' || !Number.isInteger(q.port) || q.port < 1 || q.port > 65535) continue;
    peers.push({
      name: q.name,
      addr: q.addr,
      port: q.port,
      lastSeen: typeof q.lastSeen === 'number' && q.lastSeen >= 0 ? q.lastSeen : 0,
      status: q.status === 'alive' ? 'alive' : 'failed',
    });
  }
  return {
    version: SNAPSHOT_VERSION,
    node: o.node,
    clock: nonNegInt(o.clock, 'clock'),
    eventClock: nonNegInt(o.eventClock, 'eventClock'),
    queryClock: nonNegInt(o.queryClock, 'queryClock'),
    left: o.left === true,
    peers,
    savedAt: typeof o.savedAt === 'number' ? o.savedAt : 0,
  };
}

export interface SnapshotterOptions {
  store: FileStore;
  node: string;
  maxPeers: number;
  /** Minimum time between two writes (coalescing); default 5000 ms. */
  minIntervalMs?: number;
  /**
   * When only the Lamport clocks moved (events/queries flowing, no peer change),
   * write at most this often; default 60 s. Clocks that lag after a cut are
   * caught up by the first push/pull, so this spares flash at little cost.
   */
  clockIntervalMs?: number;
  now?: () => number;
  logger: Logger;
  counters: Counters;
}

/**
 * Keeps the in-memory snapshot and writes it at most once per interval.
 * Owner calls: peerAlive / peerFailed / peerGone on member changes, clocks()
 * as they move, leave() on graceful leave, joined() once back in a cluster.
 */
export class Snapshotter {
  private data: SnapshotData;
  private readonly peers = new Map<string, SnapshotPeer>();
  private dirty = false;
  private lastWrite = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private writing: Promise<void> | null = null;
  private closed = false;
  private readonly minInterval: number;
  private readonly clockInterval: number;
  private readonly now: () => number;
  writes = 0;

  constructor(private readonly o: SnapshotterOptions) {
    this.data = emptySnapshot(o.node);
    this.minInterval = o.minIntervalMs ?? 5000;
    this.clockInterval = Math.max(this.minInterval, o.clockIntervalMs ?? 60_000);
    this.now = o.now ?? Date.now;
  }

  /**
   * Reads the stored snapshot (null if none or unreadable - counted and logged,
   * never fatal). What was recorded before (the node starts its plug-ins before
   * it loads the snapshot) is kept: peers seen since win, clocks take the max.
   */
  load(): Promise<SnapshotData | null> {
    this.loading ??= this.loadOnce();
    return this.loading;
  }
  /** Set by the first load(); a write never comes before it (it would replace the saved peers unread). */
  private loading: Promise<SnapshotData | null> | null = null;

  private async loadOnce(): Promise<SnapshotData | null> {
    let buf: Uint8Array | null;
    try { buf = await this.o.store.read(); } catch (e) {
      this.o.counters.inc('snapshot.read_errors');
      this.o.logger.warn(`cannot read snapshot: ${errorMessage(e)}`);
      return null;
    }
    if (!buf) return null;
    let s: SnapshotData;
    try { s = decodeSnapshot(buf, this.o.maxPeers); } catch (e) {
      this.o.counters.inc('snapshot.decode_errors');
      let what = 'ignoring it';
      if (this.o.store.moveAside) {
        what = await this.o.store.moveAside().then((to) => `moved it to ${to}`, (m: unknown) => `ignoring it (${errorMessage(m)})`);
      }
      const path = (this.o.store as { path?: string }).path;
      this.o.logger.warn(`${path ? `${path}: ` : ''}corrupt snapshot: ${errorMessage(e)}; ${what}, starting without peers from it`);
      return null;
    }
    const seen = this.data;
    this.data = {
      ...s, node: this.o.node,
      clock: Math.max(s.clock, seen.clock), eventClock: Math.max(s.eventClock, seen.eventClock), queryClock: Math.max(s.queryClock, seen.queryClock),
      left: s.left,
    };
    for (const p of s.peers) if (p.name !== this.o.node && !this.peers.has(p.name)) this.peers.set(p.name, p);
    this.trim();
    return s;
  }

  current(): SnapshotData {
    return { ...this.data, peers: [...this.peers.values()].map((p) => ({ ...p })) };
  }

  /** Peers to try when rejoining, most recently seen first. */
  peerAddresses(): { name: string; addr: string; port: number }[] {
    return [...this.peers.values()].sort((a, b) => b.lastSeen - a.lastSeen).map(({ name, addr, port }) => ({ name, addr, port }));
  }

  peerAlive(name: string, addr: string, port: number): void {
    if (name === this.o.node) return;
    const prev = this.peers.get(name);
    const now = this.now();
    // lastSeen only needs coarse precision: re-confirming a known alive peer with
    // the same address does not dirty the file (spares flash).
    if (prev && prev.status === 'alive' && prev.addr === addr && prev.port === port) { prev.lastSeen = now; return; }
    this.peers.set(name, { name, addr, port, lastSeen: now, status: 'alive' });
    this.trim();
    this.touch();
  }

  peerFailed(name: string): void {
    const p = this.peers.get(name);
    if (!p || p.status === 'failed') return;
    p.status = 'failed';
    p.lastSeen = this.now();
    this.touch();
  }

  /** Left gracefully or reaped: no reason to try it again. */
  peerGone(name: string): void {
    if (this.peers.delete(name)) this.touch();
  }

  clocks(clock: number, eventClock: number, queryClock: number): void {
    if (clock === this.data.clock && eventClock === this.data.eventClock && queryClock === this.data.queryClock) return;
    this.data.clock = Math.max(this.data.clock, clock);
    this.data.eventClock = Math.max(this.data.eventClock, eventClock);
    this.data.queryClock = Math.max(this.data.queryClock, queryClock);
    this.touch(this.clockInterval);
  }

  /** Graceful leave: written immediately (the process is about to stop). */
  async leave(): Promise<void> {
    this.data.left = true;
    this.dirty = true;
    await this.flush();
  }

  joined(): void {
    if (!this.data.left) return;
    this.data.left = false;
    this.touch();
  }

  private trim(): void {
    if (this.peers.size <= this.o.maxPeers) return;
    // Keep alive peers first, then the most recently seen (ties: the most recently added).
    const keep = [...this.peers.values()].reverse()
      .sort((a, b) => (a.status === b.status ? b.lastSeen - a.lastSeen : a.status === 'alive' ? -1 : 1))
      .slice(0, this.o.maxPeers);
    const dropped = this.peers.size - keep.length;
    this.peers.clear();
    for (const p of keep) this.peers.set(p.name, p);
    this.o.counters.inc('evict.snapshot_peers', dropped);
  }

  /** Marks the snapshot dirty and makes sure a write happens within `interval` of the last one. */
  private touch(interval = this.minInterval): void {
    this.dirty = true;
    if (this.closed) return;
    const at = Math.max(this.now(), this.lastWrite + interval);
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => { this.timer = null; void this.flush(); }, at - this.now());
    this.timer.unref?.();
  }

  /** Writes now if anything changed since the last write. */
  async flush(): Promise<void> {
    await this.load();
    if (this.writing) await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    this.lastWrite = this.now();
    const doc: SnapshotData = { ...this.current(), savedAt: this.lastWrite };
    this.writing = this.o.store.write(encodeSnapshot(doc)).then(
      () => { this.writes++; },
      (e) => {
        this.dirty = true;
        this.o.counters.inc('snapshot.write_errors');
        this.o.logger.warn(`snapshot write failed: ${errorMessage(e)}`);
      },
    );
    try { await this.writing; } finally { this.writing = null; }
  }

  /** Final write and stop the timer. */
  async close(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    await this.flush();
    this.closed = true;
  }
}
