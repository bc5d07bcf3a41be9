// The containers' desired state on disk: one JSON document, replaced
// atomically (temp file + fsync + rename, agent/state/atomic-file.ts), so a
// power cut leaves either the old or the new state. It also records the boot
// id of the host when it was written, which tells "agent restarted" (same boot:
// containers keep running and are adopted) from "host rebooted" (autostart
// containers are brought up in order).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AtomicFile } from '../state/atomic-file.ts';
import type { StateHealth } from '../state/state-health.ts';
import { AgentError } from '../errors.ts';
import type { ContainerSpec } from './types.ts';
import { validateName } from './validate.ts';

export interface ContainersState {
  version: 1;
  bootId: string;
  containers: ContainerSpec[];
}

export const STATE_FILE = 'containers.json';

export class ContainerStateStore {
  private readonly file: AtomicFile;

  constructor(stateDir: string, health: StateHealth | null = null) {
    this.file = new AtomicFile(join(stateDir, STATE_FILE), health);
  }

  get path(): string { return this.file.path; }

  /**
   * The stored state; null when there is none, or when it cannot be read (torn,
   * garbage, or written by a future version): that file is moved aside
   * (containers.json.corrupt-<time>) and reported through `said`, and the
   * agent starts with no desired state rather than not at all.
   */
  async load(said: (msg: string) => void = () => {}): Promise<ContainersState | null> {
    const bytes = await this.file.read();
    if (!bytes) return null;
    try {
      let doc: unknown;
      try {
        doc = JSON.parse(new TextDecoder().decode(bytes));
      } catch (e) {
        throw new AgentError('E_DECODE', `${this.file.path} is not valid JSON: ${(e as Error).message}`);
      }
      return parseState(doc, this.file.path);
    } catch (e) {
      const to = await this.file.moveAside().catch((m: unknown) => `(not moved: ${(m as Error).message})`);
      said(`${(e as Error).message}: moved it to ${to}; starting with no desired containers`);
      return null;
    }
  }

  async save(state: ContainersState): Promise<void> {
    const sorted = { ...state, containers: [...state.containers].sort((a, b) => (a.name < b.name ? -1 : 1)) };
    await this.file.write(new TextEncoder().encode(JSON.stringify(sorted, null, 2) + '\n'));
  }
}

export function parseState(doc: unknown, where: string): ContainersState {
  const d = doc as Partial<ContainersState> | null;
  if (!d || typeof d !== 'object' || d.version !== 1 || !Array.isArray(d.containers)) {
    throw new AgentError('E_DECODE', `${where}: not a version 1 containers state`);
  }
  const containers: ContainerSpec[] = [];
  for (const c of d.containers) {
    if (!c || typeof c !== 'object') continue;
    validateName((c as ContainerSpec).name);
    containers.push(c as ContainerSpec);
  }
  return { version: 1, bootId: typeof d.bootId === 'string' ? d.bootId : '', containers };
}
