// Published services kept across restarts: one JSON file in the state dir,
// replaced atomically (temp file + fsync + rename + fsync of the directory),
// so a power cut on a home gateway leaves the old or the new list, never half.
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentError, errorMessage } from '../errors.ts';
import type { ServiceAnnouncement } from './publisher.ts';

const FORMAT_VERSION = 1;

export interface ServiceStore {
  load(): Promise<ServiceAnnouncement[]>;
  save(services: readonly ServiceAnnouncement[]): Promise<void>;
}

export async function writeFileAtomic(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  const dh = await open(dirname(path), 'r');
  try { await dh.sync(); } catch { /* some filesystems refuse fsync on a directory */ } finally { await dh.close(); }
}

export class FileServiceStore implements ServiceStore {
  readonly path: string;
  constructor(stateDir: string) {
    this.path = join(stateDir, 'discovery', 'services.json');
  }

  async load(): Promise<ServiceAnnouncement[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new AgentError('E_IO', `cannot read ${this.path}: ${errorMessage(e)}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new AgentError('E_DECODE', `${this.path} is not JSON: ${errorMessage(e)}`);
    }
    const d = doc as { version?: unknown; services?: unknown };
    if (d?.version !== FORMAT_VERSION || !Array.isArray(d.services)) {
      throw new AgentError('E_DECODE', `${this.path}: unknown format (version ${String(d?.version)})`);
    }
    return d.services as ServiceAnnouncement[];
  }

  async save(services: readonly ServiceAnnouncement[]): Promise<void> {
    await writeFileAtomic(this.path, JSON.stringify({ version: FORMAT_VERSION, services }, null, 1) + '\n');
  }
}

/** In-memory store (tests, or a node run without a state dir). */
export class MemoryServiceStore implements ServiceStore {
  saved: ServiceAnnouncement[] = [];
  async load(): Promise<ServiceAnnouncement[]> { return structuredClone(this.saved); }
  async save(services: readonly ServiceAnnouncement[]): Promise<void> { this.saved = structuredClone([...services]); }
}
