// Live-port fuzz: 100,000 (times FUZZ_SCALE) random and mutated datagrams to a real node's UDP
// port on loopback, while a probe client checks that pings keep being answered.
// The node's own egress is confined to loopback by a test transport wrapper
// (fuzzed alive/indirect-ping messages carry arbitrary addresses).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dgram from 'node:dgram';
import net from 'node:net';
import { defaultLimits } from '../../../agent/config/limits.ts';
import { Counters } from '../../../agent/obs/counters.ts';
import { Logger } from '../../../agent/obs/log.ts';
import { MemberlistNode } from '../../../agent/gossip/memberlist/memberlist.ts';
import { profile } from '../../../agent/gossip/profiles.ts';
import { NetTransport } from '../../../agent/gossip/transport/net-transport.ts';
import type { Addr, PacketHandler, Stream, StreamHandler, Transport } from '../../../agent/gossip/transport/types.ts';
import { encodeMessage, type MemberlistMessage } from '../../../agent/gossip/wire/memberlist-messages.ts';
import { decodePacket, encodePacket, makeCompound } from '../../../agent/gossip/wire/packet.ts';
import { encodeCompressMessage } from '../../../agent/gossip/wire/compress-message.ts';

const HOST = '127.0.2.10';
const PORT = 17600;
// FUZZ_SCALE (default 1): `make check` runs a quarter of the volume, `make test` all of it.
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const TOTAL = Math.round(100_000 * SCALE);
const TCP_TOTAL = Math.round(2_000 * SCALE);

class LoopbackOnly implements Transport {
  blocked = 0;
  constructor(private readonly inner: Transport) {}
  localAddr(): Addr { return this.inner.localAddr(); }
  setHandlers(p: PacketHandler, s: StreamHandler): void { this.inner.setHandlers(p, s); }
  sendPacket(to: Addr, buf: Uint8Array): void {
    if (/^127\./.test(to.addr)) this.inner.sendPacket(to, buf); else this.blocked++;
  }
  dial(to: Addr, timeoutMs: number): Promise<Stream> {
    if (!/^127\./.test(to.addr)) { this.blocked++; return Promise.reject(new Error('egress blocked by test')); }
    return this.inner.dial(to, timeoutMs);
  }
  shutdown(): Promise<void> { return this.inner.shutdown(); }
}

let seed = 0x2545f491;
function rnd(n: number): number {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
function randomBytes(n: number): Uint8Array { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = rnd(256); return b; }

function corpus(): Uint8Array[] {
  const a = Uint8Array.of(127, 0, 2, 10);
  const vsn = Uint8Array.of(1, 5, 2, 2, 5, 4);
  const msgs: MemberlistMessage[] = [
    { type: 'ping', seqNo: 7, node: 'fuzz', sourceAddr: Uint8Array.of(127, 0, 2, 11), sourcePort: 17601, sourceNode: 'x' },
    { type: 'ping', seqNo: 8, node: '' },
    { type: 'indirectPing', seqNo: 9, target: Uint8Array.of(127, 0, 2, 12), port: 17602, node: 'y', nack: true },
    { type: 'ack', seqNo: 1, payload: Uint8Array.of(1, 2, 3) },
    { type: 'nack', seqNo: 2 },
    { type: 'suspect', incarnation: 3, node: 'fuzz', from: 'z' },
    { type: 'suspect', incarnation: 3, node: 'other', from: 'z' },
    { type: 'alive', incarnation: 2, node: 'fz-a', addr: Uint8Array.of(127, 0, 2, 13), port: 17603, meta: Uint8Array.of(0xff, 0x80), vsn },
    { type: 'alive', incarnation: 9, node: 'fuzz', addr: a, port: PORT, meta: new Uint8Array(0), vsn },
    { type: 'dead', incarnation: 4, node: 'fz-a', from: 'q' },
    { type: 'user', payload: Uint8Array.of(0, 0x84, 0xa1, 0x61) },
  ];
  const enc = msgs.map(encodeMessage);
  const out = [...enc];
  out.push(makeCompound(enc.slice(0, 5)), makeCompound(enc.slice(5)));
  out.push(encodeCompressMessage(makeCompound(enc)));
  out.push(encodePacket([enc[0]!, enc[7]!], { compress: true, crc: true }));
  out.push(Uint8Array.of(12, 0, 0, 0, 0, 0));
  out.push(Uint8Array.of(244, 3, 97, 98, 99, 0));
  return out;
}

const SPECIAL = [0x00, 0x01, 0x07, 0x09, 0x0c, 0x7f, 0x80, 0x8f, 0x90, 0xa0, 0xc0, 0xc4, 0xc5, 0xc6, 0xcc, 0xcd, 0xce, 0xcf, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff];

function mutate(base: Uint8Array): Uint8Array {
  let b = base.slice();
  const ops = 1 + rnd(4);
  for (let k = 0; k < ops; k++) {
    switch (rnd(7)) {
      case 0: if (b.length) { const i = rnd(b.length); b[i] = b[i]! ^ (1 << rnd(8)); } break;
      case 1: if (b.length) b = b.subarray(0, rnd(b.length)); break;
      case 2: { const i = rnd(b.length + 1); const ins = randomBytes(1 + rnd(16)); const n = new Uint8Array(b.length + ins.length); n.set(b.subarray(0, i)); n.set(ins, i); n.set(b.subarray(i), i + ins.length); b = n; break; }
      case 3: if (b.length) b[rnd(b.length)] = SPECIAL[rnd(SPECIAL.length)]!; break;
      case 4: if (b.length > 1) b[1 + rnd(b.length - 1)] = rnd(256); break;
      case 5: { const n = new Uint8Array(b.length + 1); n[0] = rnd(16); n.set(b, 1); b = n; break; }
      case 6: if (b.length > 2) { const i = rnd(b.length - 1); b[i] = 0xff; b[i + 1] = 0xff; } break;
    }
  }
  return b;
}

test(`${TOTAL.toLocaleString('en')} fuzzed datagrams: the node keeps answering pings, drops are counted`, async () => {
  const counters = new Counters();
  const inner = await NetTransport.start({ bindAddr: HOST, bindPort: PORT, maxTcpStreams: 32, counters, logger: Logger.silent() });
  const transport = new LoopbackOnly(inner);
  const ml = MemberlistNode.create({
    name: 'fuzz', transport, profile: profile('lan'), compression: true, delegateVersions: { min: 2, max: 5, cur: 4 },
    limits: defaultLimits('edge'), counters, logger: Logger.silent(),
    delegate: { nodeMeta: () => Uint8Array.of(0xff, 0x80), notifyMsg: () => {}, getBroadcasts: () => [], localState: () => new Uint8Array(0), mergeRemoteState: () => {} },
  });
  const fuzzer = dgram.createSocket('udp4');
  const pinger = dgram.createSocket('udp4');
  await new Promise<void>((r) => fuzzer.bind(0, '127.0.2.11', () => r()));
  await new Promise<void>((r) => pinger.bind(0, '127.0.2.12', () => r()));
  const acked = new Set<number>();
  pinger.on('message', (msg) => {
    for (const m of decodePacket(new Uint8Array(msg)).messages) if (m.type === 'ack') acked.add(m.seqNo);
  });
  let seq = 0;
  const sentDuring: number[] = [];
  const ping = () => {
    seq++;
    pinger.send(encodeMessage({ type: 'ping', seqNo: seq, node: 'fuzz' }), PORT, HOST);
    return seq;
  };
  try {
    const base = corpus();
    let sent = 0;
    const deadline = Date.now() + 120_000;
    const pingTimer = setInterval(() => sentDuring.push(ping()), 50);
    while (sent < TOTAL && Date.now() < deadline) {
      // Bounded rate (~8k/s): bursts of 25 datagrams, then yield to the node.
      for (let i = 0; i < 25 && sent < TOTAL; i++, sent++) {
        const r = rnd(20);
        const d = r === 0 ? randomBytes(rnd(1500)) : r === 1 ? randomBytes(1 + rnd(8)) : r === 2 && sent % 1000 === 0 ? randomBytes(60_000) : mutate(base[rnd(base.length)]!);
        fuzzer.send(d, PORT, HOST);
      }
      await new Promise((res) => setTimeout(res, 3));
    }
    clearInterval(pingTimer);
    assert.is(sent, TOTAL);
    await new Promise((r) => setTimeout(r, 500));
    const during = sentDuring.filter((s) => acked.has(s)).length;
    // After the storm: every ping answered.
    const after: number[] = [];
    for (let i = 0; i < 10; i++) { after.push(ping()); await new Promise((r) => setTimeout(r, 50)); }
    await new Promise((r) => setTimeout(r, 500));
    const afterOk = after.filter((s) => acked.has(s)).length;
    const st = ml.stats();
    const decodeErrors = Object.entries(st).filter(([k]) => k.startsWith('decode.udp.')).reduce((a, [, v]) => a + v, 0);
    console.log(`fuzz: sent ${sent}, received ${st['transport.udp.in']}, decode errors ${decodeErrors}, pings answered during ${during}/${sentDuring.length}, after ${afterOk}/10, members ${st['memberlist.members']}, egress blocked ${transport.blocked}`);
    console.log(JSON.stringify(Object.fromEntries(Object.entries(st).filter(([k]) => /^(decode|drop|evict)\./.test(k)))));
    assert.ok(during >= sentDuring.length * 0.8, `answered ${during}/${sentDuring.length} pings during the fuzz`);
    assert.is(afterOk, 10);
    assert.ok(decodeErrors > TOTAL / 10, `decode errors counted: ${decodeErrors}`);
    assert.ok(st['memberlist.members']! <= defaultLimits('edge').maxMembers);
  } finally {
    fuzzer.close();
    pinger.close();
    await ml.shutdown();
  }
});

test(`${TCP_TOTAL.toLocaleString('en')} garbage TCP streams: errors answered or dropped, counted; push/pull still works after`, async () => {
  const counters = new Counters();
  const inner = await NetTransport.start({ bindAddr: HOST, bindPort: PORT + 1, maxTcpStreams: 32, counters, logger: Logger.silent() });
  const ml = MemberlistNode.create({
    name: 'fuzz', transport: new LoopbackOnly(inner), profile: profile('lan'), compression: true, delegateVersions: { min: 2, max: 5, cur: 4 },
    limits: defaultLimits('edge'), counters, logger: Logger.silent(),
  });
  const base = [
    encodeCompressMessage(encodeMessage({ type: 'ping', seqNo: 1, node: 'fuzz' })),
    encodeMessage({ type: 'ping', seqNo: 2, node: '' }),
    Uint8Array.of(6, 0x83, 0xa4, 0x4a, 0x6f, 0x69, 0x6e, 0xc3, 0xa5, 0x4e, 0x6f, 0x64, 0x65, 0x73, 0x01, 0xac),
    Uint8Array.of(10, 0, 0, 0, 40, 1, 2, 3),
    Uint8Array.of(8, 0x81, 0xaa, 0x55, 0x73, 0x65, 0x72, 0x4d, 0x73, 0x67, 0x4c, 0x65, 0x6e, 0xce, 0xff, 0xff, 0xff, 0xff),
  ];
  const one = (payload: Uint8Array) => new Promise<void>((resolve) => {
    const sock = net.connect({ host: HOST, port: PORT + 1 });
    const done = () => { sock.destroy(); resolve(); };
    sock.setTimeout(3000, done);
    sock.on('error', done);
    sock.on('close', done);
    sock.on('data', () => {});
    sock.on('connect', () => { sock.end(payload); });
  });
  try {
    const total = TCP_TOTAL;
    let next = 0;
    const worker = async () => { while (next < total) { const i = next++; await one(i % 4 === 0 ? randomBytes(rnd(3000)) : mutate(base[rnd(base.length)]!)); } };
    await Promise.all(Array.from({ length: 16 }, worker));
    const st = ml.stats();
    const tcpErrors = Object.entries(st).filter(([k]) => k.startsWith('decode.tcp.') || k.startsWith('drop.tcp') || k.startsWith('drop.pushpull')).reduce((a, [, v]) => a + v, 0);
    console.log(`tcp fuzz: accepted ${st['transport.tcp.accepted']}, errors counted ${tcpErrors}`);
    assert.ok(tcpErrors > TCP_TOTAL / 4, `tcp errors counted: ${tcpErrors}`);
    // Still healthy: a real node joins it.
    const c2 = new Counters();
    const t2 = await NetTransport.start({ bindAddr: '127.0.2.13', bindPort: PORT + 2, maxTcpStreams: 8, counters: c2, logger: Logger.silent() });
    const ok = MemberlistNode.create({
      name: 'ok', transport: t2, profile: profile('lan'), compression: true, delegateVersions: { min: 2, max: 5, cur: 4 },
      limits: defaultLimits('edge'), counters: c2, logger: Logger.silent(),
    });
    try {
      assert.is(await ok.join([`${HOST}:${PORT + 1}`]), 1);
      assert.ok(ml.members().some((m) => m.name === 'ok'));
    } finally { await ok.shutdown(); }
  } finally {
    await ml.shutdown();
  }
});

test.run();
