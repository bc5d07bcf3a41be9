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
  /** The parsed file (null: none); one that does not parse is moved aside and said (see AtomicFile). */
  readOrMoveAside?<T>(parse: (bytes: Uint8Array) => T, instead: string, said?: (msg: string) => void, onMoved?: () => void): Promise<T | null>;
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
  constructor(
    readonly path: string,
    private readonly health: StateHealth | null = null,
    /** true: a storage error is recorded in `health` but still thrown (the caller must not go on without the write). */
    private readonly mustPersist = false,
  ) {}

  private tmpPath(): string {
    return join(dirname(this.path), `.${basename(this.path)}.tmp`);
  }

  /** Renames the file aside; with a StateHealth, `info` lists it (the caller says what it does instead). */
  async moveAside(why = 'unreadable'): Promise<string> {
    const to = await moveAside(this.path);
    this.health?.recordAside(this.path, to, why);
    return to;
  }

  /**
   * The file parsed by `parse`, or null when it does not exist. A file that
   * does not parse (torn by hand, garbage after a bad card, written by a
   * future version: `parse` throws) never stops the agent: it is renamed
   * aside (NAME.corrupt-<time>), logged with `instead` (what the agent does
   * without it) and listed in `info` (section state), and null is returned.
   */
  async readOrMoveAside<T>(parse: (bytes: Uint8Array) => T, instead: string, said?: (msg: string) => void, onMoved?: () => void): Promise<T | null> {
    const bytes = await this.read();
    if (bytes === null) return null;
    try {
      return parse(bytes);
    } catch (e) {
      const why = errorMessage(e);
      let to: string;
      try { to = await moveAside(this.path); } catch (m) { to = `(not moved: ${errorMessage(m)})`; }
      if (this.health) this.health.movedAside(this.path, to, why, instead);
      else said?.(`${this.path}: ${why}: moved it to ${to}; ${instead}`);
      onMoved?.();
      return null;
    }
  }

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
      if (h && code && STORAGE_ERRORS.has(code) && this.mustPersist) h.refused(this.path, e);
      if (!h || !code || !STORAGE_ERRORS.has(code) || this.mustPersist) throw new AgentError('E_IO', `write ${this.path}: ${errorMessage(e)}`, { errno: code });
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
