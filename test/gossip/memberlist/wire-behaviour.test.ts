// What goes on the wire toward peers of different protocol versions
// (SERF-PROTOCOL.md §2.3, §2.10): CRC only on gossip toward PMax >= 5, never on
// pings; TCP fallback ping only toward PMax >= 3. Observed at a raw fake peer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { decodePacket } from '../../../agent/gossip/wire/packet.ts';
import { encodePushPull, encodeStreamMessage } from '../../../agent/gossip/wire/stream.ts';
import { readStreamMessage } from '../../../agent/gossip/wire/stream-reader.ts';
import { memoryNode, stateOf, type TestNode } from './helpers.ts';
import { waitFor } from '../../support/wait.ts';

let nodes: TestNode[] = [];
test.after.each(async () => { for (const n of nodes) await n.ml.shutdown(); nodes = []; });

async function observe(pMax: number): Promise<{ packets: Uint8Array[]; streams: number; n: TestNode }> {
  const net = new MemoryNetwork();
  const n = memoryNode(net, 'us', '10.10.0.1');
  nodes.push(n);
  const peer = net.transport('10.10.0.2', 7946);
  const packets: Uint8Array[] = [];
  let streams = 0;
  // Count TCP pings only (a periodic push/pull may also dial the peer).
  peer.setHandlers((buf) => packets.push(buf), (s) => {
    void (async () => {
      const limits = { maxPushPullBytes: 1 << 20, maxHeldStreamBytes: 1 << 20, maxStreamObjectBytes: 1 << 20 };
      const msg = await readStreamMessage(s, { limits, keyring: null }).catch(() => null);
      if (msg?.type === 'ping') streams++;
      s.destroy();
    })();
  });
  const s = await peer.dial({ addr: '10.10.0.1', port: 7946 }, 500);
  s.setDeadline(Date.now() + 2000);
  await s.write(encodeStreamMessage(encodePushPull({ join: true, userState: new Uint8Array(0) }, [{
    name: 'peer', addr: Uint8Array.of(10, 10, 0, 2), port: 7946, meta: new Uint8Array(0), incarnation: 1, state: 0,
    vsn: Uint8Array.of(1, pMax, 2, 2, 5, 4),
  }]), { compress: true }));
  while (await s.read().catch(() => null)) { /* drain the reply */ }
  s.close();
  await waitFor('known', () => stateOf(n, 'peer') !== undefined, 2000);
  // Let a few probe rounds fail (the fake peer never acks) and gossip flow.
  await waitFor('suspected', () => stateOf(n, 'peer') !== 'alive', 5000);
  // Probes of the suspect node (it stays suspect for 300 ms, probes run every 100 ms).
  for (let i = 0; i < 50 && !packets.some((p) => hasPing(p) && hasSuspect(p)); i++) await new Promise((r) => setTimeout(r, 20));
  await peer.shutdown();
  return { packets, streams, n };
}

function hasSuspect(buf: Uint8Array): boolean {
  return decodePacket(buf).messages.some((m) => m.type === 'suspect' && m.node === 'peer');
}

function hasPing(buf: Uint8Array): boolean {
  return decodePacket(buf).messages.some((m) => m.type === 'ping');
}

test('toward PMax 5: gossip carries CRC, pings do not; TCP fallback is used', async () => {
  const { packets, streams } = await observe(5);
  const pings = packets.filter(hasPing);
  const gossip = packets.filter((p) => !hasPing(p));
  const plainPings = pings.filter((p) => !hasSuspect(p));
  const suspectPings = pings.filter(hasSuspect);
  assert.ok(plainPings.length >= 1, 'pinged');
  assert.ok(plainPings.every((p) => p[0] !== 12), 'no CRC on pings (sent by address)');
  // memberlist sends [ping, suspect] to a suspect node with the node known: CRC.
  assert.ok(suspectPings.length >= 1 && suspectPings.every((p) => p[0] === 12), 'CRC on [ping, suspect]');
  assert.ok(gossip.length >= 1, 'gossiped');
  assert.ok(gossip.every((p) => p[0] === 12), 'CRC on gossip');
  assert.ok(streams >= 1, 'TCP fallback ping attempted');
});

test('toward PMax 4: no CRC at all', async () => {
  const { packets } = await observe(4);
  assert.ok(packets.length >= 2);
  assert.ok(packets.every((p) => p[0] !== 12));
});

test('toward PMax 2: no TCP fallback ping', async () => {
  const { streams } = await observe(2);
  assert.is(streams, 0);
});

test.run();
