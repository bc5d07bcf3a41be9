// What the agent knows about its own storage: which state files could not be
// written and why, whether the data filesystem is read-only, and the latest
// bytes each failed file still owes the disk.
//
// A full SD card or an eMMC the kernel remounted read-only must not take the
// box out of the federation: the agent keeps running from memory, logs the
// first failure of each file once (with the reason), counts failures for
// `info` (section `state`), and retries the dirty files on a bounded timer
// until space comes back. Only storage errors are absorbed this way
// (ENOSPC, EROFS, EDQUOT, EIO); anything else is a bug and still throws.
import { errorMessage } from '../errors.ts';

export const STORAGE_ERRORS = new Set(['ENOSPC', 'EROFS', 'EDQUOT', 'EIO']);

interface FileHealth {
  failures: number;
  lastReason: string;
  pending: (() => Promise<void>) | null;
}

export interface StateHealthOptions {
  log: { warn(m: string): void; info(m: string): void };
  /** Pause between retries of the dirty files (ms). */
  retryMs: number;
}

export class StateHealth {
  private readonly files = new Map<string, FileHealth>();
  /** Bad files found on start and renamed aside: path -> "new name (why)". */
  private readonly aside = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private retrying = false;
  readOnly = false;
  retries = 0;

  constructor(private readonly o: StateHealthOptions) {}

  /** A write of `path` failed with a storage error; `again` redoes it with the latest bytes. */
  failed(path: string, err: unknown, again: () => Promise<void>): void {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    let f = this.files.get(path);
    if (!f) { f = { failures: 0, lastReason: '', pending: null }; this.files.set(path, f); }
    if (f.pending === null) {
      // First failure since the file was last written fine: say it once.
      this.o.log.warn(`cannot write ${path}: ${errorMessage(err)} (running from memory, retrying every ${Math.round(this.o.retryMs / 1000)}s)`);
    }
    f.failures++;
    f.lastReason = code || errorMessage(err);
    f.pending = again;
    if (code === 'EROFS' && !this.readOnly) {
      this.readOnly = true;
      this.o.log.warn('data filesystem is read-only: state is kept in memory only');
    }
    this.arm();
  }

  /**
   * A write of `path` failed with a storage error and the caller refuses to go
   * on without it (remote sequence numbers: a command runs only once its
   * number is durable). Logged once, counted; nothing to retry.
   */
  refused(path: string, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    let f = this.files.get(path);
    if (!f) { f = { failures: 0, lastReason: '', pending: null }; this.files.set(path, f); }
    if (f.failures === 0 || f.lastReason === '') this.o.log.warn(`cannot write ${path}: ${errorMessage(err)} (what needs it is refused until it can be written)`);
    f.failures++;
    f.lastReason = code || errorMessage(err);
    if (code === 'EROFS' && !this.readOnly) {
      this.readOnly = true;
      this.o.log.warn('data filesystem is read-only: state is kept in memory only');
    }
  }

  /** A write of `path` succeeded: the file is clean again. */
  succeeded(path: string): void {
    const f = this.files.get(path);
    if (f?.pending || (f && f.lastReason !== '')) {
      f.pending = null;
      f.lastReason = '';
      this.o.log.info(`${path} written again`);
    }
    if (this.readOnly && ![...this.files.values()].some((x) => x.pending)) {
      this.readOnly = false;
      this.o.log.info('data filesystem writable again');
    }
  }

  /** A file that could not be read was renamed aside (`to`); `said` is what the agent does instead (logged). */
  movedAside(path: string, to: string, why: string, said: string): void {
    this.recordAside(path, to, why);
    this.o.log.warn(`${path}: ${why}: moved it to ${to}; ${said}`);
  }

  /** Same, for a caller that logs it itself. */
  recordAside(path: string, to: string, why: string): void {
    this.aside.set(path, `${to} (${why})`);
  }

  dirtyCount(): number { return [...this.files.values()].filter((f) => f.pending).length; }

  private arm(): void {
    if (this.timer || this.retrying) return;
    this.timer = setTimeout(() => { this.timer = null; void this.retry(); }, this.o.retryMs);
    this.timer.unref();
  }

  /** Rewrites every dirty file once with its latest bytes; re-arms while some stay dirty. */
  async retry(): Promise<void> {
    this.retrying = true;
    try {
      for (const f of this.files.values()) {
        const again = f.pending;
        if (!again) continue;
        this.retries++;
        try { await again(); } catch { /* recorded by the writer */ }
      }
    } finally {
      this.retrying = false;
    }
    if (this.dirtyCount() > 0) this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The `state` section of `info`. */
  stats(): Record<string, string> {
    const out: Record<string, string> = {
      read_only: String(this.readOnly),
      dirty_files: String(this.dirtyCount()),
      retries: String(this.retries),
    };
    for (const [p, f] of this.files) out[`failures ${p}`] = `${f.failures}${f.lastReason ? ` (${f.lastReason})` : ''}${f.pending ? ' dirty' : ''}`;
    for (const [p, a] of this.aside) out[`moved_aside ${p}`] = a;
    return out;
  }
}
