// The keyring file (-keyring-file), in serf's format: a JSON array of base64
// keys, primary first. Written through AtomicFile like every state file: a
// power cut during `keys -install/-use/-remove` never leaves a torn keyring.
import { AtomicFile } from './atomic-file.ts';
import type { StateHealth } from './state-health.ts';
import { AgentError, errorMessage } from '../errors.ts';

export class KeyringFile {
  private readonly file: AtomicFile;
  constructor(readonly path: string, health: StateHealth | null = null) { this.file = new AtomicFile(path, health); }

  /** The keys (base64, primary first), or null when the file does not exist. */
  async read(): Promise<string[] | null> {
    const raw = await this.file.read();
    if (raw === null) return null;
    try {
      const v = JSON.parse(new TextDecoder().decode(raw)) as unknown;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(x) && [16, 24, 32].includes(Buffer.from(x, 'base64').length))) {
        throw new AgentError('E_CONFIG', 'expected a JSON array of base64 AES keys (16, 24 or 32 bytes)');
      }
      return v as string[];
    } catch (e) {
      throw new AgentError('E_CONFIG', `-keyring-file ${this.path}: ${errorMessage(e)}`);
    }
  }

  /**
   * Like read(), but a file that cannot be parsed (garbage after a bad card,
   * a torn copy by hand) is moved aside and reported through `said`: the
   * agent then starts with the -encrypt key (if any) and writes a fresh file.
   */
  async readOrMoveAside(said: (msg: string) => void): Promise<string[] | null> {
    try {
      return await this.read();
    } catch (e) {
      if ((e as AgentError).code !== 'E_CONFIG') throw e;
      const to = await this.file.moveAside().catch((m: unknown) => `(not moved: ${errorMessage(m)})`);
      said(`${errorMessage(e)}: moved it to ${to}; starting with the -encrypt key only`);
      return null;
    }
  }

  async write(keysBase64: readonly string[]): Promise<void> {
    await this.file.write(new TextEncoder().encode(JSON.stringify(keysBase64, null, 2) + '\n'));
  }
}
