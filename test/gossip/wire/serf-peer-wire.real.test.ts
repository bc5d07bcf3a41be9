// Wire codecs against the real Debian serf 0.9.4 binary: we fill a serf agent's event
// buffer with poorly compressible events so its push/pull reply is a large LZW stream
// written by Go's compress/lzw (well past the 4095-code reset), then check that our
// decompressor reads it and our compressor reproduces Go's bytes exactly. A second,
// encrypted agent checks the TCP encryption frame in both directions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';
import {
  Keyring, readWholeStream, encodePushPull, encodeStreamMessage, encodeTags, decodeGo, asMap, asBytes, lzwDecompress,
  lzwCompress, decodeSerfMessage, ipToBytes, encodeSerfMessage, encodePacket, decodePacket, encodeMessage,
  decodeCoordinatePayload, type StreamMessage, type MemberlistMessage,
} from '../../../agent/gossip/wire/index.ts';
import { toHex } from '../../support/vectors.ts';
import { SerfAgent } from '../../support/real-serf.ts';

const run = promisify(execFile);
const SERF = '/usr/bin/serf';
const HOST = '127.0.1.21';
const K1 = 'AAECAwQFBgcICQoLDA0ODw==';
const agents: SerfAgent[] = [];

/** A real serf agent on HOST (test/support/real-serf.ts); returns its RPC address. */
async function startSerf(name: string, bind: number, rpc: number, extra: string[] = []): Promise<string> {
  const agent = await SerfAgent.launch({ name, ip: HOST, port: bind, rpcPort: rpc, eventHandler: false, profile: null, protocol: null, logLevel: 'warn', extra });
  agents.push(agent);
  return agent.rpc;
}

/** One TCP exchange: write `request`, read the reply with the agent's stream reader as it arrives (raw bytes and message). */
async function exchange(port: number, request: Uint8Array, keyring?: Keyring): Promise<{ raw: Uint8Array; result: StreamMessage }> {
  const chunks: Buffer[] = [];
  const pending: (Uint8Array | null)[] = [];
  let waiter: ((c: Uint8Array | null) => void) | null = null;
  let failure: Error | null = null;
  const give = (c: Uint8Array | null): void => {
    if (waiter) { const w = waiter; waiter = null; w(c); } else pending.push(c);
  };
  const sock = connect({ host: HOST, port });
  const timer = setTimeout(() => { failure = new Error('exchange timed out'); sock.destroy(); }, 20_000);
  sock.on('connect', () => sock.write(request));
  sock.on('data', (d) => { chunks.push(d); give(new Uint8Array(d.buffer, d.byteOffset, d.length)); });
  sock.on('error', (e) => { failure = e; });
  sock.on('close', () => give(null));
  const source = {
    read: async (): Promise<Uint8Array | null> => {
      const c = pending.length > 0 ? pending.shift()! : await new Promise<Uint8Array | null>((r) => { waiter = r; });
      if (c === null && failure) throw failure;
      return c;
    },
  };
  try {
    const result = await readWholeStream(source, { maxBytes: 8 * 1024 * 1024, keyring });
    return { raw: new Uint8Array(Buffer.concat(chunks)), result };
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
}

/** A minimal join push/pull from a node that does not exist (serf replies before merging). */
function joinRequest(): Uint8Array {
  const userState = encodeSerfMessage({ type: 'pushPull', ltime: 1, statusLTimes: new Map(), leftMembers: [], eventLTime: 1, events: [], queryLTime: 1 });
  return encodePushPull({ join: true, userState }, [{
    name: 'wire-probe', addr: ipToBytes(HOST), port: 16999, meta: encodeTags({}), incarnation: 1, state: 0, vsn: Uint8Array.of(1, 5, 2, 2, 5, 5),
  }]);
}

test.after(async () => {
  for (const a of agents) await a.stop();
});

test("Go's LZW output for a large push/pull: our decoder reads it, our encoder reproduces it byte for byte", async () => {
  const rpc = await startSerf('lzw1', 16101, 16102);
  // 48 events of 400 pseudo-random printable bytes: ~19 KB of poorly compressible state.
  let seed = 4242;
  const payloads: string[] = [];
  for (let i = 0; i < 48; i++) {
    let s = '';
    for (let j = 0; j < 400; j++) { seed = (seed * 1103515245 + 12345) >>> 0; s += String.fromCharCode(33 + ((seed >>> 16) % 94)); }
    payloads.push(s);
  }
  for (let i = 0; i < payloads.length; i += 8) {
    await Promise.all(payloads.slice(i, i + 8).map((p, j) => run(SERF, ['event', `-rpc-addr=${rpc}`, '-coalesce=false', `ev${i + j}`, p], { timeout: 10_000 })));
  }
  const { raw, result } = await exchange(16101, encodeStreamMessage(joinRequest(), { compress: true }));
  assert.is(raw[0], 9, 'serf compresses its stream');
  const { value } = decodeGo(raw, 1);
  const buf = asBytes(asMap(value).Buf);
  const plain = lzwDecompress(buf, 8 * 1024 * 1024);
  assert.ok(plain.length > 19000, `decompressed ${plain.length} bytes`);
  // ~9-12 bits per code on this data: far more than 4095 codes, i.e. several Clear resets.
  assert.ok(buf.length * 8 / 12 > 2 * 4095, `compressed ${buf.length} bytes`);
  assert.is(toHex(lzwCompress(plain)), toHex(buf), "our LZW equals Go's byte for byte");
  if (result.type !== 'pushPull') throw new Error('expected a push/pull');
  assert.is(result.join, true);
  assert.ok(result.nodes.some((n) => n.name === 'lzw1'));
  const state = decodeSerfMessage(result.userState);
  if (state.type !== 'pushPull') throw new Error('expected serf push/pull state');
  const seen = new Set<string>();
  for (const slot of state.events) for (const e of slot?.events ?? []) seen.add(`${e.name}=${new TextDecoder().decode(e.payload)}`);
  for (let i = 0; i < payloads.length; i++) assert.ok(seen.has(`ev${i}=${payloads[i]}`), `event ev${i} in the state`);
  console.log(`serf push/pull reply: ${raw.length} bytes on the wire, LZW ${buf.length} -> ${plain.length} bytes, ${state.events.length} event slots`);
});

test('encrypted TCP exchange with a serf agent using the same key; plaintext gets the Go error text', async () => {
  await startSerf('enc1', 16111, 16112, [`-encrypt=${K1}`]);
  const ring = Keyring.fromBase64([K1]);
  const { raw, result } = await exchange(16111, encodeStreamMessage(joinRequest(), { compress: true, keyring: ring }), ring);
  assert.is(raw[0], 10);
  assert.is(new DataView(raw.buffer, raw.byteOffset).getUint32(1), raw.length - 5);
  assert.ok(result.type === 'pushPull' && result.nodes.some((n) => n.name === 'enc1'));
  // A plaintext request is refused with an encrypted errResp.
  const refused = await exchange(16111, encodeStreamMessage(joinRequest(), { compress: false }), ring);
  assert.ok(refused.result.type === 'err');
  if (refused.result.type === 'err') assert.is(refused.result.error, 'Encryption is configured but remote state is not encrypted');
});

/** Sends datagrams from HOST:port and collects decoded replies until `want` acks arrived (bounded). */
async function udpAcks(target: number, port: number, packets: Uint8Array[], want: number, keyring?: Keyring): Promise<{ acks: MemberlistMessage[]; errors: string[] }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(port, HOST, () => r()));
  const acks: MemberlistMessage[] = [];
  const errors: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${acks.length}/${want} acks; errors ${errors.join(',')}`)), 15_000);
      sock.on('message', (msg) => {
        const r = decodePacket(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { keyring });
        errors.push(...r.errors.map((e) => e.code));
        for (const m of r.messages) if (m.type === 'ack') acks.push(m);
        if (acks.length >= want) { clearTimeout(timer); resolve(); }
      });
      for (const p of packets) sock.send(p, target, HOST);
    });
  } finally {
    sock.close();
  }
  return { acks, errors };
}

function ping(seqNo: number, node: string, port: number): Uint8Array {
  return encodeMessage({ type: 'ping', seqNo, node, sourceAddr: ipToBytes(HOST), sourcePort: port, sourceNode: 'wire-probe' });
}

test('UDP: serf acks our plain, compound+compressed+CRC, and encrypted pings; acks carry a coordinate', async () => {
  // lzw1 (plain) and enc1 (K1) were started by the tests above.
  const plain = await udpAcks(16101, 16121, [
    encodePacket([ping(101, 'lzw1', 16121)], { compress: false, crc: false }),
    encodePacket([ping(102, 'lzw1', 16121), ping(103, 'lzw1', 16121)], { compress: true, crc: true }),
  ], 3);
  assert.equal(plain.acks.map((a) => (a.type === 'ack' ? a.seqNo : -1)).sort(), [101, 102, 103]);
  for (const a of plain.acks) {
    if (a.type !== 'ack' || !a.payload) throw new Error('ack without payload');
    const c = decodeCoordinatePayload(a.payload);
    assert.is(c.vec.length, 8);
  }
  const ring = Keyring.fromBase64([K1]);
  const enc = await udpAcks(16111, 16122, [encodePacket([ping(201, 'enc1', 16122)], { compress: true, crc: true, keyring: ring })], 1, ring);
  assert.ok(enc.acks[0]?.type === 'ack' && enc.acks[0].seqNo === 201);
  assert.equal(enc.errors, []);
});

test.run();
