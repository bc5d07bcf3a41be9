// Transports: NetTransport (UDP+TCP on one port, IPv4 and IPv6, bounded
// streams) and the in-memory network (loss / partition knobs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { NetTransport } from '../../../agent/gossip/transport/net-transport.ts';
import { MemoryNetwork } from '../../../agent/gossip/transport/memory-transport.ts';
import { pickAdvertiseAddr } from '../../../agent/gossip/transport/advertise.ts';
import { createNetMemberlist } from '../../../agent/gossip/memberlist/create.ts';
import type { MemberlistNode } from '../../../agent/gossip/memberlist/memberlist.ts';
import { fastProfile } from '../../support/fakes.ts';
import { waitFor } from '../../support/wait.ts';

const cleanup: (() => Promise<void>)[] = [];
test.after.each(async () => { while (cleanup.length) await cleanup.pop()!(); });

async function transport(addr: string, port: number, maxTcpStreams = 4): Promise<{ t: NetTransport; c: Counters }> {
  const c = new Counters();
  const t = await NetTransport.start({ bindAddr: addr, bindPort: port, maxTcpStreams, counters: c, logger: Logger.silent() });
  cleanup.push(() => t.shutdown());
  return { t, c };
}

for (const addr of ['127.0.2.20', '::1']) {
  test(`UDP and TCP share one port on ${addr}; datagrams and streams flow`, async () => {
    const { t: a } = await transport(addr, 0);
    const { t: b } = await transport(addr, 17700 + (addr === '::1' ? 1 : 0));
    assert.ok(a.localAddr().port > 0);
    const got: { buf: Uint8Array; from: string }[] = [];
    b.setHandlers((buf, from) => got.push({ buf, from: from.addr }), (s) => {
      void (async () => { const c = await s.read(); if (c) await s.write(c.map((x) => x + 1)); s.close(); })();
    });
    a.setHandlers(() => {}, (s) => s.destroy());
    a.sendPacket(b.localAddr(), Uint8Array.of(1, 2, 3));
    await waitFor('datagram', () => got.length === 1, 5000);
    assert.equal([...got[0]!.buf], [1, 2, 3]);
    assert.is(got[0]!.from, addr);
    const s = await a.dial(b.localAddr(), 2000);
    s.setDeadline(Date.now() + 5000);
    await s.write(Uint8Array.of(5, 6));
    const reply = await s.read();
    assert.equal([...reply!], [6, 7]);
    assert.is(await s.read(), null);
    s.close();
  });
}

test('inbound streams beyond maxTcpStreams are closed and counted; a slow stream hits its deadline', async () => {
  const { t, c } = await transport('127.0.2.21', 17702, 2);
  const held: import('../../../agent/gossip/transport/types.ts').Stream[] = [];
  t.setHandlers(() => {}, (s) => { held.push(s); s.setDeadline(Date.now() + 300); s.read().catch(() => {}); });
  const socks: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect({ host: '127.0.2.21', port: 17702 });
    s.on('error', () => {});
    socks.push(s);
  }
  await waitFor('limit', () => c.get('drop.tcp.too-many-streams') === 2, 5000);
  assert.is(held.length, 2);
  // The deadline frees the slots: new connections are accepted again.
  await new Promise((r) => setTimeout(r, 600));
  const s5 = net.connect({ host: '127.0.2.21', port: 17702 });
  s5.on('error', () => {});
  await waitFor('accepted again', () => held.length === 3, 5000);
  for (const s of [...socks, s5]) s.destroy();
});

test('two memberlist nodes over IPv6 loopback (serf itself cannot bind v6)', async () => {
  const mk = async (name: string, port: number): Promise<MemberlistNode> => {
    const ml = await createNetMemberlist({
      name, bindAddr: '::1', bindPort: port, profile: fastProfile(), compression: true,
      delegateVersions: { min: 2, max: 5, cur: 4 }, limits: defaultLimits(), counters: new Counters(), logger: Logger.silent(),
    });
    cleanup.push(() => ml.shutdown());
    return ml;
  };
  const a = await mk('v6a', 17710);
  const b = await mk('v6b', 17711);
  assert.is(await b.join(['[::1]:17710']), 1);
  await waitFor('both', () => a.numMembers() === 2 && b.numMembers() === 2, 5000);
  assert.is(a.members().find((m) => m.name === 'v6b')!.addr, '::1');
  await new Promise((r) => setTimeout(r, 500));
  assert.ok((a.stats()['probe.ok'] ?? 0) > 0);
});

test('memory network: loss and partitions drop datagrams; streams to a partitioned peer time out', async () => {
  const netw = new MemoryNetwork({ lossRate: 0.5, random: (() => { let i = 0; return () => (i++ % 2 ? 0.9 : 0.1); })() });
  const a = netw.transport('10.9.0.1', 1);
  const b = netw.transport('10.9.0.2', 1);
  let got = 0;
  b.setHandlers(() => { got++; }, (s) => s.destroy());
  for (let i = 0; i < 10; i++) a.sendPacket(b.localAddr(), Uint8Array.of(i));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(got, 5);
  netw.lossRate = 0;
  netw.partition('10.9.0.1', '10.9.0.2');
  a.sendPacket(b.localAddr(), Uint8Array.of(1));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(got, 5);
  let err: unknown = null;
  try { await a.dial(b.localAddr(), 30); } catch (e) { err = e; }
  assert.ok(err);
  netw.heal();
  a.sendPacket(b.localAddr(), Uint8Array.of(1));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(got, 6);
});

test('wildcard binds advertise a private interface address', () => {
  const ifs = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [{ address: '84.88.1.2', family: 'IPv4', internal: false }, { address: 'fe80::1', family: 'IPv6', internal: false }],
    wlan0: [{ address: '10.139.40.5', family: 'IPv4', internal: false }, { address: 'fd00::5', family: 'IPv6', internal: false }],
  } as unknown as ReturnType<typeof import('node:os').networkInterfaces>;
  assert.is(pickAdvertiseAddr('0.0.0.0', ifs), '10.139.40.5');
  assert.is(pickAdvertiseAddr('::', ifs), 'fd00::5');
  assert.throws(() => pickAdvertiseAddr('0.0.0.0', { lo: ifs['lo'] } as typeof ifs), (e: Error) => /advertise/.test(e.message));
});

test.run();
