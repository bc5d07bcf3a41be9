// Encryption interop with the real serf 0.9.4: a mixed encrypted cluster works,
// nodes with a wrong key or no key are not admitted (both directions), and
// `serf keys -install/-use/-remove` run on a serf node rotates the key on our
// nodes too while the cluster stays joined. Our key manager lists keys cluster-wide.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SerfInstance } from '../../../agent/gossip/serf/create.ts';
import { Keyring, keyToBase64 } from '../../../agent/gossip/wire/keyring.ts';
import type { SerfEvent } from '../../../agent/gossip/serf/types.ts';
import { SerfAgent } from '../../support/real-serf.ts';
import { startCapturing } from './helpers.ts';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor, sleep } from '../../support/wait.ts';

const K1 = 'AAECAwQFBgcICQoLDA0ODw==';
const K2 = 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=';
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const dir = mkdtempSync(join(tmpdir(), 'keys-test-'));

interface Ours extends SerfInstance { events: SerfEvent[]; keyring: Keyring | null }
const ours: Ours[] = [];
const agents: SerfAgent[] = [];

async function startOurs(name: string, ip: string, keys: string[] | null, keyringFile?: string): Promise<Ours> {
  const keyring = keys ? Keyring.fromBase64(keys) : null;
  const o: Ours = Object.assign(await startCapturing({
    nodeName: name, bindAddr: ip, bindPort: 7946, profile: 'lan', protocolVersion: 4, keyring, ...(keyringFile ? { keyringFile } : {}),
  }), { keyring });
  ours.push(o);
  return o;
}

test.after(async () => {
  for (const o of ours) await o.stop().catch(() => {});
  for (const a of agents) { await a.stop(); a.cleanup(); }
  rmSync(dir, { recursive: true, force: true });
});

let o1: Ours, o2: Ours, s1: SerfAgent, s2: SerfAgent;
const aliveNames = async (a: SerfAgent) => (await a.members()).filter((m) => m.status === 'alive').map((m) => m.name).sort();

test('mixed cluster with one key assembles', async () => {
  o1 = await startOurs('ko1', '127.0.3.21', [K1], join(dir, 'ko1.keyring'));
  s1 = new SerfAgent({ name: 'ks1', ip: '127.0.3.31', encrypt: K1, join: ['127.0.3.21:7946'] });
  s2 = new SerfAgent({ name: 'ks2', ip: '127.0.3.32', encrypt: K1, join: ['127.0.3.31:7946'] });
  agents.push(s1, s2);
  s1.start(); await s1.waitReady();
  s2.start(); await s2.waitReady();
  o2 = await startOurs('ko2', '127.0.3.22', [K1]);
  assert.ok(await o2.serf.join(['127.0.3.32:7946'], true) >= 1);
  const all = ['ko1', 'ko2', 'ks1', 'ks2'];
  for (const a of [s1, s2]) await waitFor(`${a.o.name} sees 4`, async () => JSON.stringify(await aliveNames(a)) === JSON.stringify(all), 30_000, 300);
  for (const o of [o1, o2]) await waitFor('ours see 4', () => o.serf.members().filter((m) => m.status === 'alive').length === 4, 30_000);
  assert.is(o1.serf.stats().encrypted, 'true');
});

test('wrong key or no key is not admitted, both directions', async () => {
  const bad = await startOurs('bad-ours', '127.0.3.23', [K2]);
  let joined = 0;
  try { joined = await bad.serf.join(['127.0.3.31:7946'], true); } catch { joined = 0; }
  assert.is(joined, 0, 'our node with the wrong key cannot join');
  const plain = await startOurs('plain-ours', '127.0.3.24', null);
  let pj = 0;
  try { pj = await plain.serf.join(['127.0.3.31:7946'], true); } catch { pj = 0; }
  assert.is(pj, 0, 'our node without a key cannot join');
  const s3 = new SerfAgent({ name: 'bad-serf', ip: '127.0.3.33', encrypt: K2 });
  const s4 = new SerfAgent({ name: 'plain-serf', ip: '127.0.3.34' });
  agents.push(s3, s4);
  s3.start(); s4.start();
  await s3.waitReady(); await s4.waitReady();
  const j3 = await s3.cli(['join', '127.0.3.21:7946']);
  const j4 = await s4.cli(['join', '127.0.3.22:7946']);
  assert.is.not(j3.code, 0, 'serf with the wrong key cannot join ours');
  assert.is.not(j4.code, 0, 'serf without a key cannot join ours');
  await sleep(3000);
  for (const o of [o1, o2]) {
    const names = o.serf.members().map((m) => m.name);
    for (const n of ['bad-ours', 'plain-ours', 'bad-serf', 'plain-serf']) assert.not.ok(names.includes(n), `${n} not admitted`);
  }
  assert.equal(await aliveNames(s1), ['ko1', 'ko2', 'ks1', 'ks2']);
  await bad.stop(); await plain.stop();
  await s3.stop(); await s4.stop();
});

test('serf keys -install/-use/-remove on a serf node rotates the key on our nodes; cluster stays joined', async () => {
  const inst = await s1.cli(['keys', '-install', K2]);
  assert.is(inst.code, 0, inst.out + inst.err);
  await waitFor('our keyrings have K2', () => [o1, o2].every((o) => o.keyring!.keys().map(keyToBase64).includes(K2)), 10_000);
  const use = await s1.cli(['keys', '-use', K2]);
  assert.is(use.code, 0, use.out + use.err);
  await waitFor('our primary is K2', () => [o1, o2].every((o) => keyToBase64(o.keyring!.primaryKey()!) === K2), 10_000);
  const rm = await s1.cli(['keys', '-remove', K1]);
  assert.is(rm.code, 0, rm.out + rm.err);
  await waitFor('K1 gone from our keyrings', () => [o1, o2].every((o) => o.keyring!.keys().length === 1), 10_000);
  const list = await s2.cli(['keys', '-list']);
  assert.is(list.code, 0, list.out + list.err);
  assert.match(list.out, new RegExp(`${K2.replace(/[+/=]/g, '\\$&')}\\s+\\[4/4\\]`));
  assert.not.match(list.out, /AAECAwQFBgcICQoLDA0ODw==/);
  // the keyring file of ko1 was rewritten
  assert.equal(JSON.parse(readFileSync(join(dir, 'ko1.keyring'), 'utf8')), [K2]);
  // still joined, and gossip flows with the new key
  await sleep(4000);
  assert.equal(await aliveNames(s2), ['ko1', 'ko2', 'ks1', 'ks2']);
  for (const o of [o1, o2]) assert.is(o.serf.members().filter((m) => m.status === 'alive').length, 4);
  const ev = await s2.cli(['event', '-coalesce=false', 'after-rotation', 'ok']);
  assert.is(ev.code, 0);
  await waitFor('event after rotation reaches ours', () => [o1, o2].every((o) => o.events.some((e) => e.type === 'user' && e.name === 'after-rotation' && dec(e.payload) === 'ok')), 15_000);
});

test('our key manager: list keys across the mixed cluster; install/remove from our side reaches serf', async () => {
  const km = o2.serf.keyManager();
  const l = await km.listKeys();
  assert.is(l.numNodes, 4);
  assert.is(l.numResp, 4);
  assert.is(l.numErr, 0);
  assert.equal(l.keys, { [K2]: 4 });
  const r = await km.installKey(K1);
  assert.is(r.numErr, 0, JSON.stringify(r.messages));
  const list = await s1.cli(['keys', '-list']);
  assert.match(list.out, /AAECAwQFBgcICQoLDA0ODw==\s+\[4\/4\]/);
  const bad = await km.removeKey(K2);
  assert.is(bad.numErr, 4, 'the primary cannot be removed anywhere');
  const ok = await km.removeKey(K1);
  assert.is(ok.numErr, 0);
});

test.run();
