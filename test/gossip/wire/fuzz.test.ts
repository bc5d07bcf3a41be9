// Fuzzes the receive paths with random and mutated packets: decodePacket (plain and
// with a keyring), the agent's stream reader (wire/stream-reader.ts, through
// readStreamBytes: whole, and in random chunks as a socket delivers), and the serf/tag/coordinate
// decoders behind them. Seeded (FUZZ_SEED) so a failure reproduces; bounded in count,
// time and memory. Prints the error-code counts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isAgentError } from '../../../agent/errors.ts';
import {
  Keyring, crc32, decodePacket, readStreamBytes, encodeStreamMessage, encodePacket, encodeCompressMessage, decodeSerfMessage,
  decodeTags, decodeCoordinatePayload, decodeFilter, type MemberlistMessage,
} from '../../../agent/gossip/wire/index.ts';
import { allWireVectors, hex, toHex } from '../../support/vectors.ts';
import { prng } from '../../support/prng.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
// FUZZ_SCALE (default 1): `make check` runs a quarter of the volume, `make test` all of it.
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const PACKETS = Number(process.env.FUZZ_PACKETS ?? Math.round(100_000 * SCALE));
const STREAMS = Number(process.env.FUZZ_STREAMS ?? Math.round(40_000 * SCALE));
const TIME_BUDGET_MS = 240_000; // generous: the whole run takes seconds on a normal machine
const SLOW_INPUT_MS = 2_000; // a single input taking this long counts as a hang
const HEAP_LIMIT = 768 * 1024 * 1024;

const rnd = prng(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
const randomBytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));

const KEY = Keyring.fromBase64(['AAECAwQFBgcICQoLDA0ODw==']);
const KEY2 = Keyring.fromBase64(['ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=']);

// Seed corpus: every captured datagram/stream, their decrypted plaintexts and the
// decompressed inner messages (so mutations also reach the parsers behind LZW and GCM).
const udpSeeds: Uint8Array[] = [];
const udpEncSeeds: Uint8Array[] = [];
const tcpSeeds: Uint8Array[] = [];
const tcpEncSeeds: Uint8Array[] = [];
for (const v of allWireVectors()) {
  const wire = hex(v.hex);
  const plain: Uint8Array | null = v.decoded.encryption?.plaintextHex ? hex(v.decoded.encryption.plaintextHex) : null;
  const inner = findDecompressed(v.decoded);
  if (v.transport === 'udp') {
    if (v.encrypted) udpEncSeeds.push(wire);
    udpSeeds.push(plain ?? wire);
    if (inner) udpSeeds.push(hex(inner));
  } else {
    if (v.encrypted) tcpEncSeeds.push(wire);
    tcpSeeds.push(plain ?? wire);
    if (inner) tcpSeeds.push(hex(inner));
  }
}
function findDecompressed(n: unknown): string | undefined {
  if (!n || typeof n !== 'object') return undefined;
  const o = n as Record<string, unknown>;
  if (typeof o.decompressedHex === 'string') return o.decompressedHex;
  for (const x of Object.values(o)) { const r = findDecompressed(x); if (r) return r; }
  return undefined;
}

/** Offsets of length fields worth corrupting: msgpack str/bin/array/map 16/32 headers, compound lengths, the encryption frame length. */
function lengthFields(b: Uint8Array): { off: number; size: number }[] {
  const out: { off: number; size: number }[] = [];
  for (let i = 0; i < b.length; i++) {
    const x = b[i]!;
    if (x === 0xda || x === 0xdc || x === 0xde || x === 0xc5) out.push({ off: i + 1, size: 2 });
    else if (x === 0xdb || x === 0xdd || x === 0xdf || x === 0xc6) out.push({ off: i + 1, size: 4 });
    else if (x === 0xd9 || x === 0xc4) out.push({ off: i + 1, size: 1 });
  }
  if (b[0] === 7 && b.length > 2) for (let i = 0; i < b[1]! && 2 + 2 * i + 1 < b.length; i++) out.push({ off: 2 + 2 * i, size: 2 });
  if (b[0] === 10) out.push({ off: 1, size: 4 });
  if (b[0] === 12 && b.length > 6 && b[5] === 7) out.push({ off: 7, size: 2 });
  return out.filter((f) => f.off + f.size <= b.length);
}

const mutationCounts: Record<string, number> = {};

function mutate(src: Uint8Array): Uint8Array {
  let b = Uint8Array.from(src);
  const rounds = 1 + int(3);
  for (let r = 0; r < rounds; r++) {
    const kind = int(9);
    const name = ['bitflip', 'byte', 'truncate', 'length', 'extend', 'insert', 'delete', 'splice', 'fixint'][kind]!;
    mutationCounts[name] = (mutationCounts[name] ?? 0) + 1;
    switch (kind) {
      case 0: if (b.length) { const i = int(b.length); b[i]! ^= 1 << int(8); } break;
      case 1: if (b.length) b[int(b.length)] = pick([0, 0xff, 0x7f, 0x80, 0xc0, 0xc1, 0xda, 0xdb, 0xdd, 0xdf, int(256)]); break;
      case 2: b = b.subarray(0, int(b.length + 1)); break;
      case 3: {
        const fields = lengthFields(b);
        if (!fields.length) break;
        const f = pick(fields);
        const v = pick([0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, int(1 << (8 * f.size))]);
        for (let i = 0; i < f.size; i++) b[f.off + i] = (v / 2 ** (8 * (f.size - 1 - i))) & 0xff;
        break;
      }
      case 4: { const ext = randomBytes(1 + int(64)); const nb = new Uint8Array(b.length + ext.length); nb.set(b); nb.set(ext, b.length); b = nb; break; }
      case 5: { const at = int(b.length + 1); const ins = randomBytes(1 + int(8)); const nb = new Uint8Array(b.length + ins.length); nb.set(b.subarray(0, at)); nb.set(ins, at); nb.set(b.subarray(at), at + ins.length); b = nb; break; }
      case 6: if (b.length) { const at = int(b.length); const n = 1 + int(Math.min(16, b.length - at)); const nb = new Uint8Array(b.length - n); nb.set(b.subarray(0, at)); nb.set(b.subarray(at + n), at); b = nb; } break;
      case 7: { const o = pick(udpSeeds.concat(tcpSeeds)); const cut = int(b.length + 1); const from = int(o.length + 1); const nb = new Uint8Array(cut + o.length - from); nb.set(b.subarray(0, cut)); nb.set(o.subarray(from), cut); b = nb; break; }
      case 8: if (b.length) b[0] = int(16); break; // another message type byte
    }
  }
  return b;
}

const errorCounts: Record<string, number> = {};
const count = (k: string): void => { errorCounts[k] = (errorCounts[k] ?? 0) + 1; };
const failures: string[] = [];
let maxInputMs = 0;

function timed(label: string, input: Uint8Array, fn: () => void): void {
  const t0 = performance.now();
  try {
    fn();
  } catch (e) {
    if (failures.length < 20) failures.push(`${label} seed=${SEED} input=${toHex(input.subarray(0, 200))}: ${e instanceof Error ? e.stack : String(e)}`);
  }
  const dt = performance.now() - t0;
  if (dt > maxInputMs) maxInputMs = dt;
  if (dt > SLOW_INPUT_MS && failures.length < 20) failures.push(`${label}: ${dt.toFixed(0)} ms on input ${toHex(input.subarray(0, 200))}`);
}

async function timedAsync(label: string, input: Uint8Array, fn: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  try {
    await fn();
  } catch (e) {
    if (failures.length < 20) failures.push(`${label} seed=${SEED} input=${toHex(input.subarray(0, 200))}: ${e instanceof Error ? e.stack : String(e)}`);
  }
  const dt = performance.now() - t0;
  if (dt > maxInputMs) maxInputMs = dt;
  if (dt > SLOW_INPUT_MS && failures.length < 20) failures.push(`${label}: ${dt.toFixed(0)} ms on input ${toHex(input.subarray(0, 200))}`);
}

/** Deeper decoders a receiver runs on what decodePacket returns: each may only throw E_DECODE. */
function decodeInner(msgs: MemberlistMessage[]): void {
  for (const m of msgs) {
    try {
      if (m.type === 'user') {
        const s = decodeSerfMessage(m.payload);
        if (s.type === 'query') for (const f of s.filters) decodeFilter(f);
        if (s.type === 'relay') decodeSerfMessage(s.inner);
      } else if (m.type === 'alive') {
        decodeTags(m.meta);
      } else if (m.type === 'ack' && m.payload) {
        decodeCoordinatePayload(m.payload);
      }
    } catch (e) {
      if (!isAgentError(e, 'E_DECODE')) throw e;
      count(`inner:E_DECODE`);
    }
  }
}

/** Recomputes a hasCrc header after mutation, so the layers behind it are reached. */
function withValidCrc(b: Uint8Array): Uint8Array {
  if (b.length >= 5 && b[0] === 12) new DataView(b.buffer, b.byteOffset).setUint32(1, crc32(b.subarray(5)));
  return b;
}

function packetInput(i: number): { data: Uint8Array; keyring?: Keyring } {
  const r = i % 10;
  if (r === 0) return { data: randomBytes(int(1500)) }; // pure noise
  if (r === 1) { // noise with a plausible first byte
    const d = randomBytes(1 + int(300));
    d[0] = pick([0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12]);
    return { data: d };
  }
  if (r === 2) return { data: mutate(pick(udpEncSeeds)), keyring: pick([KEY, KEY2]) }; // mutated ciphertext
  if (r === 3) { // valid encryption around a mutated plaintext: fuzzes the inner pipeline under a keyring
    return { data: KEY.encrypt(mutate(pick(udpSeeds)), new Uint8Array(0)), keyring: KEY };
  }
  if (r === 4) { // compressed mutated plaintext (valid LZW, broken inner message)
    return { data: encodePacket([mutate(pick(udpSeeds))], { compress: true, crc: rnd() < 0.5 }) };
  }
  if (r === 5) return { data: mutate(pick(udpSeeds)), keyring: KEY }; // plaintext at an encrypting node
  if (r === 6 || r === 7) return { data: withValidCrc(mutate(pick(udpSeeds))) }; // get past the CRC check
  return { data: mutate(pick(udpSeeds)) };
}

function streamInput(i: number): { data: Uint8Array; keyring?: Keyring } {
  const r = i % 8;
  if (r === 0) return { data: randomBytes(int(2000)) };
  if (r === 1) return { data: mutate(pick(tcpEncSeeds)), keyring: KEY };
  if (r === 2) return { data: encodeStreamMessage(mutate(pick(tcpSeeds)), { compress: rnd() < 0.5, keyring: KEY }), keyring: KEY };
  if (r === 3) return { data: encodeStreamMessage(mutate(pick(tcpSeeds)), { compress: true }) };
  if (r === 4) return { data: mutate(pick(tcpSeeds)), keyring: rnd() < 0.2 ? KEY : undefined };
  return { data: mutate(pick(tcpSeeds.concat(udpSeeds))) };
}

const STREAM_CODES = new Set(['E_DECODE', 'E_DECRYPT', 'E_TOO_LARGE']);

/** A stream read's result: 'ok' with the message, or the error code (only the reader's own codes are allowed). */
async function outcome(read: () => Promise<unknown>): Promise<{ label: string; reason?: string; msg?: unknown }> {
  try {
    return { label: 'ok', msg: await read() };
  } catch (e) {
    if (isAgentError(e, 'E_IO') && e.details?.eof) return { label: 'eof' };
    if (!(isAgentError(e) && STREAM_CODES.has(e.code))) throw e;
    const reason = e.details?.reason;
    return { label: e.code, ...(typeof reason === 'string' ? { reason } : {}) };
  }
}

test(`fuzz: ${PACKETS} packets and ${STREAMS} streams (seed ${SEED})`, async () => {
  assert.ok(udpSeeds.length > 20 && tcpSeeds.length > 10 && udpEncSeeds.length > 3 && tcpEncSeeds.length > 1);
  const started = Date.now();
  let packets = 0;
  let decodedMessages = 0;
  for (let i = 0; i < PACKETS && Date.now() - started < TIME_BUDGET_MS; i++) {
    const { data, keyring } = packetInput(i);
    timed(`packet#${i}`, data, () => {
      const r = decodePacket(data, { keyring, maxDecompressed: 256 * 1024 });
      for (const e of r.errors) count(`packet:${e.code}`);
      if (r.errors.length === 0) count('packet:ok');
      decodedMessages += r.messages.length;
      decodeInner(r.messages);
    });
    packets++;
    if (i % 5000 === 0) assert.ok(process.memoryUsage().heapUsed < HEAP_LIMIT, 'heap bounded');
  }
  let streams = 0;
  for (let i = 0; i < STREAMS && Date.now() - started < TIME_BUDGET_MS; i++) {
    const { data, keyring } = streamInput(i);
    const chunked = i % 16 === 0;
    await timedAsync(`stream#${i}`, data, async () => {
      const opts = { keyring, maxBytes: 512 * 1024 };
      const whole = await outcome(() => readStreamBytes(data, opts));
      count(`stream:${whole.label}`);
      if (whole.reason) count(`stream:${whole.label}/${whole.reason}`);
      if (chunked) {
        // The same bytes in random pieces, as a socket delivers them: the same outcome.
        const chunks: Uint8Array[] = [];
        for (let off = 0; off < data.length; ) { const n = 1 + int(64); chunks.push(data.subarray(off, off + n)); off += n; }
        const split = await outcome(() => readStreamBytes(chunks, opts));
        count('stream:chunked');
        assert.is(split.label, whole.label, 'chunked delivery changes the outcome');
        if (whole.msg) assert.equal(split.msg, whole.msg);
      }
    });
    streams++;
    if (i % 5000 === 0) assert.ok(process.memoryUsage().heapUsed < HEAP_LIMIT, 'heap bounded');
  }
  const elapsed = Date.now() - started;
  console.log(`fuzz seed=${SEED} packets=${packets} streams=${streams} messagesDecoded=${decodedMessages} elapsed=${elapsed}ms maxInput=${maxInputMs.toFixed(1)}ms heap=${(process.memoryUsage().heapUsed / 1048576).toFixed(0)}MiB`);
  console.log(`fuzz error codes: ${JSON.stringify(Object.fromEntries(Object.entries(errorCounts).sort()))}`);
  console.log(`fuzz mutations: ${JSON.stringify(mutationCounts)}`);
  assert.equal(failures, [], failures.join('\n'));
  assert.is(packets, PACKETS, 'all packets ran within the time budget');
  assert.is(streams, STREAMS, 'all streams ran within the time budget');
  // The corpus really reaches the decoders: many inputs decode, many fail in each layer.
  assert.ok((errorCounts['packet:ok'] ?? 0) > PACKETS / 20, 'some packets decode cleanly');
  for (const code of ['decrypt', 'crc', 'msgpack', 'truncated', 'unknown-type', 'compress']) {
    assert.ok((errorCounts[`packet:${code}`] ?? 0) > 0, `error code ${code} exercised`);
  }
  assert.ok((errorCounts['stream:ok'] ?? 0) > STREAMS / 50, 'some streams read cleanly');
  for (const code of ['E_DECODE', 'E_DECRYPT', 'E_TOO_LARGE', 'E_DECODE/truncated', 'E_DECODE/compress']) {
    assert.ok((errorCounts[`stream:${code}`] ?? 0) > 0, `stream outcome ${code} exercised`);
  }
});

test.run();
