import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { Keyring } from '../../../agent/gossip/wire/keyring.ts';
import { memoryNode, type TestNode } from './helpers.ts';
import { waitFor } from '../../support/wait.ts';

let nodes: TestNode[] = [];
test.after.each(async () => { for (const n of nodes) await n.ml.shutdown(); nodes = []; });

test('an encrypted cluster converges; a node with a wrong key is not admitted', async () => {
  const net = new MemoryNetwork();
  const key = new Uint8Array(randomBytes(32));
  for (let i = 0; i < 4; i++) nodes.push(memoryNode(net, `n${i}`, `10.1.0.${i + 1}`, { keyring: new Keyring([key]) }));
  for (let i = 1; i < 4; i++) await nodes[i]!.ml.join(['10.1.0.1']);
  await waitFor('converged', () => nodes.every((n) => n.ml.numMembers() === 4));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(nodes[0]!.counters.get('probe.ok') > 0);
  assert.is(nodes[0]!.counters.get('decode.udp.decrypt'), 0);

  const intruder = memoryNode(net, 'evil', '10.1.0.99', { keyring: new Keyring([new Uint8Array(randomBytes(32))]) });
  nodes.push(intruder);
  let err: unknown = null;
  try { await intruder.ml.join(['10.1.0.1']); } catch (e) { err = e; }
  assert.ok(err, 'join must fail');
  assert.ok(nodes[0]!.counters.get('decode.tcp.decrypt') >= 1, 'the seed counted the undecryptable stream');
  // Its UDP gossip is dropped too: send it a ping toward n1 by hand through its own transport.
  const plain = memoryNode(net, 'plain', '10.1.0.98');
  nodes.push(plain);
  let err2: unknown = null;
  try { await plain.ml.join(['10.1.0.1']); } catch (e) { err2 = e; }
  assert.ok(err2, 'plaintext join into an encrypted cluster must fail');
  await new Promise((r) => setTimeout(r, 500));
  for (const n of nodes.slice(0, 4)) {
    const names = n.ml.members().map((m) => m.name);
    assert.not.ok(names.includes('evil'));
    assert.not.ok(names.includes('plain'));
  }
});

test('key rotation: a second installed key still decrypts', async () => {
  const net = new MemoryNetwork();
  const k1 = new Uint8Array(randomBytes(16));
  const k2 = new Uint8Array(randomBytes(16));
  const ringA = new Keyring([k1]);
  const ringB = new Keyring([k2, k1]); // primary k2, still knows k1
  nodes.push(memoryNode(net, 'a', '10.2.0.1', { keyring: ringA }));
  nodes.push(memoryNode(net, 'b', '10.2.0.2', { keyring: ringB }));
  // b encrypts with k2, which a does not have: refused.
  let err: unknown = null;
  try { await nodes[1]!.ml.join(['10.2.0.1']); } catch (e) { err = e; }
  assert.ok(err);
  ringA.installKey(k2);
  assert.is(await nodes[1]!.ml.join(['10.2.0.1']), 1);
  await waitFor('both see each other', () => nodes.every((n) => n.ml.numMembers() === 2));
});

test.run();
