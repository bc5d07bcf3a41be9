// In-process multi-node serf over the memory transport: membership, intents,
// events, queries, leave/fail/reap, tags, key rotation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemCluster, statusOf, type TestNode } from './helpers.ts';
import { Keyring, keyToBase64 } from '../../../agent/gossip/wire/keyring.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { waitFor, sleep } from '../../support/wait.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
let cl: MemCluster;

test.before.each(() => { cl = new MemCluster(); });
test.after.each(async () => { await cl.stopAll(); });

async function threeNodes(tags: Record<string, string>[] = [{}, {}, {}]): Promise<TestNode[]> {
  const a = await cl.add('a', { tags: tags[0]! });
  const b = await cl.add('b', { tags: tags[1]! });
  const c = await cl.add('c', { tags: tags[2]! });
  assert.is(await b.serf.join([cl.addrOf(a)], true), 1);
  assert.is(await c.serf.join([cl.addrOf(b)], true), 1);
  await waitFor('3 alive everywhere', () => [a, b, c].every((n) => n.serf.members().filter((m) => m.status === 'alive').length === 3), 15_000);
  return [a, b, c];
}

test('join: every node sees every member alive with its tags; statusLTimes from join intents', async () => {
  const [a, b, c] = await threeNodes([{ role: 'web' }, { role: 'db', dc: 'x' }, {}]);
  for (const n of [a!, b!, c!]) {
    const m = n.serf.members().find((x) => x.name === 'b')!;
    assert.equal(m.tags, { role: 'db', dc: 'x' });
    assert.is(m.addr, '10.0.0.2');
    assert.is(m.delegateCur, 4);
  }
  assert.is(a!.serf.localMember().status, 'alive');
  const st = a!.serf.stats();
  assert.is(st.members, '3');
  assert.is(st.encrypted, 'false');
  assert.ok(Number(st.member_time) >= 2, 'member clock advanced by join intents');
});

test('user events reach every node exactly once; size limit enforced', async () => {
  const nodes = await threeNodes();
  for (let i = 0; i < 5; i++) await nodes[i % 3]!.serf.userEvent(`ev${i}`, enc(`p${i}`), false);
  await waitFor('5 events everywhere', () => nodes.every((n) => n.events.filter((e) => e.type === 'user').length >= 5), 15_000);
  await sleep(500); // let rebroadcasts settle: duplicates would show up now
  for (const n of nodes) {
    const evs = n.events.filter((e) => e.type === 'user').map((e) => (e.type === 'user' ? `${e.name}=${dec(e.payload)}` : ''));
    assert.equal(evs.sort(), ['ev0=p0', 'ev1=p1', 'ev2=p2', 'ev3=p3', 'ev4=p4'], `${n.name}: each once`);
  }
  try {
    await nodes[0]!.serf.userEvent('big', new Uint8Array(600), false);
    assert.unreachable('oversized event accepted');
  } catch (e) {
    assert.ok(isAgentError(e, 'E_TOO_LARGE'));
    assert.match((e as Error).message, /by 91 bytes/);
  }
});

test('queries: filters, acks, responses, relays', async () => {
  const [a, b, c] = await threeNodes([{ role: 'web' }, { role: 'db' }, { role: 'web-2' }]);
  for (const n of [a!, b!, c!]) {
    n.serf.onEvent((e) => { if (e.type === 'query' && e.query.name === 'who') void e.query.respond(enc(`I am ${n.name}`)); });
  }
  const run = async (params: Parameters<typeof a.serf.query>[2]) => {
    const acks: string[] = []; const resps: string[] = [];
    await new Promise<void>((resolve, reject) => {
      a!.serf.query('who', enc('?'), { timeoutMs: 3000, ...params }, {
        onAck: (f) => acks.push(f), onResponse: (f, p) => resps.push(`${f}:${dec(p)}`), onDone: resolve,
      }).catch(reject);
    });
    return { acks: acks.sort(), resps: resps.sort() };
  };
  const all = await run({ requestAck: true });
  assert.equal(all.acks, ['a', 'b', 'c']);
  assert.equal(all.resps, ['a:I am a', 'b:I am b', 'c:I am c']);
  const web = await run({ requestAck: true, filterTags: { role: 'web' } });
  assert.equal(web.acks, ['a', 'c'], 'unanchored regex: web matches web-2');
  assert.equal(web.resps, ['a:I am a', 'c:I am c']);
  const nodesOnly = await run({ filterNodes: ['b'], relayFactor: 1 });
  assert.equal(nodesOnly.acks, []);
  assert.equal(nodesOnly.resps, ['b:I am b']);
  const relayed = [a!, b!, c!].reduce((n, x) => n + x.counters.get('serf.relayed'), 0);
  assert.ok(relayed >= 1, 'the response was also relayed through another member');
  assert.ok(a!.counters.get('serf.query_duplicate_responses') >= 1, 'the relayed copy was de-duplicated at the origin');
  assert.ok(b!.counters.get('serf.query_duplicate_responses') === 0);
});

test('handleQuery: a named query goes to its handler (not to the event stream), filtered, acked and relayed', async () => {
  const [a, b, c] = await threeNodes([{ role: 'web' }, { role: 'db' }, { role: 'web' }]);
  const seen: string[] = [];
  const offs = [a!, b!, c!].map((n) => n.serf.handleQuery('cmd', (q) => {
    seen.push(`${n.name}<-${q.sourceNode}:${dec(q.payload)}`);
    void q.respond(enc(`done by ${n.name}`));
  }));
  assert.throws(() => a!.serf.handleQuery('cmd', () => {}), /already registered/);
  const ask = async (params: Parameters<typeof a.serf.query>[2]) => {
    const acks: string[] = []; const resps: string[] = [];
    await new Promise<void>((resolve, reject) => {
      a!.serf.query('cmd', enc('restart'), { timeoutMs: 3000, ...params }, {
        onAck: (f) => acks.push(f), onResponse: (f, p) => resps.push(`${f}:${dec(p)}`), onDone: resolve,
      }).catch(reject);
    });
    return { acks: acks.sort(), resps: resps.sort() };
  };
  const web = await ask({ requestAck: true, filterTags: { role: '^web$' }, relayFactor: 1 });
  assert.equal(web.acks, ['a', 'c']);
  assert.equal(web.resps, ['a:done by a', 'c:done by c']);
  assert.equal(seen.sort(), ['a<-a:restart', 'c<-a:restart']);
  const one = await ask({ filterNodes: ['b'] });
  assert.equal(one.resps, ['b:done by b']);
  for (const n of [a!, b!, c!]) assert.not.ok(n.events.some((e) => e.type === 'query'), `${n.name}: no query event`);
  // Removed: the query goes to the event stream again.
  offs[1]!();
  const again = await ask({ filterNodes: ['b'], timeoutMs: 1000 });
  assert.equal(again.resps, []);
  assert.ok(b!.events.some((e) => e.type === 'query' && e.query.name === 'cmd'));
});

test('internal _serf_ping is answered with acks only and never delivered to handlers', async () => {
  const [a, b, c] = await threeNodes();
  const acks: string[] = [];
  let responses = 0;
  await new Promise<void>((resolve) => {
    void a!.serf.query('_serf_ping', new Uint8Array(0), { requestAck: true, timeoutMs: 1000 }, {
      onAck: (f) => acks.push(f), onResponse: () => responses++, onDone: resolve,
    });
  });
  assert.equal(acks.sort(), ['a', 'b', 'c']);
  assert.is(responses, 0);
  for (const n of [a!, b!, c!]) assert.not.ok(n.events.some((e) => e.type === 'query'));
  for (const [name, payload] of [['_serf_conflict', enc('a')], ['_serf_ping', enc('x')], ['_serf_list-keys', new Uint8Array(0)]] as const) {
    try {
      await a!.serf.query(name, payload, {}, {});
      assert.unreachable(`${name} accepted as a user query`);
    } catch (e) { assert.ok(isAgentError(e, 'E_INVALID'), String(e)); }
  }
});

test('graceful leave shows left everywhere; kill shows failed, then reaped', async () => {
  const [a, b, c] = await threeNodes();
  await c!.serf.leave();
  assert.is(c!.serf.state(), 'left');
  await waitFor('c left at a and b', () => statusOf(a!, 'c') === 'left' && statusOf(b!, 'c') === 'left', 15_000);
  await c!.stop();
  // kill b: shut down without leave
  await b!.stop();
  await waitFor('b failed at a', () => statusOf(a!, 'b') === 'failed', 30_000);
  assert.ok(a!.events.some((e) => e.type === 'member-failed' && e.members.some((m) => m.name === 'b')));
  assert.ok(a!.events.some((e) => e.type === 'member-leave' && e.members.some((m) => m.name === 'c')));
});

test('reap: failed members are erased after the reconnect timeout', async () => {
  const a = await cl.add('a', { serf: { reconnectTimeoutMs: 300, tombstoneTimeoutMs: 300, reapIntervalMs: 200 } });
  const b = await cl.add('b');
  await b.serf.join([cl.addrOf(a)], true);
  await waitFor('b alive at a', () => statusOf(a, 'b') === 'alive', 15_000);
  await b.stop();
  await waitFor('b failed', () => statusOf(a, 'b') === 'failed', 30_000);
  await waitFor('b reaped', () => statusOf(a, 'b') === 'none', 15_000);
  assert.ok(a.events.some((e) => e.type === 'member-reap'));
});

test('force-leave turns a failed member into left (prune erases it)', async () => {
  const [a, b, c] = await threeNodes();
  await c!.stop();
  await waitFor('c failed', () => statusOf(a!, 'c') === 'failed' && statusOf(b!, 'c') === 'failed', 30_000);
  await a!.serf.removeFailedNode('c', false);
  await waitFor('c left at a and b', () => statusOf(a!, 'c') === 'left' && statusOf(b!, 'c') === 'left', 15_000);
  // As in serf, a push/pull that carries c as left raises b's status time for c
  // to the leave's LTime + 1 (delegate.go); a prune sent at a Lamport time a has
  // not yet moved past is then old news at b. Like an operator, repeat the
  // force-leave: each one goes out at a newer LTime.
  let sent = 0;
  await waitFor('c pruned at a and b', async () => {
    if (statusOf(a!, 'c') === 'none' && statusOf(b!, 'c') === 'none') return true;
    if (statusOf(b!, 'c') !== 'none' || sent === 0) { await a!.serf.removeFailedNode('c', true).catch(() => {}); sent++; }
    return undefined;
  }, 15_000, 1000);
  assert.ok(sent >= 1 && sent <= 15);
});

test('tags: setTags updates peers (member-update); over 512 bytes refused with E_TOO_LARGE', async () => {
  const [a, b] = await threeNodes();
  await a!.serf.setTags({ role: 'lb', services: 'x' });
  await waitFor('b sees new tags', () => b!.serf.members().find((m) => m.name === 'a')?.tags['role'] === 'lb', 15_000);
  assert.ok(b!.events.some((e) => e.type === 'member-update'));
  try {
    await a!.serf.setTags({ big: 'x'.repeat(600) });
    assert.unreachable();
  } catch (e) {
    assert.ok(isAgentError(e, 'E_TOO_LARGE'));
    assert.match((e as Error).message, /by \d+ bytes/);
  }
  assert.is(a!.serf.localMember().tags['role'], 'lb', 'refused tags not applied');
});

test('key rotation through key queries on an encrypted cluster', async () => {
  const k1 = new Uint8Array(16).fill(1);
  const k2 = new Uint8Array(32).fill(2);
  const mk = () => new Keyring([k1]);
  const a = await cl.add('a', { keyring: mk() });
  const b = await cl.add('b', { keyring: mk() });
  const c = await cl.add('c', { keyring: mk() });
  await b.serf.join([cl.addrOf(a)], true);
  await c.serf.join([cl.addrOf(a)], true);
  await waitFor('3 alive', () => [a, b, c].every((n) => n.serf.members().filter((m) => m.status === 'alive').length === 3), 15_000);
  const km = a.serf.keyManager();
  const inst = await km.installKey(keyToBase64(k2));
  assert.is(inst.numResp, 3); assert.is(inst.numErr, 0);
  const use = await km.useKey(keyToBase64(k2));
  assert.is(use.numErr, 0);
  const rm = await km.removeKey(keyToBase64(k1));
  assert.is(rm.numErr, 0, JSON.stringify(rm.messages));
  const list = await km.listKeys();
  assert.equal(list.keys, { [keyToBase64(k2)]: 3 });
  const bad = await km.removeKey(keyToBase64(k2));
  assert.is(bad.numErr, 3, 'primary cannot be removed');
  await sleep(1000);
  assert.ok([a, b, c].every((n) => n.serf.members().filter((m) => m.status === 'alive').length === 3), 'still joined with the new key');
  assert.is(a.serf.stats().encrypted, 'true');
});

test.run();
