// The keyring file (-keyring-file), in serf's format: a JSON array of base64
// keys, primary first. Written through AtomicFile like every state file: a
// power cut during `keys -install/-use/-remove` never leaves a torn keyring.
import { AtomicFile } from './atomic-file.ts';
import { AgentError, errorMessage } from '../errors.ts';

export class KeyringFile {
  private readonly file: AtomicFile;
  constructor(readonly path: string) { this.file = new AtomicFile(path); }

  /** The keys (base64, primary first), or null when the file does not exist. */
  async read(): Promise<string[] | null> {
    const raw = await this.file.read();
    if (raw === null) return null;
    try {
      const v = JSON.parse(new TextDecoder().decode(raw)) as unknown;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new AgentError('E_CONFIG', 'expected a JSON array of base64 keys');
      return v as string[];
    } catch (e) {
      throw new AgentError('E_CONFIG', `-keyring-file ${this.path}: ${errorMessage(e)}`);
    }
  }

  async write(keysBase64: readonly string[]): Promise<void> {
    await this.file.write(new TextEncoder().encode(JSON.stringify(keysBase64, null, 2) + '\n'));
  }
}
