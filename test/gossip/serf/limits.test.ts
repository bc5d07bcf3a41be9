// Bounded resources of the serf layer: outstanding queries, inbound queries,
// member-table retention priorities.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemCluster } from './helpers.ts';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { encodeTags } from '../../../agent/gossip/wire/serf-messages.ts';
import type { MemberNode } from '../../../agent/gossip/memberlist/types.ts';
import { SerfNode } from '../../../agent/gossip/serf/serf.ts';
import { defaultSerfOptions } from '../../../agent/gossip/serf/config.ts';
import { realClock } from '../../../agent/gossip/clock.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import { waitFor, sleep } from '../../support/wait.ts';

let cl: MemCluster;
test.before.each(() => { cl = new MemCluster(); });
test.after.each(async () => { await cl.stopAll(); });

test('pendingQueries: beyond the limit a query is refused with E_LIMIT and counted', async () => {
  const a = await cl.add('a', { limits: { ...defaultLimits('edge'), pendingQueries: 2 } });
  // distinct LTimes: each query witnesses its own LTime locally, so the clock moves on
  await a.serf.query('q', new Uint8Array(0), { timeoutMs: 3000 }, {});
  await a.serf.query('q', new Uint8Array(0), { timeoutMs: 3000 }, {});
  try {
    await a.serf.query('q', new Uint8Array(0), { timeoutMs: 3000 }, {});
    assert.unreachable('third query accepted');
  } catch (e) { assert.ok(isAgentError(e, 'E_LIMIT')); }
  assert.is(a.counters.get('drop.serf_pending_queries'), 1);
  assert.is(a.serf.stats()['drop.serf_pending_queries'], '1');
});

test('pendingInboundQueries: unanswered queries beyond the limit are dropped and counted', async () => {
  const a = await cl.add('a');
  const b = await cl.add('b', { limits: { ...defaultLimits('edge'), pendingInboundQueries: 2 } });
  await b.serf.join([cl.addrOf(a)], true);
  await waitFor('joined', () => a.serf.members().length === 2, 15_000);
  for (let i = 0; i < 4; i++) await a.serf.query(`slow${i}`, new Uint8Array(0), { timeoutMs: 2000 }, {});
  await waitFor('b saw 2 and dropped 2', () => b.counters.get('drop.serf_inbound_queries') === 2, 15_000);
  assert.is(b.events.filter((e) => e.type === 'query').length, 2);
  await sleep(2200); // deadlines passed: slots are free again
  await a.serf.query('later', new Uint8Array(0), { timeoutMs: 2000 }, {});
  await waitFor('b accepts again', () => b.events.some((e) => e.type === 'query' && e.query.name === 'later'), 15_000);
});

test('retention priorities: self > seeds > full nodes > service announcers > recently heard > others', () => {
  const s = new SerfNode(defaultSerfOptions('me', { seeds: ['10.0.0.9:7946'] }), {
    clock: realClock, logger: Logger.silent(), counters: new Counters(), limits: defaultLimits('edge'), keyring: null,
  });
  const now = Date.now();
  const node = (name: string, addr: string, tags: Record<string, string>, stateChange = now - 3600_000): MemberNode => ({
    name, addr, port: 7946, meta: encodeTags(tags), state: 'alive', incarnation: 1,
    pMin: 1, pMax: 5, pCur: 2, dMin: 2, dMax: 5, dCur: 4, stateChange,
  });
  const p = s.delegates().retention.retainPriority;
  const self = p(node('me', '10.0.0.1', {}));
  const seed = p(node('x', '10.0.0.9', {}));
  const full = p(node('y', '10.0.0.2', { mode: 'full' }));
  const svc = p(node('z', '10.0.0.3', { services: 'abc' }));
  const recent = p(node('r', '10.0.0.4', {}, now));
  const other = p(node('o', '10.0.0.5', {}));
  assert.ok(self > seed && seed > full && full > svc && svc > recent && recent > other, JSON.stringify({ self, seed, full, svc, recent, other }));
});

test('full mode sets tag mode=full on ourselves', async () => {
  const a = await cl.add('a', { mode: 'full', tags: { role: 'x' } });
  assert.equal(a.serf.localMember().tags, { role: 'x', mode: 'full' });
});

test.run();
