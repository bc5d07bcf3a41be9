// Issue 13 point 3: every value we accept survives avahi-ps's search pipeline
// (test/fixtures/avahi-ps/serf-search.sh, bash + bunzip2 + jq) on the tag we
// write; every value the pipeline cannot carry is refused with nothing
// changed. And our search keeps a node's good records when one is poisoned.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { isAgentError } from '../../agent/errors.ts';
import { ServiceAnnouncer } from '../../agent/discovery/services.ts';
import { MemoryServiceStore } from '../../agent/discovery/store.ts';
import { encodeServicesTag, SERVICES_TAG, type ServiceRecord } from '../../agent/discovery/codec.ts';
import { searchServices, ServicesTagDecoder } from '../../agent/discovery/search.ts';
import { bzip2Compress } from '../../agent/discovery/bzip2.ts';
import { TagHolder, member } from '../support/fakes.ts';

const PIPELINE = fileURLToPath(new URL('../fixtures/avahi-ps/serf-search.sh', import.meta.url));
const facts = { hostname: 'fd-node', communityIp: '10.225.0.7', microcloud: 'guifi' };
const cwd = mkdtempSync(join(tmpdir(), 'fd-pipeline-'));

/** What avahi-ps search prints for this tag, parsed; null when it is not valid JSON. */
function avahiSearch(tag: string): Record<string, string>[] | null {
  const r = spawnSync('bash', [PIPELINE, '"fd-node"'], { input: tag, encoding: 'utf8', cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' } });
  try { return JSON.parse(r.stdout) as Record<string, string>[]; } catch { return null; }
}

const TXT = ['node_id=ABC-123', 'a=1&b=2', 'a=1 b', 'x"y', "x'y", 'a,b', 'a\\b', 'a\nb', 'a\tb', 'héllo', 'a*', 'k=[1]', 'k=?',
  '$HOME', '`id`', 'a;b', 'a|b', 'furl=pb://abc@tcp:10.0.0.1:44190/introducer', 'k=v=w', 'a%20b', 'a#b', 'a~b'];
const DESC = ['My web site', 'x"y', "x'y", 'a\\b', 'a\nb', 'héllo', 'a*b', 'a,b', 'a&b', 'a(b)'];

function carries(txt: string, description: string): boolean {
  const want: ServiceRecord = { s: 'http', d: description.replace(/\s/g, '_'), m: 'fd-node.guifi.local', i: facts.communityIp, p: '80', e: 'guifi', t: txt.replace(/&/g, ' ') };
  const got = avahiSearch(encodeServicesTag([want]));
  return got !== null && got.length === 1 && JSON.stringify(got[0]) === JSON.stringify({ node_id: 'fd-node', ...want });
}

async function accepted(txt: string, description: string): Promise<boolean> {
  const serf = new TagHolder();
  const a = new ServiceAnnouncer({ serf, store: new MemoryServiceStore(), facts, logger: Logger.silent(), counters: new Counters(), maxServices: 64 });
  await a.start({ owner: 'agent', services: [] });
  const before = serf.tags[SERVICES_TAG];
  try {
    await a.publish({ type: 'http', description, port: 80, txt });
    return true;
  } catch (e) {
    assert.ok(isAgentError(e, 'E_INVALID'), String(e));
    assert.is(serf.tags[SERVICES_TAG], before, 'nothing changed');
    return false;
  }
}

test('the pipeline works on a plain record (the judge is sound)', () => {
  assert.ok(carries('node_id=ABC-123', 'Syncthing instance'));
  assert.not.ok(carries('a=1&b=2', 'x'), 'the issue\'s "Multi txt" example breaks avahi-ps');
});

test('TXT: refused whenever avahi-ps search cannot carry it', async () => {
  for (const t of TXT) {
    const ok = await accepted(t, 'd');
    if (!carries(t, 'd')) assert.not.ok(ok, `TXT ${JSON.stringify(t)} breaks avahi-ps, must be refused`);
    if (ok) assert.ok(carries(t, 'd'), `accepted TXT ${JSON.stringify(t)} survives`);
  }
  assert.not.ok(await accepted('a,b', 'd'), 'commas: Clommunity/monitor splits TXT on them');
  assert.ok(await accepted('furl=pb://abc@tcp:10.0.0.1:44190/introducer', 'd'));
});

test('description: refused whenever avahi-ps search cannot carry it', async () => {
  for (const d of DESC) {
    const ok = await accepted('', d);
    if (!carries('', d)) assert.not.ok(ok, `description ${JSON.stringify(d)} breaks avahi-ps, must be refused`);
    if (ok) assert.ok(carries('', d), `accepted description ${JSON.stringify(d)} survives`);
  }
});

test('our search survives a poisoned record from another node: skips and counts it, keeps the rest', () => {
  const good = `{'s':'syncthing','d':'S','m':'o.guifi.local','i':'10.225.0.9','p':'22000','e':'guifi','t':'x'}`;
  const poisoned = `{'s':'web','d':'W','m':'o.guifi.local','i':'10.225.0.9','p':'80','e':'guifi','t':'a"b'}`;
  const tag = Buffer.from(bzip2Compress(new TextEncoder().encode(`[${good},${poisoned}]\n`))).toString('base64');
  assert.equal(avahiSearch(tag), [], 'avahi-ps itself loses every service of that node');
  const counters = new Counters();
  const decoder = new ServicesTagDecoder({ counters, maxDecodedBytes: 65536, cacheEntries: 8 });
  const other = encodeServicesTag([{ s: 'serf', d: 'SERF', m: 'p.guifi.local', i: '10.225.0.10', p: '5000', e: 'guifi', t: '' }]);
  const res = searchServices([member('o', { tags: { services: tag } }), member('p', { tags: { services: other } })], decoder);
  assert.equal(res.entries.map((e) => `${e.node_id}/${e.s}`), ['o/syncthing', 'p/serf']);
  assert.is(res.skippedRecords, 1);
  assert.equal(res.undecodable, []);
  assert.is(counters.get('discovery.record_skipped'), 1);
});

test.after(() => rmSync(cwd, { recursive: true, force: true }));
test.run();
