// The tags file (-tags-file), in serf's format: a JSON object of strings,
// rewritten on every `tags -set/-delete`. Written through AtomicFile like every
// state file (temp + fsync + rename), so a power cut never leaves it torn.
import { AtomicFile } from './atomic-file.ts';
import type { StateHealth } from './state-health.ts';
import { AgentError, errorMessage } from '../errors.ts';

export class TagsFile {
  private readonly file: AtomicFile;
  constructor(readonly path: string, health: StateHealth | null = null) { this.file = new AtomicFile(path, health); }

  /** The tags, or null when the file does not exist. */
  async read(): Promise<Record<string, string> | null> {
    const raw = await this.file.read();
    if (raw === null) return null;
    try {
      const v = JSON.parse(new TextDecoder().decode(raw)) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) {
        throw new AgentError('E_CONFIG', 'expected a JSON object of strings');
      }
      return v as Record<string, string>;
    } catch (e) {
      throw new AgentError('E_CONFIG', `-tags-file ${this.path}: ${errorMessage(e)}`);
    }
  }

  /** Like read(), but a file that cannot be parsed is moved aside and reported: the agent starts with its -tag tags. */
  async readOrMoveAside(said: (msg: string) => void): Promise<Record<string, string> | null> {
    try {
      return await this.read();
    } catch (e) {
      if ((e as AgentError).code !== 'E_CONFIG') throw e;
      const to = await this.file.moveAside().catch((m: unknown) => `(not moved: ${errorMessage(m)})`);
      said(`${errorMessage(e)}: moved it to ${to}; starting with the configured tags`);
      return null;
    }
  }

  async write(tags: Record<string, string>): Promise<void> {
    await this.file.write(new TextEncoder().encode(JSON.stringify(tags, null, 2) + '\n'));
  }
}
