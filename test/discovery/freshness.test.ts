// Issue 13 point 6: right after another tool ran `serf tags -set services=...`
// (no member-update event handled yet), `services` reads through to the tag.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { ServiceAnnouncer } from '../../agent/discovery/services.ts';
import { MemoryServiceStore } from '../../agent/discovery/store.ts';
import { encodeServicesTag, SERVICES_TAG } from '../../agent/discovery/codec.ts';
import { TagHolder } from '../support/fakes.ts';

const facts = { hostname: 'fd-node', communityIp: '10.225.0.7', microcloud: 'guifi' };

test('services sees a tag another tool set, before any event', async () => {
  const serf = new TagHolder();
  const a = new ServiceAnnouncer({ serf, store: new MemoryServiceStore(), facts, logger: Logger.silent(), counters: new Counters(), maxServices: 64 });
  await a.start({ owner: 'agent', services: [] });
  await a.publish({ type: 'http', description: 'web', port: 80 });
  // avahi-ps: `serf tags -set services=...` with its own list (ours dropped, ipfs added).
  serf.tags = { ...serf.tags, [SERVICES_TAG]: encodeServicesTag([
    { s: 'ipfs', d: 'Local_IPFS', m: 'fd-node.guifi.local', i: facts.communityIp, p: '5001', e: 'guifi', t: '' },
  ]) };
  const seen = await a.current();
  assert.equal(seen.map((e) => `${e.service.type}:${e.service.port}`), ['ipfs:5001']);
  // And our next publish builds on it (its own write is then visible too).
  await a.publish({ type: 'http', description: 'web', port: 8080 });
  assert.equal((await a.current()).map((e) => `${e.service.type}:${e.service.port}`), ['ipfs:5001', 'http:8080']);
});

test.run();
