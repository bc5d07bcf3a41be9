// Start-to-joined: from spawning an agent with `-join <seed>` until the seed
// (a serf agent) lists it alive. The seed is polled over RPC every 20 ms, so the
// figure has a 20 ms resolution; each joiner is killed after it joined.
import { type AgentKind, type ProcessRegistry, waitRpc } from '../lib/agents.ts';
import { median, pollUntil } from '../lib/stats.ts';

export interface StartupOptions {
  kinds: AgentKind[];
  repeats: number;
  seedPort: number;
  seedRpcPort: number;
  /** Ports for the joiners: portBase + i, rpcPortBase + i. */
  portBase: number;
  rpcPortBase: number;
  log: (line: string) => void;
}

export interface StartupResult {
  /** ms per attempt, by kind (null = did not join within the deadline). */
  attempts: Record<string, (number | null)[]>;
  medianMs: Record<string, number>;
  errors: Record<string, string>;
}

const JOIN_DEADLINE_MS = 30_000;
const POLL_MS = 20;

export async function runStartup(reg: ProcessRegistry, o: StartupOptions): Promise<StartupResult> {
  const seed = reg.startAgent({ kind: 'serf', name: 'startup-seed', port: o.seedPort, rpcPort: o.seedRpcPort });
  const rpc = await waitRpc(seed, 20_000);
  if (!rpc) throw new Error(`seed serf agent did not come up: ${seed.exitInfo()} ${seed.output()}`);
  const result: StartupResult = { attempts: {}, medianMs: {}, errors: {} };
  let slot = 0;
  try {
    for (let r = 0; r < o.repeats; r++) {
      for (const kind of o.kinds) {
        const name = `startup-${kind}-${r}`;
        const a = reg.startAgent({ kind, name, port: o.portBase + slot, rpcPort: o.rpcPortBase + slot, join: [seed.bindAddr] });
        slot++;
        const joinedAt = await pollUntil(JOIN_DEADLINE_MS, POLL_MS, async () => {
          if (a.exited()) return -1;
          const ms = await rpc.membersFiltered({}, 'alive', name);
          return ms.length > 0 ? performance.now() : undefined;
        });
        const ms = joinedAt === undefined || joinedAt < 0 ? null : joinedAt - a.spawnedAt;
        if (ms === null) result.errors[kind] = `${name}: ${a.exitInfo() || 'not joined in time'} ${a.output().trim().split('\n').slice(-2).join(' | ')}`;
        (result.attempts[kind] ??= []).push(ms);
        o.log(`startup ${name}: ${ms === null ? 'not joined' : ms.toFixed(0) + ' ms'}`);
        a.kill('SIGKILL');
        await a.waitExit(5000);
      }
    }
  } finally {
    rpc.close();
    seed.kill('SIGKILL');
    await seed.waitExit(5000);
  }
  for (const [k, v] of Object.entries(result.attempts)) {
    result.medianMs[k] = median(v.filter((x): x is number => x !== null));
  }
  return result;
}
