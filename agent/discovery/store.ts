// Published services kept across restarts: one JSON file in the state dir,
// replaced atomically (temp file + fsync + rename + fsync of the directory),
// so a power cut on a home gateway leaves the old or the new list, never half.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AtomicFile } from '../state/atomic-file.ts';
import type { StateHealth } from '../state/state-health.ts';
import { AgentError, errorMessage } from '../errors.ts';
import type { ServiceAnnouncement } from './publisher.ts';

const FORMAT_VERSION = 1;

export interface ServiceStore {
  load(): Promise<ServiceAnnouncement[]>;
  save(services: readonly ServiceAnnouncement[]): Promise<void>;
}

export class FileServiceStore implements ServiceStore {
  readonly path: string;
  private readonly file: AtomicFile;
  constructor(stateDir: string, health: StateHealth | null = null) {
    this.path = join(stateDir, 'discovery', 'services.json');
    this.file = new AtomicFile(this.path, health);
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
    await this.file.write(new TextEncoder().encode(JSON.stringify({ version: FORMAT_VERSION, services }, null, 1) + '\n'));
  }
}

/** In-memory store (tests, or a node run without a state dir). */
export class MemoryServiceStore implements ServiceStore {
  saved: ServiceAnnouncement[] = [];
  async load(): Promise<ServiceAnnouncement[]> { return structuredClone(this.saved); }
  async save(services: readonly ServiceAnnouncement[]): Promise<void> { this.saved = structuredClone([...services]); }
}
