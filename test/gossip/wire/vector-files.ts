// Locates and loads the captured serf/memberlist vectors. shared/ sits beside the
// project root (CI: fresh clone with ../shared), never an absolute path.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const VECTOR_DIR = join(projectRoot, '..', 'shared', 'protocol', 'serf-vectors');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Vector = { file: string; kind: string; transport: string; capture: string; encrypted: boolean; key_b64: string | null; hex: string; decoded: any; layers: string; notes?: string };

export function loadVector(file: string): Vector {
  const v = JSON.parse(readFileSync(join(VECTOR_DIR, file), 'utf8')) as Vector;
  v.file = file;
  return v;
}

/** Every udp/tcp vector file (not rpc, not the index). */
export function allWireVectors(): Vector[] {
  return readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.json') && f !== 'index.json')
    .sort()
    .map(loadVector)
    .filter((v) => v.transport === 'udp' || v.transport === 'tcp');
}

export function hex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
