// Name conflict resolution (§3.13): a second node claiming an existing name from
// another address asks the cluster (_serf_conflict); being in the minority it
// shuts itself down, while the original stays.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemCluster } from './helpers.ts';
import { waitFor, sleep } from '../../support/wait.ts';

let cl: MemCluster;
test.before(() => { cl = new MemCluster(); });
test.after(async () => { await cl.stopAll(); });

test('the impostor is in the minority and shuts down; the original keeps its name', async () => {
  const a = await cl.add('a');
  const b = await cl.add('b');
  const c = await cl.add('c');
  await b.serf.join([cl.addrOf(a)], true);
  await c.serf.join([cl.addrOf(a)], true);
  await waitFor('3 alive', () => [a, b, c].every((n) => n.serf.members().filter((m) => m.status === 'alive').length === 3), 15_000);
  const impostor = await cl.add('a'); // same name, address 10.0.0.4
  await impostor.serf.join([cl.addrOf(b)], true).catch(() => 0);
  await waitFor('impostor shut down', () => impostor.serf.state() === 'shutdown', 15_000);
  await sleep(500);
  assert.is(a.serf.state(), 'alive');
  for (const n of [b, c]) assert.is(n.serf.members().find((m) => m.name === 'a')?.addr, '10.0.0.1');
});

test.run();
