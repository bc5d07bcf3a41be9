// Shared set-up of the guifi tests: a stand-in guifi.net with one user, one
// node and its router, a client and a state store in a temp dir of ours (gf-).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuifiStandIn } from './stand-in.ts';
import { GuifiClient } from '../../agent/guifi/client.ts';
import { GuifiStateStore } from '../../agent/guifi/state.ts';
import { defaultLimits } from '../../agent/config/limits.ts';

export const USER = 'alice';
export const PASSWORD = 'correct horse';
export const MAC_A = 'AA:BB:CC:00:00:01';
export const MAC_B = 'AA:BB:CC:00:00:02';

export interface World {
  server: GuifiStandIn;
  nodeId: number;
  routerId: number;
  dirs: string[];
  tmp(): string;
  client(o?: { token?: string; timeoutMs?: number; maxReplyBytes?: number }): GuifiClient;
  close(): Promise<void>;
}

export async function world(): Promise<World> {
  const server = new GuifiStandIn();
  await server.listen();
  server.addUser(USER, PASSWORD);
  server.addUser('bob', 'bobpw');
  const nodeId = server.addNode('Plaça Catalunya 12', USER);
  const routerId = server.addDevice({ nodeId, nick: 'PlacaCat-RB', type: 'radio', mac: '00:0C:42:00:00:01', ipv4: '10.139.40.1', mask: '255.255.255.224' });
  const dirs: string[] = [];
  const limits = defaultLimits('edge');
  return {
    server, nodeId, routerId, dirs,
    tmp() { const d = mkdtempSync(join(tmpdir(), 'gf-')); dirs.push(d); return d; },
    client(o = {}) {
      return new GuifiClient({
        apiUrl: server.apiUrl, timeoutMs: o.timeoutMs ?? limits.guifiRequestTimeoutMs,
        maxReplyBytes: o.maxReplyBytes ?? limits.guifiReplyMaxBytes, ...(o.token ? { token: o.token } : {}),
      });
    },
    async close() {
      await server.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

export function storeIn(dir: string): GuifiStateStore {
  return GuifiStateStore.inDir(dir);
}

/** What `p` rejects with (a test failure if it resolves). */
export async function rejects(p: Promise<unknown>): Promise<unknown> {
  try { await p; } catch (e) { return e; }
  throw new Error('expected a rejection');
}
