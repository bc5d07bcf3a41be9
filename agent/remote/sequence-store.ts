// Replay protection that needs no clock: every operator numbers its commands
// (strictly increasing per key), and a node obeys a command only when its
// number is higher than the last one it accepted from that key.
//
// Write-ahead: the accepted number is persisted (state/atomic-file.ts: temp
// file, fsync, rename, fsync dir) BEFORE the command runs. A power cut after
// the write and before the command merely loses that command; a cut before the
// write means it never ran, so a replay after reboot cannot re-run anything.
// A gateway that boots in 1970 is unaffected because no time is involved.
//
// Flash wear: remote commands are rare (operators typing, a GUI click), and
// their rate per key is capped (limits.remoteRatePerMinute), so this is at most
// a few small writes a minute. Accepts that arrive while a write is in flight
// are coalesced: they all wait for ONE next write carrying every new number,
// so a burst of N commands costs at most two writes, not N.
import { decode, encode } from 'cbor-x';
import { AgentError } from '../errors.ts';
import type { FileStore } from '../state/atomic-file.ts';

export class SequenceStore {
  /** Highest number accepted per key id (includes reservations not yet durable). */
  private readonly last = new Map<string, number>();
  private writing: Promise<void> | null = null;
  private dirty = false;
  private waiters: { resolve(): void; reject(e: unknown): void }[] = [];
  writes = 0;

  private constructor(private readonly file: FileStore) {}

  static async load(file: FileStore): Promise<SequenceStore> {
    const s = new SequenceStore(file);
    const bytes = await file.read();
    if (bytes) {
      let v: unknown;
      try { v = decode(bytes); } catch { v = null; }
      // A corrupt file cannot be trusted to protect against replays: refuse to start remote control.
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AgentError('E_STATE', 'remote sequence file is corrupt');
      for (const [k, n] of Object.entries(v as Record<string, unknown>)) if (typeof n === 'number') s.last.set(k, n);
    }
    return s;
  }

  lastAccepted(keyId: string): number { return this.last.get(keyId) ?? 0; }

  isFresh(keyId: string, seq: number): boolean { return seq > this.lastAccepted(keyId); }

  /**
   * Reserves `seq` for `keyId` (refused when not fresh, so two copies of one
   * command racing each other cannot both pass) and resolves once it is durable.
   */
  async accept(keyId: string, seq: number): Promise<boolean> {
    if (!this.isFresh(keyId, seq)) return false;
    this.last.set(keyId, seq);
    this.dirty = true;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.flushLoop();
    await done;
    return true;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        const batch = this.waiters;
        this.waiters = [];
        try {
          await this.file.write(new Uint8Array(encode(Object.fromEntries(this.last))));
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
