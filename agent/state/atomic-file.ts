// Crash-safe small-file writes for state that must survive a power cut:
// write a temporary file in the same directory, fsync it, rename it over the
// target (atomic on POSIX filesystems), then fsync the directory so the rename
// itself is durable. A reader therefore sees either the old or the new file,
// never a torn one. A leftover temporary file from a cut mid-write is ignored
// and replaced by the next write.
import { open, readFile, rename, unlink, mkdir } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { AgentError, errorMessage } from '../errors.ts';
import { STORAGE_ERRORS, type StateHealth } from './state-health.ts';

export interface FileStore {
  /** The file's bytes, or null when it does not exist. */
  read(): Promise<Uint8Array | null>;
  /** Replaces the file atomically and durably. */
  write(data: Uint8Array): Promise<void>;
  /** Renames an unreadable file aside (name.corrupt-<time>) and returns the new path. */
  moveAside?(): Promise<string>;
}

/** `path.corrupt-2026-12-07T18-22-00.123Z`: kept for a person to look at, never read again. */
export async function moveAside(path: string, now = new Date()): Promise<string> {
  const to = `${path}.corrupt-${now.toISOString().replace(/:/g, '-')}`;
  try {
    await rename(path, to);
  } catch (e) {
    // Read-only storage: the bad file stays, the agent still runs without it.
    throw new AgentError('E_IO', `move ${path} aside: ${errorMessage(e)}`);
  }
  return to;
}

export class AtomicFile implements FileStore {
  /**
   * `health`: the running agent's storage health (daemon.ts makes one and hands
   * it to every state writer through DaemonContext.stateHealth). Without one
   * (CLI commands, unit tests) a failed write throws.
   */
  constructor(readonly path: string, private readonly health: StateHealth | null = null) {}

  private tmpPath(): string {
    return join(dirname(this.path), `.${basename(this.path)}.tmp`);
  }

  moveAside(): Promise<string> { return moveAside(this.path); }

  async read(): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new AgentError('E_IO', `read ${this.path}: ${errorMessage(e)}`);
    }
  }

  /**
   * With a StateHealth installed, a storage error (disk full, read-only, I/O) is
   * recorded there and retried later with these bytes, and the write resolves:
   * the caller's in-memory state stays the truth. Other errors throw.
   */
  write(data: Uint8Array): Promise<void> {
    const n = ++this.issued;
    return this.serial(() => this.attempt(data, n));
  }

  // One write at a time per file (they share the temp name), and a retry of
  // older bytes never lands after a newer write was issued.
  private chain: Promise<void> = Promise.resolve();
  private issued = 0;
  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private async attempt(data: Uint8Array, n: number): Promise<void> {
    const h = this.health;
    try {
      await this.writeNow(data);
      h?.succeeded(this.path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!h || !code || !STORAGE_ERRORS.has(code)) throw new AgentError('E_IO', `write ${this.path}: ${errorMessage(e)}`, { errno: code });
      h.failed(this.path, e, () => (n === this.issued ? this.serial(() => this.attempt(data, n)) : Promise.resolve()));
    }
  }

  private async writeNow(data: Uint8Array): Promise<void> {
    const dir = dirname(this.path);
    const tmp = this.tmpPath();
    try {
      await mkdir(dir, { recursive: true });
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      await syncDir(dir);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  // Directory fsync makes the rename durable; some filesystems refuse it (EINVAL/EISDIR), which is harmless.
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch { /* not supported here */ } finally {
    await fh?.close();
  }
}

/** In-memory FileStore (tests, or a node without a snapshot path). */
export class MemoryFile implements FileStore {
  data: Uint8Array | null = null;
  writes = 0;
  async read(): Promise<Uint8Array | null> { return this.data ? this.data.slice() : null; }
  async write(data: Uint8Array): Promise<void> { this.data = data.slice(); this.writes++; }
}
