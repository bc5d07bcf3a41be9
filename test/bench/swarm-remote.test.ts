// Swarm members answer remote control through agent/remote's real executor
// (bench/swarm/remote.ts), not a stand-in: from our full node over loopback,
// 30 members reached by tag answer a trusted key's `status` (each signed by
// the member's own key, verified and pinned by the requester), and refuse an
// untrusted key, a viewer's admin command (role from the registry) and a
// replayed command, each counted; the query spreads by the members' re-gossip.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { Swarm } from '../../bench/swarm/swarm.ts';
import { generateKeyPair, rawPublicKey, formatPublicKey } from '../../agent/remote/keys.ts';
import { NodePins, OperatorSequence, RemoteClient } from '../../agent/remote/sender.ts';
import { serfTransport } from '../../agent/remote/transports.ts';
import { REMOTE_QUERY_NAME, decodeAnswer, signCommand, unpackSigned } from '../../agent/remote/envelope.ts';
import { freePort, startNode, tempDir, type TestNode } from '../remote/helpers.ts';
import { waitFor } from '../support/wait.ts';

const N = 30;
const tmp = tempDir('swarm-remote');
const counters = new Counters();
const viewer = generateKeyPair();
const viewerKey = { privateKey: viewer.privateKey, raw: rawPublicKey(viewer.publicKey) };
let swarm: Swarm;
let full: TestNode;
let names: string[] = [];

test.before(async () => {
  full = await startNode({ name: 'rc-swfull', host: '127.22.5.1', dataDir: join(tmp, 'full'), mode: 'full' });
  const port = await freePort('127.18.0.1');
  swarm = new Swarm({
    baseOctet: 18, port, namePrefix: 'rc-swt', seeds: [{ host: '127.22.5.1', port: Number(full.gossip.split(':')[1]) }], log: Logger.silent(), counters,
    remote: { trustSpecs: [`${formatPublicKey(viewerKey.raw)}@viewer`] },
  });
  await swarm.start();
  await swarm.grow(N);
  names = await waitFor(`${N} swarm members alive`, () => {
    const l = full.h.serf.members().filter((m) => m.status === 'alive' && m.tags.role === 'swarm').map((m) => m.name);
    return l.length === N ? l.sort() : undefined;
  }, 60_000);
});

test.after(async () => {
  await swarm?.stop();
  await full?.h.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const client = async (key: { privateKey: import('node:crypto').KeyObject; raw: Uint8Array }) => new RemoteClient({
  transport: serfTransport(full.h.serf), key, sequence: new OperatorSequence(null), pins: await NodePins.load(null), replyHost: '127.22.5.1', maxAnswerBytes: 1 << 20,
});

test('a trusted key\'s status by tag: every member answers, signed by its own key', async () => {
  const c = await client(viewerKey);
  const r = await c.run({ tag: 'role', expr: '^swarm$' }, 'status', [], { timeoutMs: 8000, expected: names });
  await c.close();
  assert.equal(r.missing, []);
  assert.equal(r.rejected, []);
  assert.equal(r.results.map((x) => x.node), names);
  for (const x of r.results) {
    assert.is(x.status, 'ok', x.node);
    assert.ok(x.stdout.includes(`name = ${x.node}`), x.stdout);
  }
  assert.ok(counters.get('swarm.remote.query_seen') >= N);
});

test('refusals: an untrusted key, a viewer\'s admin command; nothing runs, each counted', async () => {
  const stranger = generateKeyPair();
  const s = await client({ privateKey: stranger.privateKey, raw: rawPublicKey(stranger.publicKey) });
  const r1 = await s.run({ tag: 'role', expr: '^swarm$' }, 'status', [], { timeoutMs: 8000, expected: names });
  await s.close();
  assert.equal(r1.results.map((x) => [x.status, x.reason]), names.map(() => ['refused', 'untrusted']));
  assert.is(counters.get('remote.refused.untrusted'), N);
  const v = await client(viewerKey);
  const r2 = await v.run({ tag: 'role', expr: '^swarm$' }, 'tags', ['set', 'x=1'], { timeoutMs: 8000, expected: names });
  await v.close();
  assert.equal(r2.results.map((x) => [x.status, x.reason]), names.map(() => ['refused', 'role']));
  assert.is(counters.get('remote.refused.role'), N);
});

test('a replayed command (the same signed bytes in a new serf query) is refused by every member', async () => {
  const payload = signCommand(viewerKey, { target: 'tag:role=^swarm$', seq: Date.now() * 1000 + 7, command: 'status', args: [] });
  // Ends when every member has answered (serf keeps one response per node), else at the query's timeout.
  const send = () => new Promise<string[]>((resolve) => {
    const out: string[] = [];
    const q = full.h.serf.query(REMOTE_QUERY_NAME, payload, { filterTags: { role: '^swarm$' }, timeoutMs: 8000 }, {
      onResponse: (_f, p) => {
        out.push(decodeAnswer(unpackSigned(p).signed).status);
        if (out.length === N) void q.then((h) => h.close());
      },
      onDone: () => resolve(out),
    });
  });
  const first = await send();
  assert.is(first.filter((x) => x === 'ok').length, N);
  const again = await send();
  assert.equal(again, names.map(() => 'replay'));
  assert.is(counters.get('remote.replay.duplicate'), N);
});

test.run();
