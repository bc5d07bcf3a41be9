// Coalescing across a real (in-process) cluster: a burst of CC events with the
// same name is delivered once (newest) at the receivers; CC=false events are not merged.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemCluster } from './helpers.ts';
import { waitFor, sleep } from '../../support/wait.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
let cl: MemCluster;
test.before(() => { cl = new MemCluster(); });
test.after(async () => { await cl.stopAll(); });

test('CC burst collapses to the newest; CC=false all delivered; member events coalesced', async () => {
  const coalesce = { memberCoalesce: { periodMs: 600, quiescentMs: 300 }, userCoalesce: { periodMs: 600, quiescentMs: 300 } };
  const a = await cl.add('a', { serf: coalesce });
  const b = await cl.add('b', { serf: coalesce });
  await b.serf.join([cl.addrOf(a)], true);
  await waitFor('joined', () => b.serf.members().length === 2 && a.serf.members().length === 2, 15_000);
  await sleep(800);
  for (let i = 1; i <= 4; i++) await a.serf.userEvent('deploy', enc(`v${i}`), true);
  for (let i = 1; i <= 3; i++) await a.serf.userEvent('plain', enc(`p${i}`), false);
  await waitFor('b got plain events', () => b.events.filter((e) => e.type === 'user' && e.name === 'plain').length === 3, 15_000);
  await waitFor('b got the coalesced deploy', () => b.events.some((e) => e.type === 'user' && e.name === 'deploy'), 15_000);
  await sleep(1000);
  const deploys = b.events.filter((e) => e.type === 'user' && e.name === 'deploy').map((e) => (e.type === 'user' ? dec(e.payload) : ''));
  assert.equal(deploys, ['v4'], 'only the newest LTime delivered');
  // member events: one member-join per member, not one per notification
  const joins = b.events.filter((e) => e.type === 'member-join').flatMap((e) => (e.type === 'member-join' ? e.members.map((m) => m.name) : []));
  assert.equal(joins.sort(), ['a', 'b']);
});

test.run();
