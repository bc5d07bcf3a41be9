// A lock between processes on one machine, held by creating `<path>` with
// O_EXCL (the lock file holds the holder's pid). Used where two processes
// read-modify-write one small state file (the operator's sequence counter:
// a `cloudy-agent remote` CLI next to the full node's GUI). A lock older than
// `staleMs` is taken over: its holder died (kill -9, power cut) without
// removing it, and no holder keeps it longer than a file write.
import { open, stat, unlink } from 'node:fs/promises';
import { AgentError, errorMessage } from '../errors.ts';

export interface FileLockOptions { waitMs?: number; staleMs?: number; pollMs?: number }

export async function withFileLock<T>(path: string, fn: () => Promise<T>, o: FileLockOptions = {}): Promise<T> {
  const waitMs = o.waitMs ?? 10_000;
  const staleMs = o.staleMs ?? 10_000;
  const end = Date.now() + waitMs;
  for (;;) {
    try {
      const h = await open(path, 'wx', 0o600);
      await h.writeFile(`${process.pid}\n`);
      await h.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new AgentError('E_IO', `lock ${path}: ${errorMessage(e)}`);
      const st = await stat(path).catch(() => null);
      if (st && Date.now() - st.mtimeMs > staleMs) { await unlink(path).catch(() => {}); continue; }
      if (Date.now() > end) throw new AgentError('E_TIMEOUT', `lock ${path} is held by another process`);
      await new Promise((r) => setTimeout(r, o.pollMs ?? 5 + Math.random() * 10));
    }
  }
  try { return await fn(); } finally { await unlink(path).catch(() => {}); }
}
