// Publish/unpublish with avahi-ps semantics and the 512-byte tag limit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { isAgentError } from '../../agent/errors.ts';
import { ServiceAnnouncer } from '../../agent/discovery/services.ts';
import { FileServiceStore, MemoryServiceStore } from '../../agent/discovery/store.ts';
import { decodeServicesTag, encodeServicesTag, SERVICES_TAG } from '../../agent/discovery/codec.ts';
import { encodedTagsSize } from '../../agent/discovery/tag-size.ts';
import type { ServiceAnnouncement } from '../../agent/discovery/publisher.ts';
import { rejection } from './helpers.ts';
import { TagHolder } from '../support/fakes.ts';

const facts = { hostname: 'cloudy-node-01', communityIp: '10.139.40.37', microcloud: 'guifi' };

function make(serf = new TagHolder(), store = new MemoryServiceStore()) {
  const counters = new Counters();
  const a = new ServiceAnnouncer({ serf, store, facts, logger: Logger.silent(), counters, maxServices: 64 });
  return { a, serf, store, counters };
}

const decode = (serf: TagHolder) => (serf.tags[SERVICES_TAG] === undefined ? [] : decodeServicesTag(serf.tags[SERVICES_TAG]!, 65536));

/** Typical Cloudy services (CLOUDY-FACTS §2), in the order a node would add them. */
const TYPICAL: ServiceAnnouncement[] = [
  { type: 'serf', description: 'SERF instance running', port: 5000 },
  { type: 'syncthing', description: 'Syncthing instance running', port: 22000, txt: 'node_id=MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWAD' },
  { type: 'tahoe-lafs', description: 'Tahoe-LAFS-Grid', port: 44190, txt: 'wb2tbyn6tbo7ncydgnytvo4bbnpgq4zz' },
  { type: 'dnsservice', description: 'DNSService System', port: 53 },
  { type: 'proxy3', description: 'Proxy3 System', port: 3128, txt: 'Federated=Yes' },
  { type: 'snpservice', description: 'SNPService System', port: 80 },
  { type: 'tincvpn', description: 'TincVPN System', port: 665 },
  { type: 'peerstreamer', description: 'Channel one', port: 6000, txt: '10.139.40.37' },
  { type: 'ipfs', description: 'Local IPFS instance', port: 5001 },
  { type: 'owp', description: 'OpenVZ Web panel', port: 3000 },
  { type: 'Docker', description: 'wordpress blog', port: 8087 },
];

test('publish builds records as the avahi-ps serf plug does', async () => {
  const { a, serf } = make();
  await a.publish({ type: 'syncthing', description: 'Syncthing instance running', port: 22000, txt: 'a=1' });
  assert.equal(decode(serf), [{ s: 'syncthing', d: 'Syncthing_instance_running', m: 'cloudy-node-01.guifi.local', i: '10.139.40.37', p: '22000', e: 'guifi', t: 'a=1' }]);
});

test('same (type, port) replaces; other port adds; unpublishing the last deletes the tag', async () => {
  const { a, serf } = make();
  serf.tags = { role: 'cloudy' };
  await a.publish({ type: 'Docker', description: 'one', port: 8084 });
  await a.publish({ type: 'Docker', description: 'two', port: 8085 });
  await a.publish({ type: 'Docker', description: 'one-again', port: 8084 });
  assert.equal(decode(serf).map((r) => `${r.p}:${r.d}`), ['8085:two', '8084:one-again']);
  await a.unpublish('Docker', 8085);
  await a.unpublish('Docker', 9999); // absent: no error
  assert.equal(decode(serf).map((r) => r.p), ['8084']);
  await a.unpublish('Docker', 8084);
  assert.equal(serf.tags, { role: 'cloudy' }, 'services tag deleted, other tags kept');
});

test('512-byte limit: the largest typical set fits, one more is refused with bytes over, nothing changes', async () => {
  const { a, serf, store, counters } = make();
  let fitted = 0;
  let refused: unknown = null;
  for (const svc of TYPICAL) {
    try {
      await a.publish(svc);
      fitted++;
    } catch (e) {
      refused = e;
      break;
    }
  }
  assert.ok(refused, 'some service was refused');
  assert.ok(isAgentError(refused, 'E_TOO_LARGE'), String(refused));
  const over = (refused as unknown as { details: { over: number } }).details.over;
  assert.ok(over > 0);
  assert.match((refused as Error).message, new RegExp(`${over} bytes over`));
  const tagBefore = serf.tags[SERVICES_TAG];
  const size = encodedTagsSize(serf.tags);
  assert.ok(size <= 512, `tags ${size} bytes`);
  assert.is(decode(serf).length, fitted);
  assert.is(store.saved.length, fitted);
  console.log(`typical services fitting in 512 bytes of tags: ${fitted} (tags ${size} bytes; service #${fitted + 1} would be ${over} bytes over)`);
  // Refused again; a smaller replacement of an existing service still works.
  assert.ok(isAgentError(await rejection(() => a.publish(TYPICAL[fitted]!)), 'E_TOO_LARGE'));
  assert.is(serf.tags[SERVICES_TAG], tagBefore, 'tag unchanged after refusals');
  assert.is(counters.get('discovery.publish_refused_too_large'), 2);
  assert.ok(fitted >= 4, `only ${fitted} typical services fit (a real Cloudy node fits 4 with bzip2 -9)`);
});

test('invalid values are refused (quotes would break every Cloudy parser)', async () => {
  const { a } = make();
  for (const svc of [
    { type: '', description: 'x', port: 1 },
    { type: 'a b', description: 'x', port: 1 },
    { type: "it's", description: 'x', port: 1 },
    { type: 'x', description: 'say "hi"', port: 1 },
    { type: 'x', description: 'x', port: 70000 },
    { type: 'x', description: 'x', port: 1, txt: "k='v'" },
    { type: 'x', description: 'x', port: 1, ip: 'not-an-ip' },
  ]) {
    assert.ok(isAgentError(await rejection(() => a.publish(svc)), 'E_INVALID'), JSON.stringify(svc));
  }
});

test('published services survive a restart (atomic state file)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'disc-'));
  try {
    const serf1 = new TagHolder();
    const first = make(serf1, new FileServiceStore(dir) as unknown as MemoryServiceStore);
    await first.a.start();
    await first.a.publish(TYPICAL[0]!);
    await first.a.publish(TYPICAL[1]!);
    const file = JSON.parse(await readFile(join(dir, 'discovery', 'services.json'), 'utf8'));
    assert.is(file.services.length, 2);
    const serf2 = new TagHolder();
    const second = make(serf2, new FileServiceStore(dir) as unknown as MemoryServiceStore);
    await second.a.start();
    assert.equal(decode(serf2).map((r) => r.s), ['serf', 'syncthing']);
    assert.is(serf2.tags[SERVICES_TAG], serf1.tags[SERVICES_TAG]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('withdrawn services leave the tag and come back', async () => {
  const { a, serf } = make();
  await a.publish(TYPICAL[0]!);
  await a.publish(TYPICAL[4]!);
  assert.ok(await a.setWithdrawn('proxy3', 3128, true));
  assert.equal(decode(serf).map((r) => r.s), ['serf']);
  assert.is(a.list().length, 2);
  assert.not.ok(await a.setWithdrawn('proxy3', 3128, true), 'no change the second time');
  assert.ok(await a.setWithdrawn('proxy3', 3128, false));
  assert.equal(decode(serf).map((r) => r.s), ['serf', 'proxy3']);
});

test('concurrent publishes are serialized, none lost', async () => {
  const { a, serf } = make();
  await Promise.all([1, 2, 3].map((i) => a.publish({ type: 'Docker', description: `c${i}`, port: 8000 + i })));
  assert.equal(decode(serf).map((r) => r.p).sort(), ['8001', '8002', '8003']);
});

test('a broadcast timeout from setTags still commits (the tags are set locally, like serf)', async () => {
  const { a, serf, counters } = make();
  serf.timeoutAfterSet = true;
  await a.publish(TYPICAL[0]!);
  assert.is(a.list().length, 1);
  assert.equal(decode(serf).map((r) => r.s), ['serf']);
  assert.is(counters.get('discovery.tag_broadcast_timeout'), 1);
});

test('start: saved services plus the agent self-service in one tag update, old self entry replaced', async () => {
  const store = new MemoryServiceStore();
  store.saved = [
    { type: 'serf', description: 'SERF instance running', port: 4999, owner: 'agent' },
    { type: 'proxy3', description: 'Proxy3 System', port: 3128, owner: 'user' },
  ];
  const { a, serf } = make(new TagHolder(), store);
  await a.start({ owner: 'agent', services: [{ type: 'serf', description: 'SERF instance running', port: 5000 }] });
  assert.equal(decode(serf).map((r) => `${r.s}:${r.p}`), ['serf:5000', 'proxy3:3128']);
  assert.is(serf.setCalls, 1);
  assert.equal(store.saved.map((s) => `${s.type}:${s.port}:${s.owner}`), ['serf:5000:agent', 'proxy3:3128:user']);
});

test('a services tag changed by someone else is adopted before our next change', async () => {
  const { a, serf, counters } = make();
  await a.start();
  await a.publish(TYPICAL[0]!);
  await a.publish(TYPICAL[4]!);
  // avahi-ps rebuilt the list without proxy3 and with its own ipfs entry, then `serf tags -set`.
  serf.tags = { ...serf.tags, services: encodeServicesTag([
    { s: 'serf', d: 'SERF_instance_running', m: 'cloudy-node-01.guifi.local', i: '10.139.40.37', p: '5000', e: 'guifi', t: '' },
    { s: 'ipfs', d: 'Local_IPFS_instance', m: 'cloudy-node-01.guifi.local', i: '10.139.40.37', p: '5001', e: 'guifi', t: 'a=1' },
  ]) };
  await a.publish(TYPICAL[3]!);
  assert.equal(decode(serf).map((r) => `${r.s}:${r.p}:${r.t}`), ['serf:5000:', 'ipfs:5001:a=1', 'dnsservice:53:']);
  assert.equal(a.list().map((e) => e.service.owner), ['user', 'external', 'user']);
  assert.is(counters.get('discovery.external_tag_adopted'), 1);
  // Garbage set by someone else: ours kept and re-asserted.
  serf.tags = { ...serf.tags, services: 'garbage' };
  await a.unpublish('dnsservice', 53);
  assert.equal(decode(serf).map((r) => r.s), ['serf', 'ipfs']);
  assert.is(counters.get('discovery.external_tag_undecodable'), 1);
});

test.run();
