// Replay protection that needs no clock: every operator numbers its commands
// (sender.ts OperatorSequence: consecutive per key), and a node obeys each
// number at most once. Commands sent at once (the GUI firing several, two
// `remote` processes of one operator) may arrive out of order, so a strict
// "higher than the last one" would refuse the slower ones; instead each key
// has a sliding anti-replay window as IPsec's (RFC 4303 §3.4.3):
//
//   top     the highest number accepted from that key
//   bitmap  bit i set <=> number (top - i) was accepted, for i < W
//           (W = limits.remoteReplayWindow)
//
// A number above `top` is new (the window slides up to it); one within the
// window is new only when its bit is clear; one W or more below `top` is
// refused (it may have run before and fallen out of the window).
//
// Write-ahead: the window with the number marked is persisted (state/
// atomic-file.ts: temp file, fsync, rename, fsync dir) BEFORE the command runs.
// A power cut after the write and before the command merely loses that
// command; a cut before the write means it never ran. The persisted window
// holds every accepted number that is still inside it, and everything below
// it is refused anyway, so no reboot reopens a number that ran. A gateway that
// boots in 1970 is unaffected because no time is involved.
//
// Flash wear: remote commands are rare (operators typing, a GUI click), and
// their rate per key is capped (limits.remoteRatePerMinute), so this is at most
// a few small writes a minute. Accepts that arrive while a write is in flight
// are coalesced: they all wait for ONE next write carrying every new number,
// so a burst of N commands costs at most two writes, not N.
//
// File: CBOR map keyId -> [top, bitmap bytes (big-endian, W bits)]. The
// format of earlier versions, keyId -> top, loads as a full window (every
// number up to `top` taken: the strict rule they enforced).
import { decode, encode } from 'cbor-x';
import { AgentError } from '../errors.ts';
import type { FileStore } from '../state/atomic-file.ts';

interface Window { top: number; bits: bigint }

/** Why a number is not fresh. */
export type Staleness = 'duplicate' | 'too-old' | 'state-lost';

export class SequenceStore {
  /** Window per key id (includes reservations not yet durable). */
  private readonly windows = new Map<string, Window>();
  private readonly mask: bigint;
  private writing: Promise<void> | null = null;
  private dirty = false;
  private waiters: { resolve(): void; reject(e: unknown): void }[] = [];
  writes = 0;
  /**
   * The file was unreadable at start (moved aside): which numbers already ran
   * is unknown, so no key that had a window may run anything (a replay of an
   * old command would pass) until a local operator unlocks it with a floor
   * (unlock(): numbers up to the floor stay refused). See agent/state/README.md.
   */
  lost = false;

  private constructor(private readonly file: FileStore, readonly windowSize: number) {
    this.mask = (1n << BigInt(windowSize)) - 1n;
  }

  static async load(file: FileStore, windowSize = 256): Promise<SequenceStore> {
    if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize > 4096) throw new AgentError('E_INVALID', `replay window ${windowSize}: 1..4096`);
    const s = new SequenceStore(file, windowSize);
    let v: unknown;
    if (file.readOrMoveAside) {
      // A corrupt file is moved aside and remote control stays up, but locked (see `lost`).
      v = await file.readOrMoveAside((b) => {
        const d = decode(b) as unknown;
        if (d === null || typeof d !== 'object' || Array.isArray(d) || d instanceof Uint8Array) throw new AgentError('E_DECODE', 'not a sequence map');
        for (const e of Object.values(d as Record<string, unknown>)) {
          if (!(typeof e === 'number' || (Array.isArray(e) && typeof e[0] === 'number' && e[1] instanceof Uint8Array))) throw new AgentError('E_DECODE', 'not a sequence map');
        }
        return d;
      }, 'remote commands from every key are refused until `cloudy-agent operator unlock KEY -floor N` is run here', () => {}, () => { s.lost = true; });
    } else {
      const bytes = await file.read();
      if (bytes) {
        try { v = decode(bytes); } catch { v = null; }
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AgentError('E_STATE', 'remote sequence file is corrupt');
      }
    }
    if (v) {
      for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
        if (typeof e === 'number') s.windows.set(k, { top: e, bits: s.mask });
        else if (Array.isArray(e) && typeof e[0] === 'number' && e[1] instanceof Uint8Array) {
          // A window saved with another size: keep what fits, and count the numbers it cannot tell as taken.
          const saved = bytesToBig(e[1]);
          s.windows.set(k, { top: e[0], bits: (saved & s.mask) | (s.mask & ~((1n << BigInt(Math.min(windowSize, e[1].length * 8))) - 1n)) });
        } else throw new AgentError('E_STATE', 'remote sequence file is corrupt');
      }
    }
    return s;
  }

  lastAccepted(keyId: string): number { return this.windows.get(keyId)?.top ?? 0; }

  /**
   * A local operator's decision after `lost`: `keyId` may run numbers above
   * `floor` (the operator's own counter, `cloudy-agent operator ...` shows it;
   * a key made after the loss has no history: floor 0). Durable before it returns.
   */
  async unlock(keyId: string, floor: number): Promise<void> {
    if (!Number.isSafeInteger(floor) || floor < 0) throw new AgentError('E_INVALID', `floor ${floor}: a sequence number >= 0`);
    const w = this.windows.get(keyId);
    if (w && w.top >= floor) return;
    this.windows.set(keyId, { top: floor, bits: this.mask });
    this.dirty = true;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.flushLoop();
    await done;
  }

  /** null when `seq` may run, else why not. */
  staleness(keyId: string, seq: number): Staleness | null {
    const w = this.windows.get(keyId);
    if (!w && this.lost) return 'state-lost';
    if (!w || seq > w.top) return null;
    const age = w.top - seq;
    if (age >= this.windowSize) return 'too-old';
    return (w.bits >> BigInt(age)) & 1n ? 'duplicate' : null;
  }

  isFresh(keyId: string, seq: number): boolean { return this.staleness(keyId, seq) === null; }

  /**
   * Reserves `seq` for `keyId` (refused when not fresh, so two copies of one
   * command racing each other cannot both pass) and resolves once it is durable.
   */
  async accept(keyId: string, seq: number): Promise<boolean> {
    if (!this.isFresh(keyId, seq)) return false;
    const w = this.windows.get(keyId);
    if (!w) this.windows.set(keyId, { top: seq, bits: 1n });
    else if (seq > w.top) {
      const shift = seq - w.top;
      w.bits = shift >= this.windowSize ? 1n : ((w.bits << BigInt(shift)) | 1n) & this.mask;
      w.top = seq;
    } else w.bits |= 1n << BigInt(w.top - seq);
    this.dirty = true;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.flushLoop();
    await done;
    return true;
  }

  private snapshot(): Uint8Array {
    const out: Record<string, [number, Uint8Array]> = {};
    for (const [k, w] of this.windows) out[k] = [w.top, bigToBytes(w.bits, Math.ceil(this.windowSize / 8))];
    return new Uint8Array(encode(out));
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        const batch = this.waiters;
        this.waiters = [];
        try {
          await this.file.write(this.snapshot());
          this.writes++;
          for (const w of batch) w.resolve();
        } catch (e) {
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.writing = null;
    }
  }
}

function bigToBytes(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

function bytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}
