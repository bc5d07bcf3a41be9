// Fuzz of the streamed push/pull reader (wire/stream-reader.ts + push-pull.ts) through a
// live node's stream handler: valid states (plain, LZW; with a serf-style user
// state) mutated by byte flips, truncation, insertion and random chunking.
// Every exchange must end in an answer or a counted refusal; nothing may throw
// past the handler, the member table stays within its cap, and afterwards the
// node still answers a clean push/pull.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { encodePushPull, encodeStreamMessage, type PushNodeState } from '../../../agent/gossip/wire/stream.ts';
import { readStreamBytes } from '../../../agent/gossip/wire/stream-reader.ts';
import { encodeSerfMessage } from '../../../agent/gossip/wire/serf-messages.ts';
import { memoryNode } from './helpers.ts';
import { fastProfile } from '../../support/fakes.ts';

// FUZZ_SCALE (default 1): `make check` runs a quarter of the volume, `make test` all of it.
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? Math.round(1500 * SCALE));
let seed = 0x9e3779b9;
function rnd(n: number): number {
  seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}

function states(count: number): PushNodeState[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `fz-${i}`, addr: Uint8Array.of(10, 50, (i >> 8) & 255, i & 255), port: 7946,
    meta: Uint8Array.of(0xff, 0x80), incarnation: 1 + (i % 3), state: (i % 7 === 0 ? 3 : 0) as PushNodeState['state'],
    vsn: Uint8Array.of(1, 5, 2, 2, 5, 4),
  }));
}

function mutate(b: Uint8Array): Uint8Array {
  const out = b.slice();
  switch (rnd(4)) {
    case 0: { // flip a few bytes
      for (let i = 0, n = 1 + rnd(6); i < n; i++) out[rnd(out.length)] = rnd(256);
      return out;
    }
    case 1: return out.subarray(0, rnd(out.length)); // truncate
    case 2: { // insert garbage
      const at = rnd(out.length);
      const junk = Uint8Array.from({ length: 1 + rnd(40) }, () => rnd(256));
      const r = new Uint8Array(out.length + junk.length);
      r.set(out.subarray(0, at)); r.set(junk, at); r.set(out.subarray(at), at + junk.length);
      return r;
    }
    default: { // a byte near the start (headers, map sizes, lengths)
      out[rnd(Math.min(out.length, 24))] = rnd(256);
      return out;
    }
  }
}

test('1,500 mutated push/pull streams: answered or refused and counted, never thrown; the node keeps working', async () => {
  const net = new MemoryNetwork();
  const limits = { ...defaultLimits('edge'), maxMembers: 64, maxPushPullBytes: 256 * 1024 };
  const quiet = fastProfile({ probeIntervalMs: 3_600_000, gossipIntervalMs: 3_600_000, pushPullIntervalMs: 3_600_000, tcpTimeoutMs: 150 });
  const node = memoryNode(net, 'target', '10.8.0.1', { profile: quiet, limits });
  const userState = encodeSerfMessage({
    type: 'pushPull', ltime: 5, eventLTime: 3, queryLTime: 2, leftMembers: ['fz-7'],
    statusLTimes: new Map(states(300).map((s, i) => [s.name, i + 1] as [string, number])),
    events: [null, { ltime: 2, events: [{ name: 'e', payload: Uint8Array.of(1) }] }],
  });
  const bases = [
    encodeStreamMessage(encodePushPull({ join: false, userState }, states(300)), { compress: false }),
    encodeStreamMessage(encodePushPull({ join: true, userState }, states(300)), { compress: true }),
    encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(0) }, states(1500)), { compress: true }),
  ];
  const client = net.transport('10.8.0.2', 7946);
  let answered = 0;
  let errors = 0;
  let silent = 0;
  const t0 = Date.now();
  for (let i = 0; i < ROUNDS; i++) {
    const wire = mutate(bases[rnd(bases.length)]!);
    const s = await client.dial({ addr: '10.8.0.1', port: 7946 }, 1000);
    s.setDeadline(Date.now() + 10_000);
    for (let o = 0; o < wire.length;) { const n = 1 + rnd(8192); await s.write(wire.subarray(o, o + n)); o += n; }
    // Most peers close their side (EOF, mid-message when truncated); one in eight keeps it
    // open as memberlist does, so a truncated state ends by our deadline.
    if (rnd(8) !== 0) s.close();
    const parts: Uint8Array[] = [];
    for (;;) { const c = await s.read().catch(() => null); if (!c) break; parts.push(c); }
    s.close();
    const reply = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) { reply.set(p, off); off += p.length; }
    if (reply.length === 0) { silent++; continue; }
    const r = await readStreamBytes(reply, { maxBytes: 10_000_000 }); // a reply is always a whole message
    if (r.type === 'pushPull') answered++;
    else if (r.type === 'err') errors++;
    else assert.unreachable(`unexpected reply ${r.type}`);
    assert.ok(node.ml.members().length <= limits.maxMembers);
  }
  const st = node.ml.stats();
  console.log(`${ROUNDS} streams in ${Date.now() - t0} ms: ${answered} answered with our state, ${errors} with an error, ${silent} closed without answer; counters ${JSON.stringify(Object.fromEntries(Object.entries(st).filter(([k]) => /decode|drop\.pushpull|refused|tcp\.timeout|error/.test(k))))}`);
  assert.is(st['error.loop'] ?? 0, 0);
  assert.is(st['error.stream-handler'] ?? 0, 0);
  assert.ok(answered > 0 && errors > 0, 'both outcomes were exercised');
  // Still healthy: a clean state is merged and answered.
  const clean = encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(0) }, states(10)), { compress: true });
  const s = await client.dial({ addr: '10.8.0.1', port: 7946 }, 1000);
  s.setDeadline(Date.now() + 5000);
  await s.write(clean);
  const first = await s.read();
  s.close();
  assert.ok(first !== null && first.length > 0, 'a clean exchange is answered');
  await client.shutdown();
  await node.ml.shutdown();
});

test.run();
