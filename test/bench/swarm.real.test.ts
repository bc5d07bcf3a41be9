// The swarm tool against a real `serf agent`: serf must see every swarm member
// alive (learned from the swarm's push/pull, both as join reply and as join
// request), must not mark any of them failed while probing them, and the swarm
// must have answered serf's probes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dgram from 'node:dgram';
import { encodeMessage } from '../../agent/gossip/wire/memberlist-messages.ts';
import { decodePacket } from '../../agent/gossip/wire/packet.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { createExec } from '../../agent/system/exec.ts';
import { Swarm } from '../../bench/swarm/swarm.ts';
import { memberAddress } from '../../bench/swarm/addresses.ts';
import { waitFor } from '../support/wait.ts';
import { SerfAgent } from '../support/real-serf.ts';

// Ports and addresses reserved for the bench (22000-29999, 127.10-20.x.y).
const SERF_PORT = 22101;
const SERF_RPC = 22102;
const SWARM_PORT = 22110;
const exec = createExec();
let serf: SerfAgent | undefined;
const swarms: Swarm[] = [];

const members = () => serf!.members();

test.before(async () => {
  serf = await SerfAgent.launch({ name: 'bench-serf', ip: '127.0.0.1', port: SERF_PORT, rpcPort: SERF_RPC, eventHandler: false, protocol: null, logLevel: 'warn' });
});

test.after(async () => {
  for (const s of swarms) await s.stop();
  await serf?.stop();
});

test('serf joins a 50-member swarm: the push/pull reply lists all of them, none fails while serf probes', async () => {
  const counters = new Counters();
  // No alive announcements and no seeds: serf can only learn the members from the swarm's push/pull reply.
  const swarm = new Swarm({ baseOctet: 10, port: SWARM_PORT, namePrefix: 'sw', seeds: [], aliveRatePerSec: 0, log: Logger.silent(), counters });
  swarms.push(swarm);
  swarm.start();
  await swarm.grow(50);
  const j = await exec.run('serf', ['join', `-rpc-addr=127.0.0.1:${SERF_RPC}`, `${memberAddress(10, 7)}:${SWARM_PORT}`], { timeoutMs: 15_000 });
  assert.is(j.exitCode, 0, j.stderr);
  assert.ok(counters.get('swarm.pushpull.join_served') >= 1, 'the swarm answered the join push/pull');

  const list = await waitFor('51 alive members', async () => {
    const ms = await members();
    return ms.filter((m) => m.status === 'alive').length === 51 ? ms : undefined;
  }, 20_000);
  for (let i = 0; i < 50; i++) {
    const m = list.find((x) => x.name === `sw-${i}`);
    assert.ok(m, `serf knows sw-${i}`);
    assert.is(m!.addr, `${memberAddress(10, i)}:${SWARM_PORT}`);
  }
  // Serf probes one member per second: over 12 s none may become failed.
  for (let round = 0; round < 6; round++) {
    await new Promise((r) => setTimeout(r, 2000));
    const bad = (await members()).filter((m) => m.status !== 'alive');
    assert.equal(bad.map((m) => `${m.name}:${m.status}`), [], 'no member marked failed or left');
  }
  assert.ok(counters.get('swarm.ping.answered') >= 5, `swarm answered serf's probes (${counters.get('swarm.ping.answered')})`);
  assert.is(counters.get('swarm.udp.decode_error'), 0, 'every packet from serf decoded');
  assert.ok(swarm.external.has('bench-serf'), 'the swarm learned serf from its push/pull');
});

test('a swarm joining serf: serf merges the members of the swarm push/pull request (UDP-only members included)', async () => {
  const counters = new Counters();
  // Half the members without a TCP listener (what the swarm does beyond the descriptor limit): serf still keeps them alive over UDP.
  const swarm = new Swarm({ baseOctet: 11, port: SWARM_PORT, namePrefix: 'sx', seeds: [{ host: '127.0.0.1', port: SERF_PORT }], aliveRatePerSec: 0, maxTcpListeners: 10, log: Logger.silent(), counters });
  swarms.push(swarm);
  swarm.start();
  await swarm.grow(20);
  assert.is(counters.get('swarm.join.ok'), 1, 'join push/pull accepted');
  await waitFor('sx members alive', async () => {
    const ms = await members();
    return ms.filter((m) => m.name.startsWith('sx-') && m.status === 'alive').length === 20 ? true : undefined;
  }, 20_000);
  assert.is(counters.get('swarm.member.udp_only'), 10);
  // The join reply from serf lists the first swarm's members too (all 71 nodes).
  assert.ok(swarm.external.size >= 51, `swarm learned serf's view (${swarm.external.size})`);
  await new Promise((r) => setTimeout(r, 4000));
  const bad = (await members()).filter((m) => m.name.startsWith('sx-') && m.status !== 'alive');
  assert.equal(bad.map((m) => m.name), [], 'UDP-only members stay alive');
});

test('indirect pings: the member probes the target and forwards its ack, or answers a nack when it stays silent', async () => {
  const swarm = swarms[0]!;
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const replies: { type: string; seqNo: number }[] = [];
  sock.on('message', (buf) => {
    for (const m of decodePacket(new Uint8Array(buf)).messages) if (m.type === 'ack' || m.type === 'nack') replies.push({ type: m.type, seqNo: m.seqNo });
  });
  const send = (seqNo: number, target: string, port: number, node: string): void => {
    const msg = encodeMessage({ type: 'indirectPing', seqNo, target: Uint8Array.from(target.split('.').map(Number)), port, node, nack: true, sourceAddr: Uint8Array.from([127, 0, 0, 1]), sourcePort: sock.address().port, sourceNode: 'tester' });
    sock.send(msg, SWARM_PORT, memberAddress(10, 3));
  };
  try {
    send(4242, '127.0.0.1', SERF_PORT, 'bench-serf'); // a live serf agent: ack forwarded with our SeqNo
    send(4343, '127.0.0.1', SERF_PORT + 50, 'nobody'); // nothing listens there: nack after the probe timeout
    await waitFor('ack and nack', async () => (replies.length >= 2 ? true : undefined), 5000);
    assert.equal(replies.find((r) => r.seqNo === 4242)?.type, 'ack');
    assert.equal(replies.find((r) => r.seqNo === 4343)?.type, 'nack');
  } finally {
    sock.close();
  }
});

test.run();
