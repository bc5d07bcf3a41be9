// The federation history on disk (<stateDir>/discovery/federation.json), so a
// week of samples survives agent restarts. Written atomically; a damaged file
// is counted and ignored (the history restarts empty).
import { join } from 'node:path';
import type { Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import { AtomicFile } from '../state/atomic-file.ts';
import type { StateHealth } from '../state/state-health.ts';
import type { FederationSample } from './federation.ts';
import { AgentError } from '../errors.ts';

const FORMAT_VERSION = 1;

function isSample(v: unknown): v is FederationSample {
  const s = v as FederationSample;
  return !!s && typeof s === 'object' && Number.isFinite(s.t) && Number.isInteger(s.aliveMembers)
    && Number.isInteger(s.cloudyInstances) && Number.isInteger(s.services) && Number.isInteger(s.undecodable)
    && !!s.byType && typeof s.byType === 'object' && Object.values(s.byType).every((n) => Number.isInteger(n));
}

export class FederationHistoryFile {
  private readonly file: AtomicFile;

  constructor(stateDir: string, private readonly logger: Logger, private readonly counters: Counters, health: StateHealth | null = null) {
    this.file = new AtomicFile(join(stateDir, 'discovery', 'federation.json'), health);
  }

  async load(): Promise<FederationSample[]> {
    try {
      const samples = await this.file.readOrMoveAside((raw) => {
        const doc = JSON.parse(new TextDecoder().decode(raw)) as { version?: number; samples?: unknown[] } | null;
        if (doc?.version !== FORMAT_VERSION || !Array.isArray(doc.samples)) throw new AgentError('E_DECODE', `not a version ${FORMAT_VERSION} history (version ${String(doc?.version)})`);
        return doc.samples.filter(isSample);
      }, 'starting with an empty federation history', (m) => this.logger.warn(m), () => this.counters.inc('discovery.federation_history_load_error'));
      return samples ?? [];
    } catch (e) {
      this.counters.inc('discovery.federation_history_load_error');
      this.logger.warn(`federation history not restored: ${(e as Error).message}`);
      return [];
    }
  }

  async save(samples: readonly FederationSample[]): Promise<void> {
    try {
      await this.file.write(new TextEncoder().encode(JSON.stringify({ version: FORMAT_VERSION, samples }) + '\n'));
    } catch (e) {
      this.counters.inc('discovery.federation_history_save_error');
      this.logger.error(`cannot save the federation history: ${(e as Error).message}`);
    }
  }
}
