// Issue 13 point 5: cloudy-agent's publish | unpublish | search | services on a
// node that still runs the real `serf agent` (which answers our verbs with
// "Unsupported command") fall back to serf's standard RPC - the services tag
// read-modify-written with `tags`, the cluster read with `members` - and say
// so. Two real serf agents; what we write is checked with the real
// `serf members -format json` from the other node and with avahi-ps's pipeline.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { publishCommand, searchCommand, servicesCommand, unpublishCommand } from '../../agent/discovery/cli.ts';
import { decodeServicesTag, SERVICES_TAG } from '../../agent/discovery/codec.ts';
import type { CliCommand } from '../../agent/cli-kit/command.ts';
import { serfCliAsync, startSerfAgent, type SerfAgent } from '../cli/helpers.ts';
import { freePort } from '../support/net.ts';
import { waitFor } from '../support/wait.ts';

const A = '127.0.25.41';
const B = '127.0.25.42';
const PIPELINE = fileURLToPath(new URL('../fixtures/avahi-ps/serf-search.sh', import.meta.url));
let a: SerfAgent | null = null;
let b: SerfAgent | null = null;
let rpcA = '';
let rpcB = '';

async function run(cmd: CliCommand, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await cmd.run(args, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { code, out, err };
}

/** `services` tag of `node` as the real serf CLI on the OTHER agent shows it. */
async function tagSeenFrom(rpc: string, node: string): Promise<string | undefined> {
  const r = await serfCliAsync(['members', rpc, '-format', 'json']);
  assert.is(r.code, 0, r.stderr);
  const m = (JSON.parse(r.stdout) as { members: { name: string; tags: Record<string, string> }[] }).members.find((x) => x.name === node);
  return m?.tags[SERVICES_TAG];
}

test.before(async () => {
  const [ga, ra, gb, rb] = [await freePort(A), await freePort(A), await freePort(B), await freePort(B)];
  a = await startSerfAgent({ name: 'fd-real-a', bind: `${A}:${ga}`, rpc: `${A}:${ra}`, tags: { role: 'fd' } });
  b = await startSerfAgent({ name: 'fd-real-b', bind: `${B}:${gb}`, rpc: `${B}:${rb}`, join: `${A}:${ga}` });
  rpcA = `-rpc-addr=${A}:${ra}`;
  rpcB = `-rpc-addr=${B}:${rb}`;
  await waitFor('two members', async () => (await serfCliAsync(['members', rpcA])).stdout.split('\n').filter((l) => / alive/.test(l)).length === 2);
});
test.after(async () => { await b?.stop(); await a?.stop(); });

test('help says which modes there are', async () => {
  for (const c of [publishCommand, unpublishCommand, searchCommand, servicesCommand]) assert.match((await run(c, ['-h'])).out, /serf standard RPC/, c.name);
});

test('publish against a real serf: the tag appears in the other node\'s serf members, fields as avahi-ps writes them', async () => {
  const r = await run(publishCommand, [rpcA, '-microcloud', 'fdcloud', 'Syncthing instance running', 'syncthing', '22000', 'node_id=ABC-123']);
  assert.is(r.code, 0, r.err);
  assert.match(r.err, /mode: serf standard RPC/);
  const want = { s: 'syncthing', d: 'Syncthing_instance_running', m: `${hostname()}.guifi.local`, i: A, p: '22000', e: 'fdcloud', t: 'node_id=ABC-123' };
  const value = await waitFor('tag on B', () => tagSeenFrom(rpcB, 'fd-real-a'));
  assert.equal(decodeServicesTag(value, 65536), [want]);
  // A second publish keeps the first (read-modify-write) and the other tags.
  assert.is((await run(publishCommand, [rpcA, '-microcloud', 'fdcloud', 'SERF instance running', 'serf', '5000'])).code, 0);
  const two = await waitFor('two services on B', async () => { const v = await tagSeenFrom(rpcB, 'fd-real-a'); return v && decodeServicesTag(v, 65536).length === 2 ? v : undefined; });
  assert.equal(decodeServicesTag(two, 65536).map((x) => x.s), ['syncthing', 'serf']);
  const info = await serfCliAsync(['info', rpcA, '-format', 'json']);
  assert.is((JSON.parse(info.stdout) as { tags: Record<string, string> }).tags.role, 'fd');
  // Re-publishing the same type+port replaces it (avahi-ps's rule).
  assert.is((await run(publishCommand, [rpcA, '-microcloud', 'fdcloud', 'Sync two', 'syncthing', '22000'])).code, 0);
  const s = await run(servicesCommand, [rpcA]);
  assert.is(s.code, 0, s.err);
  assert.is(s.out, 'serf  5000  SERF_instance_running  announced\nsyncthing  22000  Sync_two  announced\n');
  assert.match(s.err, /mode: serf standard RPC/);
  // What avahi-ps's own search pipeline makes of the tag we wrote.
  const tag = (await serfCliAsync(['info', rpcA, '-format', 'json'])).stdout;
  const p = spawnSync('bash', [PIPELINE, '"fd-real-a"'], { input: (JSON.parse(tag) as { tags: Record<string, string> }).tags[SERVICES_TAG], encoding: 'utf8' });
  assert.is((JSON.parse(p.stdout) as unknown[]).length, 2, p.stderr);
});

test('search lists the services of the whole cluster (both real serf nodes)', async () => {
  assert.is((await run(publishCommand, [rpcB, '-microcloud', '', 'Proxy3 System', 'proxy3', '3128', 'Federated=Yes'])).code, 0);
  const found = await waitFor('three services from B', async () => {
    const r = await run(searchCommand, [rpcB]);
    return r.code === 0 && (JSON.parse(r.out) as unknown[]).length === 3 ? r : undefined;
  });
  const list = JSON.parse(found.out) as Record<string, string>[];
  assert.equal(list.map((x) => `${x.node_id}/${x.s}/${x.p}/${x.i}/${x.e}`).sort(), ['fd-real-a/serf/5000/127.0.25.41/fdcloud', 'fd-real-a/syncthing/22000/127.0.25.41/fdcloud', 'fd-real-b/proxy3/3128/127.0.25.42/']);
  assert.match(found.err, /mode: serf standard RPC/);
});

test('unpublish removes; the last one deletes the tag (serf tags -delete, as avahi-ps)', async () => {
  const r = await run(unpublishCommand, [rpcA, 'syncthing', '22000']);
  assert.is(r.code, 0, r.err);
  assert.match(r.err, /mode: serf standard RPC/);
  await waitFor('one left on B', async () => { const v = await tagSeenFrom(rpcB, 'fd-real-a'); return v !== undefined && decodeServicesTag(v, 65536).length === 1; });
  assert.is((await run(unpublishCommand, [rpcA, 'serf', '5000'])).code, 0);
  await waitFor('tag gone on B', async () => (await tagSeenFrom(rpcB, 'fd-real-a')) === undefined);
  assert.is((await run(servicesCommand, [rpcA])).out, 'No services published.\n');
});

test('refused with nothing changed: a list over serf\'s 512 bytes, a health check, a TXT avahi-ps cannot carry', async () => {
  const tagOnB = async (): Promise<string | undefined> => (JSON.parse((await serfCliAsync(['info', rpcB, '-format', 'json'])).stdout) as { tags: Record<string, string> }).tags[SERVICES_TAG];
  let over: { code: number; err: string } | undefined;
  let last = await tagOnB();
  for (let i = 0; i < 30 && !over; i++) {
    // Descriptions that do not compress (hex of a hash), so the tag grows by ~20 bytes a service.
    const d = createHash('sha256').update(String(i)).digest('hex').slice(0, 24);
    const r = await run(publishCommand, [rpcB, d, 'Docker', String(8084 + i)]);
    if (r.code !== 0) over = r;
    else last = await tagOnB();
  }
  assert.ok(over, 'the tag fills up');
  assert.match(over.err, /serf allows 512/);
  assert.is(await tagOnB(), last, 'nothing changed');
  const c = await run(publishCommand, [rpcB, '-check-tcp', 'x', 'web', '80']);
  assert.is(c.code, 1);
  assert.match(c.err, /health checks/);
  const t = await run(publishCommand, [rpcB, 'x', 'web', '80', 'a=1&b=2']);
  assert.is(t.code, 1);
  assert.match(t.err, /txt/);
  assert.is(await tagOnB(), last, 'nothing changed');
});

test.run();
