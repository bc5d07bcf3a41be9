import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backoffDelay, Rejoiner, type RejoinHost } from '../../../agent/gossip/serf/rejoin.ts';
import { realClock } from '../../../agent/gossip/clock.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { Counters } from '../../../agent/obs/counters.ts';

test('backoff: exponential from base, capped, jittered within [d/2, d]', () => {
  const b = { baseMs: 1000, capMs: 30_000 };
  assert.is(backoffDelay(0, b, () => 0), 500);
  assert.is(backoffDelay(0, b, () => 0.999999), 999);
  assert.is(backoffDelay(3, b, () => 0), 4000);
  assert.is(backoffDelay(10, b, () => 0), 15_000);
  assert.is(backoffDelay(10, b, () => 0.999999), 29_999);
  assert.is(backoffDelay(1000, b, () => 0.5), 22_500, 'huge attempt numbers stay capped');
  const seq = Array.from({ length: 8 }, (_, i) => backoffDelay(i, b, () => 0.5));
  for (let i = 1; i < seq.length; i++) assert.ok(seq[i]! >= seq[i - 1]!);
});

test('retries through all snapshot peers and seeds until a member is alive, then stops; restarts when alone', async () => {
  const tried: string[] = [];
  let alive = 0;
  let answerAfter = 3; // the first rounds fail (neighbours still powered off)
  const host: RejoinHost = {
    async join(addrs) { tried.push(...addrs); if (--answerAfter <= 0 && addrs[0] === '10.0.0.2:7946') { alive = 1; return 1; } throw new Error('connection refused'); },
    aliveOthers: () => alive,
    aliveNames: () => new Set(alive ? ['b'] : []),
  };
  const r = new Rejoiner({
    host, clock: realClock, seeds: ['10.0.0.9:7946'], logger: Logger.silent(), counters: new Counters(),
    peers: () => [{ name: 'a', addr: '10.0.0.1', port: 7946 }, { name: 'b', addr: '10.0.0.2', port: 7946 }],
    backoff: { baseMs: 20, capMs: 80 }, reconcileMs: 0,
  });
  r.start();
  const until = Date.now() + 5000;
  while (alive === 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 10));
  assert.is(alive, 1, 'joined eventually');
  assert.ok(tried.includes('10.0.0.1:7946') && tried.includes('10.0.0.9:7946'), 'snapshot peers and seeds tried');
  await new Promise((res) => setTimeout(res, 30));
  assert.not.ok(r.isRetrying(), 'stopped once joined');
  const n = tried.length;
  await new Promise((res) => setTimeout(res, 200));
  assert.is(tried.length, n, 'no attempts while joined');
  alive = 0; answerAfter = 100;
  r.membershipChanged();
  assert.ok(r.isRetrying(), 'restarted when alone');
  await new Promise((res) => setTimeout(res, 100));
  assert.ok(tried.length > n);
  r.stop();
});

test('reconcile pass tries known peers that are not alive members while joined', async () => {
  const tried: string[] = [];
  const host: RejoinHost = {
    async join(addrs) { tried.push(...addrs); return 0; },
    aliveOthers: () => 1,
    aliveNames: () => new Set(['a']),
  };
  const r = new Rejoiner({
    host, clock: realClock, seeds: [], logger: Logger.silent(), counters: new Counters(),
    peers: () => [{ name: 'a', addr: '10.0.0.1', port: 7946 }, { name: 'c', addr: '10.0.0.3', port: 7946 }],
    reconcileMs: 40,
  });
  r.start();
  await new Promise((res) => setTimeout(res, 300));
  r.stop();
  assert.ok(tried.includes('10.0.0.3:7946'));
  assert.not.ok(tried.includes('10.0.0.1:7946'), 'alive member not re-joined');
});

test.run();
