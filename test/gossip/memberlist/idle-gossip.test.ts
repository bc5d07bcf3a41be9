// The gossip loop sleeps while nothing is queued (an idle agent should not wake
// its event loop 5 times a second for nothing) and wakes on the ticker's phase
// as soon as a broadcast is queued, so dissemination is as fast as before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { systemClock, type Clock } from '../../../agent/gossip/clock.ts';
import { memoryNode, type TestNode } from './helpers.ts';
import { fastProfile } from '../../support/fakes.ts';
import { waitFor } from '../../support/wait.ts';

const realClock = systemClock({ unref: false });

let nodes: TestNode[] = [];
test.after.each(async () => { for (const n of nodes) await n.ml.shutdown(); nodes = []; });

/** The real clock, counting the timer callbacks that actually ran. */
function countingClock(): Clock & { fired: number } {
  const c = {
    fired: 0,
    now: () => realClock.now(),
    after: (ms: number, fn: () => void) => realClock.after(ms, () => { c.fired++; fn(); }),
    every: realClock.every,
    sleep: realClock.sleep,
  };
  return c;
}

const GOSSIP_MS = 20;

test('steady cluster: the gossip loop does not tick while the queues are empty; a broadcast wakes it', async () => {
  const net = new MemoryNetwork();
  // Probes and push/pulls rare, so only the gossip loop can spread an update quickly.
  // RetransmitMult 6: the origin's first tick reaches all 3 peers (with the local
  // profile's 2, the limit is 2 copies in a 4-node cluster and a peer can miss
  // the update by chance until the next probe: SWIM's probabilistic spread).
  const prof = fastProfile({ gossipIntervalMs: GOSSIP_MS, probeIntervalMs: 5000, pushPullIntervalMs: 60_000, retransmitMult: 6 });
  const clocks = [countingClock(), countingClock(), countingClock(), countingClock()];
  const c = clocks.map((clock, i) => memoryNode(net, `n${i}`, `10.0.1.${i + 1}`, { profile: prof, clock }));
  nodes.push(...c);
  for (let i = 1; i < c.length; i++) assert.is(await c[i]!.ml.join(['10.0.1.1:7946']), 1);
  await waitFor('convergence', () => c.every((n) => n.ml.numMembers() === c.length), 10_000);
  // Let the join broadcasts run out of transmissions.
  await new Promise((r) => setTimeout(r, 1000));

  const before = clocks.map((k) => k.fired);
  const windowMs = 2000;
  await new Promise((r) => setTimeout(r, windowMs));
  const fired = clocks.map((k, i) => k.fired - before[i]!);
  // A free-running ticker would fire windowMs / GOSSIP_MS = 100 times per node.
  for (const f of fired) assert.ok(f < 15, `timer callbacks per node in ${windowMs} ms: ${fired.join(', ')}`);

  // A queued broadcast (n0 refutes/updates itself: alive with a higher incarnation) reaches everyone by gossip.
  const inc = c[0]!.ml.localNode().incarnation;
  const started = Date.now();
  await c[0]!.ml.updateNode(1000);
  await waitFor('update seen by all', () => c.slice(1).every((n) => (n.ml.members().find((m) => m.name === 'n0')?.incarnation ?? 0) > inc), 2000);
  const took = Date.now() - started;
  assert.ok(took < 20 * GOSSIP_MS, `update reached all nodes after ${took} ms`);
  assert.ok(c[0]!.counters.get('gossip.sent') > 0);
});

test.run();
