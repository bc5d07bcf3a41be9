// The receiving side's checks, in order, each refusal counted and nothing run:
// unsigned, untrusted key, every signed field tampered, other target, replay
// (also after a restart: the sequence store is reloaded from its file), a
// viewer doing an admin command, a flood over the rate limit; write-ahead
// sequence numbers coalesced into few writes; large answers and truncation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from 'cbor-x';
import { Counters } from '../../agent/obs/counters.ts';
import { MemoryFile } from '../../agent/state/atomic-file.ts';
import { generateKeyPair, rawPublicKey, formatPublicKey, signBytes, keyId } from '../../agent/remote/keys.ts';
import { decodeAnswer, encodeCommand, packSigned, signCommand, unpackSigned, REFUSALS } from '../../agent/remote/envelope.ts';
import { RemoteExecutor, type RemoteCommand } from '../../agent/remote/executor.ts';
import { TrustStore } from '../../agent/remote/trust.ts';
import { SequenceStore } from '../../agent/remote/sequence-store.ts';
import { RateLimiter } from '../../agent/remote/rate-limit.ts';
import { AuditLog } from '../../agent/remote/audit.ts';

const admin = generateKeyPair();
const viewer = generateKeyPair();
const stranger = generateKeyPair();
const node = generateKeyPair();
const adminKey = { privateKey: admin.privateKey, raw: rawPublicKey(admin.publicKey) };
const viewerKey = { privateKey: viewer.privateKey, raw: rawPublicKey(viewer.publicKey) };
const strangerKey = { privateKey: stranger.privateKey, raw: rawPublicKey(stranger.publicKey) };

async function setup(o: { seqFile?: MemoryFile; burst?: number } = {}) {
  const ran: string[] = [];
  const counters = new Counters();
  // Roles come from the registry's table (roleOf), as on a node.
  const roles: Record<string, 'admin' | 'viewer'> = { 'reg.status': 'viewer', 'reg.lxc': 'admin', 'reg.big': 'viewer' };
  const cmd = (name: string): RemoteCommand => ({
    name, registryName: () => `reg.${name}`, run: async (args) => { ran.push([name, ...args].join(' ')); return { exit: 0, stdout: `${name} done\n`, stderr: '' }; },
  });
  const big: RemoteCommand = { name: 'big', registryName: () => 'reg.big', run: async () => ({ exit: 0, stdout: 'x'.repeat(70_000), stderr: '' }) };
  const gone: RemoteCommand = { name: 'gone', registryName: () => 'reg.gone', run: async () => { ran.push('gone'); return { exit: 0, stdout: '', stderr: '' }; } };
  const trust = await TrustStore.load([formatPublicKey(adminKey.raw), `${formatPublicKey(viewerKey.raw)}@viewer`], new MemoryFile());
  const seqFile = o.seqFile ?? new MemoryFile();
  const sequences = await SequenceStore.load(seqFile);
  const ex = new RemoteExecutor({
    nodeName: 'edge1', tags: () => ({ mode: 'edge', zone: 'z1' }), nodeKey: { privateKey: node.privateKey, raw: rawPublicKey(node.publicKey) },
    trust, sequences, rate: new RateLimiter({ burst: o.burst ?? 100, perMinute: 1 }), audit: new AuditLog(16), counters,
    commands: new Map([['status', cmd('status')], ['lxc', cmd('lxc')], ['big', big], ['gone', gone]]), roleOf: (n) => roles[n], maxAnswerBytes: 1 << 20, maxConcurrent: 4,
  });
  return { ex, ran, counters, seqFile, sequences };
}

let seq = 1000;
const send = (key = adminKey, over: Partial<{ target: string; command: string; args: string[]; seq: number }> = {}) =>
  signCommand(key, { target: 'edge1', seq: ++seq, command: 'status', args: [], ...over });

test('an accepted command runs once and its answer is signed for that request', async () => {
  const { ex, ran, counters } = await setup();
  const o = await ex.handle(send(adminKey, { command: 'lxc', args: ['list'] }), 'full1');
  assert.is(o.status, 'ok');
  assert.equal(ran, ['lxc list']);
  const r = ex.reply(o, 900);
  assert.is(r.large, null);
  const a = decodeAnswer(unpackSigned(r.inline).signed);
  assert.is(a.node, 'edge1');
  assert.is(a.stdout, 'lxc done\n');
  assert.is(counters.get('remote.executed'), 1);
});

test('every refusal is counted, answered with its reason and runs nothing', async () => {
  const { ex, ran, counters } = await setup({ burst: 3 });
  const reason = async (payload: Uint8Array) => (await ex.handle(payload, 'full1')).status;
  // unsigned: the signed bytes without a signature (and with an empty one)
  const good = send();
  const { signed } = unpackSigned(good);
  assert.is(await reason(new Uint8Array(encode([signed]))), 'signature');
  assert.is(await reason(packSigned(signed, new Uint8Array(0))), 'signature');
  // garbage
  assert.is(await reason(new Uint8Array([1, 2, 3])), 'decode');
  // another version
  assert.is(await reason(packSigned(new Uint8Array(encode([2, 'edge1'])), new Uint8Array(64))), 'version');
  // untrusted key
  assert.is(await reason(send(strangerKey)), 'untrusted');
  // other target (by name and by tag)
  assert.is(await reason(send(adminKey, { target: 'edge2' })), 'target');
  assert.is(await reason(send(adminKey, { target: 'tag:zone=z9' })), 'target');
  // each signed field tampered after signing
  const fields = decode(signed) as unknown[];
  const tampered: unknown[][] = [];
  const alt: unknown[] = [1, 'tag:mode=edge', keyId(viewerKey.raw), (fields[3] as number) + 1, new Uint8Array(16).fill(7), 'lxc', ['destroy', 'x'], ['10.0.0.1', 9, new Uint8Array(16)]];
  for (let i = 1; i < fields.length; i++) { const f = [...fields]; f[i] = alt[i]; tampered.push(f); }
  const sig = unpackSigned(good).sig;
  const why: string[] = [];
  for (const f of tampered) why.push(await reason(packSigned(new Uint8Array(encode(f)), sig)));
  // keyId swapped to the viewer's: that key is trusted, the signature does not match it.
  assert.equal(why, ['signature', 'signature', 'signature', 'signature', 'signature', 'signature', 'signature']);
  const flipped = new Uint8Array(sig); flipped[5] ^= 1;
  assert.is(await reason(packSigned(signed, flipped)), 'signature');
  // viewer doing an admin command
  assert.is(await reason(send(viewerKey, { command: 'lxc', args: ['destroy', 'web'] })), 'role');
  // unknown command, and one the registry does not declare (no role: never runs)
  assert.is(await reason(send(adminKey, { command: 'shell', args: ['rm -rf /'] })), 'invalid');
  assert.is(await reason(send(adminKey, { command: 'gone' })), 'invalid');
  assert.equal(ran, [], 'nothing ran');
  // replay: accepted once, refused the second time
  assert.is(await reason(good), 'ok');
  assert.is(await reason(good), 'replay');
  // an older sequence number
  assert.is(await reason(signCommand(adminKey, { target: 'edge1', seq: 5, command: 'status', args: [] })), 'replay');
  // flood: burst of 3 tokens, one used by `good`
  const flood: string[] = [];
  for (let i = 0; i < 6; i++) flood.push(await reason(send()));
  assert.equal(flood, ['ok', 'ok', 'rate', 'rate', 'rate', 'rate']);
  assert.is(ran.length, 3);
  for (const r of REFUSALS) if (r !== 'invalid' && r !== 'decode') assert.ok(counters.get(`remote.refused.${r}`) > 0, r);
  assert.is(counters.get('remote.refused.signature'), 10);
  assert.is(counters.get('remote.refused.rate'), 4);
  assert.is(counters.get('remote.refused.replay'), 2);
});

test('replay after a restart: the sequence store comes back from its file', async () => {
  const seqFile = new MemoryFile();
  const first = await setup({ seqFile });
  const cmd = send();
  assert.is((await first.ex.handle(cmd, 'full1')).status, 'ok');
  const again = await setup({ seqFile });
  assert.is((await again.ex.handle(cmd, 'full1')).status, 'replay');
  assert.equal(again.ran, []);
  assert.is(again.counters.get('remote.refused.replay'), 1);
});

test('write-ahead: the number is durable before the command runs; concurrent accepts share writes', async () => {
  const seqFile = new MemoryFile();
  const { ex, ran } = await setup({ seqFile });
  const writesAtRun: number[] = [];
  const store = await SequenceStore.load(seqFile);
  void store;
  const many = Array.from({ length: 8 }, () => send());
  const outs = await Promise.all(many.map((p) => ex.handle(p, 'full1').then((o) => { writesAtRun.push(seqFile.writes); return o; })));
  assert.ok(outs.every((o) => o.status === 'ok' || o.status === 'rate'));
  assert.ok(seqFile.writes <= 3, `8 concurrent accepts -> ${seqFile.writes} writes`);
  assert.ok(writesAtRun.every((w) => w >= 1));
  const persisted = decode(seqFile.data!) as Record<string, [number, Uint8Array]>;
  assert.ok(Object.values(persisted)[0]![0] >= seq - 8);
  assert.ok(ran.length >= 4);
});

test('a failed sequence write runs nothing', async () => {
  const broken = new MemoryFile();
  broken.write = async () => { throw new Error('disk full'); };
  const { ex, ran, counters } = await setup({ seqFile: broken });
  const o = await ex.handle(send(), 'full1');
  assert.is(o.out.exit, 1);
  assert.equal(ran, []);
  assert.is(counters.get('remote.sequence_write_errors'), 1);
});

test('an answer over the response budget: a signed "large" marker plus the whole answer, or cut without a reply address', async () => {
  const { ex } = await setup();
  const withReply = signCommand(adminKey, { target: 'edge1', seq: ++seq, command: 'big', args: [], reply: { addr: '127.0.0.1', port: 4000, token: new Uint8Array(16) } });
  const r = ex.reply(await ex.handle(withReply, 'full1'), 900);
  const marker = decodeAnswer(unpackSigned(r.inline).signed);
  assert.is(marker.status, 'large');
  assert.ok(r.large !== null && marker.size === r.large.length);
  assert.is(decodeAnswer(unpackSigned(r.large!).signed).stdout.length, 70_000);
  const cut = ex.reply(await ex.handle(send(adminKey, { command: 'big' }), 'full1'), 900);
  assert.ok(cut.inline.length <= 900 && cut.large === null);
  assert.match(decodeAnswer(unpackSigned(cut.inline).signed).stdout, /answer cut/);
});

test('envelope: a command with its reply address fits a serf query', () => {
  const p = signCommand(adminKey, { target: '0123456789abcdef-ns-host-10.1.2.3:5000', seq: Date.now() * 1000, command: 'lxc',
    args: ['create', 'web', '-t', 'busybox', '-memory', '64M', '-service-type', 'web', '-service-port', '8080', '-start'],
    reply: { addr: '10.1.2.3', port: 45678, token: new Uint8Array(16) } });
  assert.ok(p.length < 600, `${p.length} bytes`);
  void signBytes; void encodeCommand;
});


test('replay window: out of order inside the window runs exactly once, a duplicate and anything older than the window are refused', async () => {
  const seqFile = new MemoryFile();
  const { ex, ran, counters } = await setup({ seqFile });
  const base = seq + 10_000;
  seq = base + 1000;
  const at = (n: number, tag = String(n)) => signCommand(adminKey, { target: 'edge1', seq: n, command: 'lxc', args: [tag] });
  const status = async (p: Uint8Array) => (await ex.handle(p, 'full1')).status;
  const p100 = at(base + 100), p99 = at(base + 99), p50 = at(base + 50), p300 = at(base + 300);
  assert.is(await status(p100), 'ok');
  assert.is(await status(p99), 'ok', 'one below the top');
  assert.is(await status(p50), 'ok', '50 below the top');
  assert.is(await status(p99), 'replay', 'duplicate');
  assert.is(await status(at(base + 99, 'other-nonce')), 'replay', 'same number, another command');
  assert.is(await status(p300), 'ok', 'the window slides up');
  assert.is(await status(p100), 'replay', 'still inside the window, already run');
  assert.is(await status(at(base + 300 - 255)), 'ok', 'the oldest number the window still holds');
  assert.is(await status(at(base + 300 - 256)), 'replay', 'one below the window');
  assert.is(await status(p50), 'replay', 'inside the window (250 below), already run');
  assert.is(await status(at(base + 10)), 'replay', 'far below the window');
  assert.is(counters.get('remote.replay.duplicate'), 4);
  assert.is(counters.get('remote.replay.too-old'), 2);
  assert.equal(ran, [100, 99, 50, 300, 45].map((n) => `lxc ${base + n}`));
  // After a restart (the store reloaded from its file) every number run before is still refused,
  // and one never used inside the window still runs.
  const again = await setup({ seqFile });
  for (const p of [p100, p99, p50, p300]) assert.is((await again.ex.handle(p, 'full1')).status, 'replay');
  assert.is((await again.ex.handle(at(base + 200), 'full1')).status, 'ok');
  assert.equal(again.ran, [`lxc ${base + 200}`]);
});

test('replay window: a file from before the window (key -> last number) refuses everything up to that number', async () => {
  const seqFile = new MemoryFile();
  const id = Buffer.from(keyId(adminKey.raw)).toString('hex');
  await seqFile.write(new Uint8Array(encode({ [id]: 5000 })));
  const store = await SequenceStore.load(seqFile, 64);
  assert.ok(!store.isFresh(id, 5000) && !store.isFresh(id, 4999) && !store.isFresh(id, 4937));
  assert.ok(store.isFresh(id, 5001));
  // A window saved with 64 bits, loaded with 256: the 192 numbers it cannot tell about count as taken.
  assert.ok(await store.accept(id, 5010));
  const wider = await SequenceStore.load(seqFile, 256);
  assert.ok(!wider.isFresh(id, 5010) && !wider.isFresh(id, 5000) && !wider.isFresh(id, 4900));
  assert.ok(wider.isFresh(id, 5011));
});

test('commands sent at once beyond maxConcurrent wait for a slot instead of being refused', async () => {
  const { ex, ran } = await setup({ burst: 100 });
  const outs = await Promise.all(Array.from({ length: 12 }, () => ex.handle(send(), 'full1')));
  assert.equal(outs.map((o) => o.status), Array(12).fill('ok'));
  assert.is(ran.length, 12);
});

test('operator numbers: two processes sharing one counter file (under its lock) take unique, consecutive numbers', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { AtomicFile } = await import('../../agent/state/atomic-file.ts');
  const { OperatorSequence } = await import('../../agent/remote/sender.ts');
  const dir = mkdtempSync(join(tmpdir(), 'rc-opseq-'));
  try {
    const mk = () => new OperatorSequence(new AtomicFile(join(dir, 'k.seq')), () => 1_000_000, join(dir, 'k.seq.lock'));
    const a = mk(), b = mk();
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).next()));
    const sorted = [...got].sort((x, y) => x - y);
    assert.equal(sorted, Array.from({ length: 20 }, (_, i) => 1_000_000_000 + i), 'seeded from the clock once, then consecutive');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test.run();
