// Flood (c): 20,000 user events and 5,000 queries reach OUR node (edge mode,
// default limits) in a cluster with 2 real Debian `serf agent`s (-profile=lan).
// They are injected as serf messages in memberlist user messages [8], batched
// into compound datagrams, from a raw UDP socket to our gossip port, with
// increasing LTimes (plus a stale tail, as a flood relayed by lagging nodes
// would carry), and some more through our own serf.userEvent / serf.query API.
// During and after: heap/RSS within budget, queues and buffers bounded, drops
// counted, never failed by serf, and a user event from serf still reaches us.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeMessage, ipToBytes } from '../../agent/gossip/wire/memberlist-messages.ts';
import { encodePacket } from '../../agent/gossip/wire/packet.ts';
import { encodeSerfMessage } from '../../agent/gossip/wire/serf-messages.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import type { SerfEvent } from '../../agent/gossip/serf/types.ts';
import { MB, MemSampler, RawSender, StatusWatcher, assertNeverFailed, startSerfPair, pingAnswered, retainedHeap, startOurs, sumCounters, type OurNode, assertWithinBudget } from './harness.ts';
import type { SerfAgent } from '../support/real-serf.ts';
import { waitFor, sleep } from '../support/wait.ts';

const OURS = { name: 'flood-c-ours', ip: '127.0.8.20', port: 24020 };
const FLOOD_FROM = { ip: '127.0.8.29', port: 24029 };
const TOTAL_EVENTS = 20_000;
const TOTAL_QUERIES = 5_000;
const STALE_EVENTS = 500; // of the total: LTimes far behind the clock (must be dropped as too old)
const STALE_QUERIES = 100;
const EVENTS_PER_PACKET = 16;
const QUERIES_PER_PACKET = 4;
const PACKETS = TOTAL_EVENTS / EVENTS_PER_PACKET; // 1250, each also carrying 4 queries
const PACKETS_PER_S = 60; // ~21 s
const LTIME_BASE = 1000;
const API_EVENTS = 200;
const API_QUERIES = 50;

const agents: SerfAgent[] = [];
let ours: OurNode | null = null;
let sender: RawSender | null = null;

test.after(async () => {
  sender?.close();
  await ours?.stop().catch(() => {});
  for (const a of agents) await a.stop();
});

const enc = (s: string) => new TextEncoder().encode(s);
const user = (serfMsg: Uint8Array) => encodeMessage({ type: 'user', payload: serfMsg });

function floodPacket(p: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let k = 0; k < EVENTS_PER_PACKET; k++) {
    const i = p * EVENTS_PER_PACKET + k;
    // The last packets replay LTimes from the very start: far older than the 512-slot event buffer.
    const fresh = TOTAL_EVENTS - STALE_EVENTS;
    const ltime = i < fresh ? LTIME_BASE + i : LTIME_BASE + (i - fresh);
    parts.push(user(encodeSerfMessage({ type: 'userEvent', ltime, name: 'flood-ev', payload: enc(`e${i}`), cc: false })));
  }
  for (let k = 0; k < QUERIES_PER_PACKET; k++) {
    const j = p * QUERIES_PER_PACKET + k;
    const fresh = TOTAL_QUERIES - STALE_QUERIES;
    const ltime = j < fresh ? LTIME_BASE + j : LTIME_BASE + (j - fresh);
    parts.push(user(encodeSerfMessage({
      type: 'query', ltime, id: 7000 + j, addr: ipToBytes(FLOOD_FROM.ip), port: FLOOD_FROM.port, sourceNode: 'flood-src',
      filters: [], flags: 0, relayFactor: 0, timeoutNs: 5_000 * 1e6, name: 'flood-q', payload: enc(`q${j}`),
    })));
  }
  return encodePacket(parts, { compress: false, crc: false });
}

test('20,000 user events and 5,000 queries: bounded memory and buffers, drops counted, never failed by serf', async () => {
  assert.is(TOTAL_QUERIES / QUERIES_PER_PACKET, PACKETS);
  ours = await startOurs(OURS.name, OURS.ip, OURS.port);
  const seen = { floodEvents: 0, distinctFresh: 0, staleDelivered: 0, floodQueries: 0, otherUser: [] as string[], maxFloodLtime: 0 };
  const got = new Uint8Array(TOTAL_EVENTS); // which flood events reached our listeners (by index in the payload)
  const dec = new TextDecoder();
  ours.serf.onEvent((e: SerfEvent) => {
    if (e.type === 'user') {
      if (e.name === 'flood-ev') {
        seen.floodEvents++;
        seen.maxFloodLtime = Math.max(seen.maxFloodLtime, e.ltime);
        const i = Number(dec.decode(e.payload).slice(1));
        if (i >= TOTAL_EVENTS - STALE_EVENTS) seen.staleDelivered++;
        else if (got[i] === 0) { got[i] = 1; seen.distinctFresh++; }
      }
      else if (seen.otherUser.length < 1000) seen.otherUser.push(e.name);
    } else if (e.type === 'query' && e.query.name === 'flood-q') seen.floodQueries++;
  });
  const [s1, s2] = await startSerfPair('flood-c', 21, ours, `${OURS.ip}:${OURS.port}`, agents);
  const limits = defaultLimits('edge');
  assert.equal(ours.limits, limits, 'our node runs with the default edge limits');

  await sleep(2000);
  const retainedBefore = retainedHeap();
  const mem = new MemSampler(250);
  const watcher = new StatusWatcher([s1, s2], OURS.name, 300);
  let maxHandoff = 0;
  let maxBcast = 0;
  const queueTimer = setInterval(() => {
    const st = ours!.memberlist.stats();
    maxHandoff = Math.max(maxHandoff, st['memberlist.handoff-queue'] ?? 0);
    maxBcast = Math.max(maxBcast, st['memberlist.broadcast-queue'] ?? 0);
  }, 250);
  // Our own API, alongside the flood.
  const api = { events: 0, eventErrors: 0, queries: 0, queryErrors: 0, queryDone: 0 };
  const apiLoop = (async () => {
    for (let i = 0; i < API_EVENTS; i++) {
      await ours!.serf.userEvent('api-ev', enc(`a${i}`), false).then(() => api.events++, () => api.eventErrors++);
      if (i % (API_EVENTS / API_QUERIES) === 0) {
        await ours!.serf.query('api-q', enc(`q${i}`), { timeoutMs: 1500 }, { onDone: () => { api.queryDone++; } })
          .then(() => api.queries++, () => api.queryErrors++);
      }
      await sleep(80);
    }
  })();
  sender = await RawSender.open(FLOOD_FROM.ip, FLOOD_FROM.port);
  const t0 = Date.now();
  const sent = await sender.paced(PACKETS, PACKETS_PER_S, 120_000, OURS.ip, OURS.port, floodPacket);
  const floodMs = Date.now() - t0;
  await apiLoop;
  assert.is(sent, PACKETS, 'every datagram was sent within the time bound');
  await sleep(10_000); // drain, query deadlines (5 s) pass, a few gossip rounds
  await watcher.stop();
  clearInterval(queueTimer);
  mem.stop();
  const retainedMB = (retainedHeap() - retainedBefore) / MB;

  const c = ours.counters.snapshot();
  const st = ours.serf.stats();
  const dropped = sumCounters(c, ['drop.']);
  console.log(`event/query flood: ${TOTAL_EVENTS} events + ${TOTAL_QUERIES} queries in ${PACKETS} datagrams over ${floodMs} ms; `
    + `peak heap +${mem.heapDeltaMB.toFixed(1)} MB (base ${(mem.baseHeap / MB).toFixed(1)} MB), peak RSS +${mem.rssDeltaMB.toFixed(1)} MB `
    + `(base ${(mem.baseRss / MB).toFixed(1)} MB), retained heap after GC +${retainedMB.toFixed(1)} MB, ${mem.samples} samples`);
  console.log(`event/query flood: delivered to our listeners ${seen.floodEvents} events (${seen.distinctFresh} distinct fresh, ${seen.staleDelivered} stale) / ${seen.floodQueries} queries; API ${JSON.stringify(api)}; `
    + `max handoff queue ${maxHandoff}, max memberlist broadcast queue ${maxBcast}; serf stats event_queue=${st['event_queue']} query_queue=${st['query_queue']}; `
    + `serf view of us: ${watcher.summary()}`);
  console.log(`event/query flood counters: ${JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => /^(evict|drop|decode|error)\./.test(k) || k.includes('decode_errors') || k.startsWith('serf.'))))}`);

  // Memory: bounded, not proportional to 25,000 messages.
  assertWithinBudget(mem, retainedMB);
  assert.ok(maxHandoff <= limits.handoffQueueDepth, `handoff queue ${maxHandoff}`);
  assert.ok(maxBcast <= limits.broadcastQueueDepth, `broadcast queue ${maxBcast}`);
  for (const q of ['event_queue', 'query_queue']) assert.ok(Number(st[q]) <= limits.broadcastQueueDepth, `${q} ${st[q]}`);
  // The flood got through, without duplicates, and the stale tail was refused.
  // (A few duplicates are possible: serf nodes echo our rebroadcasts back, and an echo of LTime L arriving
  // when the clock is exactly L+512 finds its slot reused and passes again; serf's EventBuffer does the same.)
  assert.ok(seen.distinctFresh > 0, `delivered events ${seen.floodEvents}`);
  assert.is(seen.staleDelivered, 0, 'no stale event (LTime far behind the clock) is delivered');
  assert.ok(seen.floodEvents - seen.distinctFresh <= 100, `duplicates delivered: ${seen.floodEvents - seen.distinctFresh}`);
  assert.ok(seen.floodQueries > 0 && seen.floodQueries <= TOTAL_QUERIES - STALE_QUERIES, `delivered queries ${seen.floodQueries}`);
  assert.ok(seen.maxFloodLtime >= LTIME_BASE + TOTAL_EVENTS - STALE_EVENTS - 1 - EVENTS_PER_PACKET * 10, `the last fresh events arrived (max ltime ${seen.maxFloodLtime})`);
  assert.ok((c['drop.serf_event_too_old'] ?? 0) >= 1, 'stale events are dropped and counted');
  assert.ok((c['drop.serf_query_too_old'] ?? 0) >= 1, 'stale queries are dropped and counted');
  // Unanswered queries hold a slot until their deadline: beyond pendingInboundQueries they are dropped, counted.
  assert.ok((c['drop.serf_inbound_queries'] ?? 0) > 0, 'inbound queries beyond the limit are counted');
  // What was not delivered is counted somewhere (handoff, too old, inbound limit, broadcast queues).
  const lostEvents = TOTAL_EVENTS - STALE_EVENTS - seen.distinctFresh;
  assert.ok(lostEvents === 0 || (c['drop.handoff.other'] ?? 0) + (c['drop.serf_event_too_old'] ?? 0) - STALE_EVENTS >= 1,
    `${lostEvents} fresh events undelivered without a counted drop: ${JSON.stringify(c)}`);
  assert.ok(dropped > 0);
  assert.is(api.eventErrors, 0, 'our own userEvent calls succeed during the flood');
  assert.ok(api.queries + api.queryErrors === API_QUERIES && api.queries > 0, `our own queries: ${JSON.stringify(api)}`);
  // Neither serf node ever reported us failed.
  await assertNeverFailed(watcher, [s1, s2], OURS.name);
  // We still answer: a ping is acked, and a user event from a serf node reaches us by gossip.
  assert.ok(await pingAnswered(sender, OURS.ip, OURS.port, OURS.name, 4343, 5000), 'our node acks a ping after the flood');
  let gotAfter = false;
  for (let i = 0; i < 6 && !gotAfter; i++) {
    const r = await s1.cli(['event', '-coalesce=false', `after-event-flood-${i}`, 'ok']);
    assert.is(r.code, 0, r.err);
    gotAfter = await waitFor('the post-flood user event', () => seen.otherUser.some((n) => n.startsWith('after-event-flood-')), 10_000).catch(() => false);
  }
  assert.ok(gotAfter, `a user event from ${s1.name} reaches us after the flood (got ${seen.otherUser.join(',')})`);
});

test.run();
