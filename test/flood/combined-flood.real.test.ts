// Flood (issue 17 point 3): the combined flood against OUR node (in-process, edge
// mode, default limits, over the real UDP/TCP transport) while a real Debian
// `serf agent` watches it: one push/pull listing 50,000 members, then 100,000
// alive messages for other nodes at ~5,000/s (bench/lib/flood-driver.ts, the
// same driver as the bench's "flood" section, which measures the executable's
// peak VmRSS beside serf's). Here: the tables stay at their caps, memory stays
// within the flood budgets, the serf agent never sees us anything but alive,
// and we still answer gossip afterwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultLimits } from '../../agent/config/limits.ts';
import { fakePushPull, floodAlives, sendPushPull } from '../../bench/lib/flood-driver.ts';
import { SerfAgent } from '../support/real-serf.ts';
import { freePort } from '../support/net.ts';
import { waitFor, sleep } from '../support/wait.ts';
import { MB, MemSampler, RawSender, StatusWatcher, assertNeverFailed, assertWithinBudget, pingAnswered, retainedHeap, startOurs, type OurNode } from './harness.ts';

const IP = '127.0.0.1';
const MEMBERS = 50_000;
const ALIVES = 100_000;
const ALIVES_PER_S = 5_000;

let ours: OurNode | null = null;
let serf: SerfAgent | null = null;
let sender: RawSender | null = null;

test.after(async () => {
  sender?.close();
  await ours?.stop().catch(() => {});
  await serf?.dispose();
});

test('50,000-member push/pull then 100,000 alives at ~5,000/s: tables capped, memory bounded, never failed by the watching serf', async () => {
  const port = await freePort(IP);
  ours = await startOurs('fpm-flood-ours', IP, port);
  const limits = defaultLimits('edge');
  serf = new SerfAgent({ name: 'fpm-flood-serf', ip: IP, port: await freePort(IP), rpcPort: await freePort(IP), eventHandler: false, logLevel: 'info' });
  serf.start({ join: [`${IP}:${port}`] });
  await serf.waitReady();
  await waitFor('serf sees us alive', async () => (await serf!.statusOf(ours!.name)) === 'alive', 30_000);
  await waitFor('we see serf alive', () => ours!.serf.members().some((m) => m.name === serf!.name && m.status === 'alive'), 30_000);

  await sleep(2000);
  const retainedBefore = retainedHeap();
  const mem = new MemSampler(100);
  const watcher = new StatusWatcher([serf], ours.name, 300);
  let maxTable = 0;
  const tableTimer = setInterval(() => { maxTable = Math.max(maxTable, ours!.memberlist.members().length); }, 100);

  const reply = await sendPushPull(IP, port, fakePushPull(MEMBERS, 'fpm-pp'), 120_000);
  const sent = await floodAlives(IP, port, ALIVES, ALIVES_PER_S, 'fpm-al', 120_000);
  await sleep(10_000);
  clearInterval(tableTimer);
  await watcher.stop();
  mem.stop();
  const retainedMB = (retainedHeap() - retainedBefore) / MB;
  const c = ours.counters.snapshot();
  console.log(`combined flood: push/pull reply ${reply} B, ${sent} alives; peak heap +${mem.heapDeltaMB.toFixed(1)} MB, peak RSS +${mem.rssDeltaMB.toFixed(1)} MB `
    + `(base ${(mem.baseRss / MB).toFixed(1)} MB), retained +${retainedMB.toFixed(1)} MB; max table ${maxTable}; serf view of us: ${watcher.summary()}; `
    + `evict.newcomer ${c['evict.newcomer'] ?? 0}, drop.handoff.alive ${c['drop.handoff.alive'] ?? 0}`);

  assert.ok(reply > 0, 'our state came back on the push/pull');
  assert.is(sent, ALIVES, 'every alive was sent within the time bound');
  assertWithinBudget(mem, retainedMB);
  assert.ok(maxTable <= limits.maxMembers, `memberlist table reached ${maxTable}`);
  assert.ok(maxTable >= limits.maxMembers - 10, `the flood filled the table (${maxTable})`);
  // Every fake node we could not keep is counted (evicted, or dropped at the handoff queue).
  const notKept = (c['evict.newcomer'] ?? 0) + (c['drop.handoff.alive'] ?? 0);
  assert.ok(notKept >= MEMBERS + ALIVES - 2 * limits.maxMembers, `not kept ${notKept}`);
  assert.is(ours.serf.members().find((m) => m.name === serf!.name)?.status, 'alive', 'the serf agent is kept and alive');
  await assertNeverFailed(watcher, [serf], ours.name);
  sender = await RawSender.open(IP, await freePort(IP));
  assert.ok(await pingAnswered(sender, IP, port, ours.name, 4343, 5000), 'our node acks a ping after the flood');
});

test.run();
