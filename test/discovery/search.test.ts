// Search over members: avahi-ps output, filters, skipped undecodable nodes,
// federation counts with a bounded history.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Counters } from '../../agent/obs/counters.ts';
import { Logger } from '../../agent/obs/log.ts';
import { encodeServicesTag, type ServiceRecord } from '../../agent/discovery/codec.ts';
import { bzip2Compress } from '../../agent/discovery/bzip2.ts';
import { formatSearchJson, formatSearchTable, searchServices, ServicesTagDecoder } from '../../agent/discovery/search.ts';
import { FederationStats } from '../../agent/discovery/federation.ts';
import { createExec } from '../../agent/system/exec.ts';
import { member } from '../support/fakes.ts';

const rec = (s: string, host: string, ip: string, p: string, d = `${s}_x`, t = ''): ServiceRecord => ({ s, d, m: `${host}.guifi.local`, i: ip, p, e: 'guifi', t });

async function shellTag(json: string): Promise<string> {
  const r = await createExec().run('/bin/sh', ['-c', 'bzip2 | base64 -w0'], { input: json + '\n' });
  assert.is(r.exitCode, 0);
  return r.stdout;
}

async function cluster() {
  const old = await shellTag("[{'s':'serf','d':'SERF_instance_running','m':'old.guifi.local','i':'10.0.0.3','p':'5000','e':'demo','t':''}]");
  return [
    member('self', { tags: { services: encodeServicesTag([rec('serf', 'a', '10.0.0.1', '5000'), rec('syncthing', 'a', '10.0.0.1', '22000')]) } }),
    member('b', { tags: { services: encodeServicesTag([rec('serf', 'b', '10.0.0.2', '5000'), rec('proxy3', 'b', '10.0.0.2', '3128', 'Proxy3_System', 'Federated=Yes')]) } }),
    member('old', { tags: { services: old } }),
    member('garbage', { tags: { services: 'QlpoOTFBWSZTWgarbage==' } }),
    member('plain-serf', { tags: {} }),
    member('dead', { tags: { services: encodeServicesTag([rec('serf', 'd', '10.0.0.9', '5000')]) }, status: 'failed' }),
  ];
}

test('every alive member, self included, node_id first; undecodable skipped and counted', async () => {
  const counters = new Counters();
  const dec = new ServicesTagDecoder({ counters, maxDecodedBytes: 65536, cacheEntries: 16 });
  const res = searchServices(await cluster(), dec);
  assert.equal(res.entries.map((e) => `${e.node_id}/${e.s}`), ['self/serf', 'self/syncthing', 'b/serf', 'b/proxy3', 'old/serf']);
  assert.equal(res.undecodable, ['garbage']);
  assert.is(counters.get('discovery.tag_decode_error'), 1);
  const line = formatSearchJson(res.entries);
  assert.not.match(line, /\n/);
  assert.ok(line.startsWith('[{"node_id":"self","s":"serf","d":"serf_x","m":"a.guifi.local","i":"10.0.0.1","p":"5000","e":"guifi","t":""}'), line);
  assert.is(JSON.parse(line).length, 5);
  // Cached: a second search decodes nothing again.
  searchServices(await cluster(), dec);
  assert.is(counters.get('discovery.tag_decode_error'), 1);
});

test('a bzip2 bomb in a member tag is cut at the bound, skipped and counted', () => {
  const counters = new Counters();
  const dec = new ServicesTagDecoder({ counters, maxDecodedBytes: 65536, cacheEntries: 16 });
  const bomb = Buffer.from(bzip2Compress(new Uint8Array(3_000_000).fill(0x5b))).toString('base64');
  const res = searchServices([member('bomber', { tags: { services: bomb } }), member('ok', { tags: { services: encodeServicesTag([rec('serf', 'ok', '10.0.0.5', '5000')]) } })], dec);
  assert.equal(res.undecodable, ['bomber']);
  assert.equal(res.entries.map((e) => e.node_id), ['ok']);
  assert.is(counters.get('discovery.tag_decode_error'), 1);
});

test('type and host filters work (avahi-ps ignored them)', async () => {
  const dec = new ServicesTagDecoder({ counters: new Counters(), maxDecodedBytes: 65536, cacheEntries: 16 });
  const members = await cluster();
  assert.equal(searchServices(members, dec, { type: 'serf' }).entries.map((e) => e.node_id), ['self', 'b', 'old']);
  assert.equal(searchServices(members, dec, { host: 'b' }).entries.map((e) => e.s), ['serf', 'proxy3']);
  assert.equal(searchServices(members, dec, { host: 'b.guifi.local', type: 'proxy3' }).entries.map((e) => e.t), ['Federated=Yes']);
  assert.equal(searchServices(members, dec, { host: '10.0.0.3' }).entries.map((e) => e.node_id), ['old']);
  assert.equal(searchServices(members, dec, { type: 'nothing' }).entries, []);
});

test('table output groups by type', async () => {
  const dec = new ServicesTagDecoder({ counters: new Counters(), maxDecodedBytes: 65536, cacheEntries: 16 });
  const table = formatSearchTable(searchServices(await cluster(), dec).entries);
  assert.match(table, /^proxy3 \(1\)\n/m);
  assert.match(table, /^serf \(3\)\n/m);
  assert.match(table, /^syncthing \(1\)\n/m);
  assert.match(table, /DESCRIPTION\s+HOST\s+IP\s+PORT\s+MICROCLOUD\s+TXT\s+NODE/);
  assert.match(table, /Proxy3_System\s+b\.guifi\.local\s+10\.0\.0\.2\s+3128\s+guifi\s+Federated=Yes\s+b/);
});

test('federation stats: instances, services per type, bounded history', async () => {
  const members = await cluster();
  const counters = new Counters();
  let now = 1_000;
  const fed = new FederationStats({
    serf: { members: () => members },
    decoder: new ServicesTagDecoder({ counters, maxDecodedBytes: 65536, cacheEntries: 16 }),
    counters, logger: Logger.silent(), historySize: 3, intervalMs: 1000, now: () => now,
  });
  const s = fed.current();
  assert.equal(s, { t: 1000, aliveMembers: 5, cloudyInstances: 3, services: 5, byType: { proxy3: 1, serf: 3, syncthing: 1 }, undecodable: 1 });
  for (let i = 0; i < 5; i++) { now += 1000; fed.sample(); }
  assert.equal(fed.samples().map((x) => x.t), [4000, 5000, 6000]);
  assert.is(counters.get('evict.federation_history'), 2);
});

test.run();
