// Remote control between agents in this process over loopback UDP/TCP: a full
// node runs `cloudy-agent remote` against edge nodes through its own agent's
// RPC. Covers: status/members printing what the local command prints with the
// same exit code; fan-out by tag listing nodes that did not answer; a viewer
// refused an admin command (counted, nothing run); a replayed command refused
// also after the edge restarts; a >64 KiB answer arriving whole over the TCP
// back-channel; an answer forged by another node rejected; the audit log on
// both sides; operator trust/untrust/list over local RPC.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSerfMessage } from '../../agent/gossip/wire/serf-messages.ts';
import { readPrivateKey, rawPublicKey, generateKeyPair, signBytes } from '../../agent/remote/keys.ts';
import { NodePins, OperatorSequence, RemoteClient, type QueryTransport } from '../../agent/remote/sender.ts';
import { serfTransport } from '../../agent/remote/transports.ts';
import { AtomicFile, MemoryFile } from '../../agent/state/atomic-file.ts';
import { ENVELOPE_VERSION, REMOTE_QUERY_NAME, encodeAnswer, packSigned, requestId, unpackSigned } from '../../agent/remote/envelope.ts';
import type { Serf } from '../../agent/gossip/serf/types.ts';
import { keygen, ours, startNode, tempDir, type TestNode } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const tmp = tempDir('cluster');
const nodes: TestNode[] = [];
const adminFile = join(tmp, 'admin.key');
const viewerFile = join(tmp, 'viewer.key');
let full: TestNode, edge1: TestNode, edge2: TestNode;
let adminPub = '', viewerPub = '', guiPub = '';

test.before(async () => {
  adminPub = await keygen(adminFile);
  viewerPub = await keygen(viewerFile);
  // The full node's own operator key (what its GUI/API sign with): one key, one counter.
  guiPub = await keygen(join(tmp, 'full', 'operator.key'));
  full = await startNode({ name: 'rc-full', host: '127.22.0.1', dataDir: join(tmp, 'full'), mode: 'full', tags: { mode: 'full' } });
  nodes.push(full);
  edge1 = await startNode({ name: 'rc-edge1', host: '127.22.0.2', dataDir: join(tmp, 'edge1'), join: [full.gossip], trust: [adminPub, `${viewerPub}@viewer`, guiPub], tags: { mode: 'edge' } });
  edge2 = await startNode({ name: 'rc-edge2', host: '127.22.0.3', dataDir: join(tmp, 'edge2'), join: [full.gossip], trust: [adminPub, guiPub], tags: { mode: 'edge' } });
  nodes.push(edge1, edge2);
  await waitFor('three alive members', () => nodes.every((n) => n.h.serf.members().filter((m) => m.status === 'alive').length === 3));
});

test.after(async () => {
  for (const n of nodes) await n.h.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const remote = (args: string[], key = adminFile) => ours(['remote', '-key', key, '-rpc-addr', full.rpc, '-timeout', '10s', ...args]);

test('remote status and members print what the local command prints, with its exit code', async () => {
  const st = await remote(['rc-edge1', 'status']);
  assert.is(st.code, 0, st.stderr);
  assert.match(st.stdout, /name = rc-edge1/);
  const local = await ours(['members', '-rpc-addr', edge1.rpc]);
  const rem = await remote(['rc-edge1', 'members']);
  assert.is(rem.code, local.code);
  const norm = (s: string) => s.split('\n').sort().join('\n');
  assert.is(norm(rem.stdout), norm(local.stdout));
  // A failing command fails the same way remotely.
  const bad = await remote(['rc-edge1', 'lxc', 'info', 'nope']);
  const badLocal = await ours(['lxc', 'info', 'nope', '-rpc-addr', edge1.rpc]);
  assert.is(bad.code, badLocal.code);
  assert.is(bad.stderr, badLocal.stderr);
});

test('fan-out by tag: one result per node; a refusal counts as an answer', async () => {
  const r = await remote(['-tag', 'mode=edge', '-format', 'json', 'status']);
  const j = JSON.parse(r.stdout) as { results: { node: string; status: string; exit: number }[]; missing: string[] };
  assert.equal(j.results.map((x) => x.node), ['rc-edge1', 'rc-edge2']);
  assert.ok(j.results.every((x) => x.status === 'ok' && x.exit === 0));
  assert.equal(j.missing, []);
  assert.is(r.code, 0);
  // The full node matches mode=.* but trusts nobody: it answers with a refusal (exit 1).
  const all = await remote(['-tag', 'mode=.*', '-timeout', '3s', 'status']);
  assert.is(all.code, 1);
  assert.match(all.stdout, /==> rc-full: refused untrusted/);
});

test('fan-out by tag ends once every expected member has answered; an expected member that never answers is listed after the timeout', async () => {
  const kp = await readPrivateKey(adminFile);
  const inner = serfTransport(full.h.serf);
  const endedEarly: boolean[] = [];
  const watched: QueryTransport = { async query(p, onResponse, signal) { await inner.query(p, onResponse, signal); endedEarly.push(signal.aborted); } };
  const c = new RemoteClient({
    transport: watched, key: { privateKey: kp.privateKey, raw: rawPublicKey(kp.publicKey) }, pins: await NodePins.load(new MemoryFile()),
    sequence: new OperatorSequence(new AtomicFile(`${adminFile}.seq`), Date.now, `${adminFile}.seq.lock`), replyHost: '127.22.0.1', maxAnswerBytes: 1 << 20,
  });
  try {
    const all = await c.run({ tag: 'mode', expr: '^edge$' }, 'status', [], { timeoutMs: 30_000, expected: ['rc-edge1', 'rc-edge2'] });
    assert.equal(all.results.map((x) => [x.node, x.status]), [['rc-edge1', 'ok'], ['rc-edge2', 'ok']]);
    assert.equal(all.missing, []);
    const ghost = await c.run({ tag: 'mode', expr: '^edge$' }, 'status', [], { timeoutMs: 1500, expected: ['rc-edge1', 'rc-edge2', 'rc-ghost'] });
    assert.equal(ghost.results.map((x) => x.node), ['rc-edge1', 'rc-edge2']);
    assert.equal(ghost.missing, ['rc-ghost']);
    assert.equal(endedEarly, [true, false], 'the first run stopped when both had answered; the second ran to its timeout');
  } finally { await c.close(); }
});

test('a viewer may look but not act: refused with reason role, counted, nothing run', async () => {
  const before = edge1.h.counters.get('remote.executed');
  const ok = await remote(['rc-edge1', 'lxc', 'list'], viewerFile);
  assert.not.match(ok.stderr, /refused/, "lxc list runs as viewer (containers are off here: it says so)");
  assert.match(ok.stderr, /unavailable/);
  const r = await remote(['rc-edge1', 'tags', 'set', 'owned=yes'], viewerFile);
  assert.is(r.code, 1);
  assert.match(r.stderr, /refused \(role\)/);
  assert.is(edge1.h.counters.get('remote.refused.role'), 1);
  assert.is(edge1.h.counters.get('remote.executed'), before + 1);
  assert.not.ok('owned' in edge1.h.serf.localMember().tags);
  // The untrusted viewer key on edge2.
  const r2 = await remote(['rc-edge2', 'status'], viewerFile);
  assert.match(r2.stderr, /refused \(untrusted\)/);
  assert.is(edge2.h.counters.get('remote.refused.untrusted'), 1);
});

test('an admin changes tags; the audit log of both sides shows it', async () => {
  const r = await remote(['rc-edge2', 'tags', 'set', 'zone=z7']);
  assert.is(r.code, 0, r.stderr);
  await waitFor('tag seen by the full node', () => full.h.serf.members().some((m) => m.name === 'rc-edge2' && m.tags.zone === 'z7'));
  const inLog = await ours(['remote-log', '-rpc-addr', edge2.rpc]);
  assert.match(inLog.stdout, /from rc-full .* tags set zone=z7 +-> ok/);
  const outLog = await ours(['remote-log', '-rpc-addr', full.rpc]);
  assert.match(outLog.stdout, /to {3}rc-edge2 .* tags set zone=z7 +-> ok/);
});

/** Sends a raw payload as the remote query from the full node; returns the answers' status strings. */
async function rawQuery(serf: Serf, node: string, payload: Uint8Array): Promise<string[]> {
  const out: string[] = [];
  await new Promise<void>((resolve) => {
    void serf.query(REMOTE_QUERY_NAME, payload, { filterNodes: [node], timeoutMs: 5000 }, {
      onResponse: (_f, p) => {
        const a = unpackSigned(p);
        out.push((JSON.parse(JSON.stringify(decodeStatus(a.signed)))) as string);
        resolve();
      },
      onDone: () => resolve(),
    });
  });
  return out;
}
function decodeStatus(signed: Uint8Array): string {
  return (globalThis as unknown as { __dec: (b: Uint8Array) => { status: string } }).__dec(signed).status;
}

test('commands sent at once arrive out of order and each runs once; a replay is refused, also after the edge restarts', async () => {
  const { decodeAnswer, signCommand } = await import('../../agent/remote/envelope.ts');
  (globalThis as unknown as { __dec: unknown }).__dec = decodeAnswer;
  const kp = await readPrivateKey(adminFile);
  const key = { privateKey: kp.privateKey, raw: rawPublicKey(kp.publicKey) };
  // The numbers the `remote` CLI would take next (its counter file, under its lock).
  const counter = new OperatorSequence(new AtomicFile(`${adminFile}.seq`), Date.now, `${adminFile}.seq.lock`);
  const [s1, s2, s3] = [await counter.next(), await counter.next(), await counter.next()];
  const cmd = (seq: number, tag: string) => signCommand(key, { target: 'rc-edge1', seq, command: 'tags', args: ['set', `${tag}=1`] });
  const p1 = cmd(s1, 'replayed'), p2 = cmd(s2, 'second'), p3 = cmd(s3, 'third');
  // Newest first: the older two are inside the window and still run, once each.
  assert.equal(await rawQuery(full.h.serf, 'rc-edge1', p3), ['ok']);
  assert.equal(await rawQuery(full.h.serf, 'rc-edge1', p1), ['ok']);
  assert.equal(await rawQuery(full.h.serf, 'rc-edge1', p2), ['ok']);
  await waitFor('tags set', () => ['replayed', 'second', 'third'].every((t) => edge1.h.serf.localMember().tags[t] === '1'));
  await ours(['tags', '-delete', 'replayed', '-delete', 'second', '-delete', 'third', '-rpc-addr', edge1.rpc]);
  for (const p of [p1, p2, p3]) assert.equal(await rawQuery(full.h.serf, 'rc-edge1', p), ['replay']);
  assert.is(edge1.h.counters.get('remote.replay.duplicate'), 3);
  // Restart edge1 on the same data dir and ports.
  await edge1.h.stop();
  const again = await startNode({ ...edge1.opts, join: [full.gossip] });
  nodes[1] = again;
  edge1 = again;
  await waitFor('edge1 back', () => full.h.serf.members().some((m) => m.name === 'rc-edge1' && m.status === 'alive') && again.h.serf.members().length === 3);
  for (const p of [p2, p1, p3]) assert.equal(await rawQuery(full.h.serf, 'rc-edge1', p), ['replay']);
  // >= 3: the restarted node has a fresh serf query buffer, so copies of the earlier (replayed)
  // queries still gossiped by the others reach it again and are refused too.
  assert.ok(again.h.counters.get('remote.refused.replay') >= 3);
  assert.is(again.h.counters.get('remote.executed'), 0);
  for (const t of ['replayed', 'second', 'third']) assert.not.ok(t in again.h.serf.localMember().tags);
  // The CLI goes on with the next numbers.
  const st = await remote(['rc-edge1', 'status']);
  assert.is(st.code, 0, st.stderr);
});

test('an answer over 64 KiB arrives whole (TCP back to the requester, verified)', async () => {
  const line = 'x'.repeat(300);
  for (let i = 0; i < 400; i++) edge2.h.logger.child('filler').info(`${i} ${line}`);
  const r = await remote(['rc-edge2', 'logs', '-lines', '400']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.stdout.length > 64 * 1024, `${r.stdout.length} bytes`);
  const want = edge2.h.logger.recent().map((x) => x.line);
  const got = r.stdout.trimEnd().split('\n');
  assert.is(got.length, 400);
  // The edge's ring kept growing after the answer (the audit line): compare against the tail at that time.
  const at = want.indexOf(got[0]!);
  assert.ok(at >= 0);
  assert.equal(got, want.slice(at, at + 400));
  assert.ok(edge2.h.counters.get('remote.large_answers') >= 1);
});

test('an answer forged by another node is rejected by the requester', async () => {
  const kp = await readPrivateKey(adminFile);
  const key = { privateKey: kp.privateKey, raw: rawPublicKey(kp.publicKey) };
  const pins = await NodePins.load(new MemoryFile());
  const mk = (transport: QueryTransport) => new RemoteClient({ transport, key, sequence: new OperatorSequence(new AtomicFile(`${adminFile}.seq`), Date.now, `${adminFile}.seq.lock`), pins, replyHost: '127.22.0.1', maxAnswerBytes: 1 << 20 });
  // First contact pins edge2's real key.
  const honest = mk(serfTransport(full.h.serf));
  const first = await honest.run({ node: 'rc-edge2' }, 'status', [], { timeoutMs: 10_000 });
  assert.is(first.results[0]?.status, 'ok');
  await honest.close();
  // edge1 (a member that sees every query's payload in gossip) forges an answer
  // From rc-edge2 with its own key, and sends it straight to the requester before the real one.
  const rogueKey = generateKeyPair();
  const rogueSerf = edge1.h.serf as unknown as { memberlist(): { sendToAddress(to: { addr: string; port: number }, b: Uint8Array): void } };
  const forging: QueryTransport = {
    async query(p, onResponse, signal) {
      let done: () => void = () => {};
      const fin = new Promise<void>((r) => { done = r; });
      const h = await full.h.serf.query(p.name, p.payload, { filterNodes: p.filterNodes!, timeoutMs: p.timeoutMs }, { onResponse, onDone: () => done() });
      const inner = encodeAnswer({ version: ENVELOPE_VERSION, node: 'rc-edge2', nodeKey: rawPublicKey(rogueKey.publicKey), request: requestId(unpackSigned(p.payload).signed),
        status: 'ok', exit: 0, stdout: 'all fine, nothing to see\n', stderr: '', size: 0 });
      const forged = packSigned(inner, signBytes(rogueKey.privateKey, inner));
      const [host, port] = full.gossip.split(':');
      rogueSerf.memberlist().sendToAddress({ addr: host!, port: Number(port) }, encodeSerfMessage({ type: 'queryResponse', ltime: h.ltime, id: h.id, from: 'rc-edge2', flags: 0, payload: forged }));
      signal.addEventListener('abort', () => h.close(), { once: true });
      await fin;
    },
  };
  const c = mk(forging);
  const r = await c.run({ node: 'rc-edge2' }, 'status', [], { timeoutMs: 4000 });
  await c.close();
  assert.is(r.results.length, 1);
  assert.equal(r.rejected.map((x) => x.node), ['rc-edge2']);
  assert.match(r.rejected[0]!.reason, /not the one pinned/);
  // serf keeps only the first response per node (the forged one), so the real answer can only
  // have come over the TCP back-channel (status is larger than a response): either way never the forgery.
  assert.not.match(r.results[0]!.stdout, /all fine/);
  if (r.results[0]!.status === 'ok') assert.match(r.results[0]!.stdout, /name = rc-edge2/);
  else assert.is(r.results[0]!.status, 'forged');
});

test('config get/set (allow-list), logs, join through remote; the GUI/API entry points remote.view and remote.run', async () => {
  const g = await remote(['rc-edge1', 'config', 'get', 'log_level']);
  assert.is(g.stdout, 'log_level = INFO\n');
  const s1 = await remote(['rc-edge1', 'config', 'set', 'log_level', 'debug']);
  assert.is(s1.code, 0, s1.stderr);
  assert.is(edge1.h.logger.level, 'DEBUG');
  const s2 = await remote(['rc-edge1', 'config', 'set', 'rpc_addr', '0.0.0.0:7373']);
  assert.is(s2.code, 1);
  assert.match(s2.stderr, /cannot be set remotely/);
  const j = await remote(['rc-edge1', 'join', full.gossip]);
  assert.is(j.code, 0, j.stderr);
  const lxcExec = await remote(['rc-edge1', 'lxc', 'exec', 'x', '--', 'sh']);
  assert.match(lxcExec.stderr, /refused \(invalid\)/);
  const rpcFlag = await remote(['rc-edge1', 'members', '-rpc-addr', '10.0.0.1:7373']);
  assert.match(rpcFlag.stderr, /refused \(invalid\)/);
  // The full node's registry commands (what its GUI and API call), signing with <data-dir>/operator.key.
  const v = await full.h.registry.invoke('remote.view', { Node: 'rc-edge1', Command: 'status' }, { origin: 'http', role: 'viewer' }) as { Results: { Node: string; Status: string; Stdout: string }[] };
  assert.is(v.Results[0]!.Status, 'ok');
  assert.match(v.Results[0]!.Stdout, /name = rc-edge1/);
  try {
    await full.h.registry.invoke('remote.view', { Node: 'rc-edge1', Command: 'lxc', Args: ['destroy', 'x'] }, { origin: 'http', role: 'viewer' });
    assert.unreachable('viewer ran an admin command');
  } catch (e) { assert.is((e as { code: string }).code, 'E_FORBIDDEN'); }
  try {
    await full.h.registry.invoke('remote.run', { Node: 'rc-edge1', Command: 'status' }, { origin: 'http', role: 'viewer' });
    assert.unreachable('viewer used remote.run');
  } catch (e) { assert.is((e as { code: string }).code, 'E_FORBIDDEN'); }
  const fan = await full.h.registry.invoke('remote.run', { Tag: 'mode=edge', Command: 'config', Args: ['get', 'mode'], TimeoutMs: 4000 }, { origin: 'http', role: 'admin' }) as { Results: { Node: string; Stdout: string }[]; Missing: string[] };
  assert.equal(fan.Results.map((x) => x.Node), ['rc-edge1', 'rc-edge2']);
  assert.equal(fan.Missing, []);
});

test('the GUI/API sending several commands at once, and `remote -tag` beside them: every one runs', async () => {
  const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => full.h.registry.invoke('remote.run', { Node: i % 2 ? 'rc-edge1' : 'rc-edge2', Command: 'config', Args: ['get', 'log_level'], TimeoutMs: 20_000 }, { origin: 'http', role: 'admin' })));
  const fan = remote(['-tag', 'mode=edge', 'status']);
  for (const r of runs as { Results: { Status: string; Exit: number }[] }[]) assert.equal(r.Results.map((x) => [x.Status, x.Exit]), [['ok', 0]]);
  const f = await fan;
  assert.is(f.code, 0, f.stdout + f.stderr);
});

test('operator trust / untrust / list on the running agent (local RPC); untrust survives a restart of the trust store', async () => {
  const other = generateKeyPair();
  const pub = `ed25519:${Buffer.from(rawPublicKey(other.publicKey)).toString('base64')}`;
  const t = await ours(['operator', 'trust', pub, '-role', 'viewer', '-rpc-addr', edge2.rpc]);
  assert.is(t.code, 0, t.stderr);
  const l = await ours(['operator', 'list', '-rpc-addr', edge2.rpc]);
  assert.match(l.stdout, /viewer .*\(operator\)/);
  assert.match(l.stdout, /admin .*\(config\)/);
  const u = await ours(['operator', 'untrust', adminPub, '-rpc-addr', edge2.rpc]);
  assert.is(u.stdout, 'Removed\n');
  const saved = JSON.parse(readFileSync(join(tmp, 'edge2', 'remote', 'trust.json'), 'utf8')) as { revoked: string[] };
  assert.is(saved.revoked.length, 1);
  const r = await remote(['rc-edge2', 'status']);
  assert.match(r.stderr, /refused \(untrusted\)/);
  const show = await ours(['operator', 'show', '-node', '-rpc-addr', edge2.rpc]);
  assert.match(show.stdout, /^ed25519:[A-Za-z0-9+/]{43}=\n$/);
});

test.run();
