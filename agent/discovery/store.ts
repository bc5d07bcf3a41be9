// Published services kept across restarts: one JSON file in the state dir,
// replaced atomically (temp file + fsync + rename + fsync of the directory),
// so a power cut on a home gateway leaves the old or the new list, never half.
import { join } from 'node:path';
import { AtomicFile } from '../state/atomic-file.ts';
import type { StateHealth } from '../state/state-health.ts';
import { AgentError, errorMessage } from '../errors.ts';
import type { ServiceAnnouncement } from './publisher.ts';

const FORMAT_VERSION = 1;

export interface ServiceStore {
  load(said?: (msg: string) => void): Promise<ServiceAnnouncement[]>;
  save(services: readonly ServiceAnnouncement[]): Promise<void>;
}

export class FileServiceStore implements ServiceStore {
  readonly path: string;
  private readonly file: AtomicFile;
  constructor(stateDir: string, health: StateHealth | null = null) {
    this.path = join(stateDir, 'discovery', 'services.json');
    this.file = new AtomicFile(this.path, health);
  }

  /**
   * The saved list ([] when none). A file that is not a version-1 list (torn,
   * garbage, a future version) is moved aside and said: no published services.
   */
  async load(said?: (msg: string) => void): Promise<ServiceAnnouncement[]> {
    return (await this.file.readOrMoveAside(parseServices, 'starting with no published services', said)) ?? [];
  }

  async save(services: readonly ServiceAnnouncement[]): Promise<void> {
    await this.file.write(new TextEncoder().encode(JSON.stringify({ version: FORMAT_VERSION, services }, null, 1) + '\n'));
  }
}

function parseServices(bytes: Uint8Array): ServiceAnnouncement[] {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new AgentError('E_DECODE', `not JSON: ${errorMessage(e)}`);
  }
  const d = doc as { version?: unknown; services?: unknown } | null;
  if (d?.version !== FORMAT_VERSION || !Array.isArray(d.services)) {
    throw new AgentError('E_DECODE', `not a version ${FORMAT_VERSION} services list (version ${String(d?.version)})`);
  }
  return d.services as ServiceAnnouncement[];
}

/** In-memory store (tests, or a node run without a state dir). */
export class MemoryServiceStore implements ServiceStore {
  saved: ServiceAnnouncement[] = [];
  async load(): Promise<ServiceAnnouncement[]> { return structuredClone(this.saved); }
  async save(services: readonly ServiceAnnouncement[]): Promise<void> { this.saved = structuredClone([...services]); }
}
