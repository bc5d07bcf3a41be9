// Loads the captured serf/memberlist/RPC vectors, vendored into
// test/fixtures/serf-vectors/ (the tests read nothing outside the repository).
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const VECTOR_DIR = fileURLToPath(new URL('../fixtures/serf-vectors/', import.meta.url));

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

/** The agent-RPC conversations (rpc-*.json), by file name. */
export function rpcVectorFiles(): string[] {
  return readdirSync(VECTOR_DIR).filter((f) => f.startsWith('rpc-') && f.endsWith('.json')).sort();
}

export function hex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
