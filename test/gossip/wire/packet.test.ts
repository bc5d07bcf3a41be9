import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePacket, encodePacket, makeCompound } from '../../../agent/gossip/wire/packet.ts';
import { encodeMessage, type MemberlistMessage } from '../../../agent/gossip/wire/memberlist-messages.ts';
import { encodeCompressMessage } from '../../../agent/gossip/wire/compress-message.ts';
import { Keyring, keyFromBase64 } from '../../../agent/gossip/wire/keyring.ts';
import { crc32 } from '../../../agent/gossip/wire/crc32.ts';
import { hex, loadVector, toHex } from '../../support/vectors.ts';

const K1 = keyFromBase64('AAECAwQFBgcICQoLDA0ODw==');
const vsn = Uint8Array.of(1, 5, 2, 2, 5, 5);
const alive = (n: string): MemberlistMessage => ({ type: 'alive', incarnation: 1, node: n, addr: Uint8Array.of(127, 0, 0, 1), port: 7946, meta: Uint8Array.of(0xff, 0x80), vsn });

test('single message: as-is; several: compound; crc header; compression only when shorter', () => {
  const ping = encodeMessage({ type: 'ping', seqNo: 1, node: 'n1' });
  assert.is(toHex(encodePacket([ping], { compress: false, crc: false })), toHex(ping));
  // A 61-byte ping does not get shorter with LZW: sent uncompressed.
  const v = loadVector('udp-ping.json');
  assert.is(toHex(encodePacket([hex(v.hex)], { compress: true, crc: false })), v.hex);
  const parts = ['a', 'b', 'c', 'd'].map((n) => encodeMessage(alive(n)));
  const c = encodePacket(parts, { compress: false, crc: true });
  assert.is(c[0], 12);
  assert.is(c[5], 7);
  assert.is(c[6], 4);
  assert.is(new DataView(c.buffer).getUint32(1), crc32(c.subarray(5)));
  const z = encodePacket(parts, { compress: true, crc: true });
  assert.is(z[5], 9);
  assert.ok(z.length < c.length);
  for (const p of [c, z]) {
    const r = decodePacket(p);
    assert.equal(r.errors, []);
    assert.equal(r.messages, ['a', 'b', 'c', 'd'].map(alive));
  }
});

test('the captured compress(compound) gossip re-encodes byte-identically', () => {
  const v = loadVector('udp-compress-compound.json');
  const r = decodePacket(hex(v.hex));
  assert.equal(r.errors, []);
  assert.equal(r.messages.map((m) => m.type), ['alive', 'alive', 'alive', 'user']);
  const again = encodePacket(r.messages.map(encodeMessage), { compress: true, crc: true });
  assert.is(toHex(again), v.hex);
});

test('encryption: whole datagram, overhead 29, plaintext rejected, wrong key rejected', () => {
  const ring = new Keyring([K1]);
  const ping = encodeMessage({ type: 'ping', seqNo: 1, node: 'n1' });
  const e = encodePacket([ping], { compress: false, crc: false, keyring: ring });
  assert.is(e.length, ping.length + 29);
  assert.equal(decodePacket(e, { keyring: ring }).messages, [{ type: 'ping', seqNo: 1, node: 'n1' }]);
  const plain = decodePacket(ping, { keyring: ring });
  assert.equal(plain.messages, []);
  assert.equal(plain.errors.map((x) => x.code), ['decrypt']);
  const other = new Keyring([new Uint8Array(32)]);
  assert.equal(decodePacket(e, { keyring: other }).errors.map((x) => x.code), ['decrypt']);
  // Without a keyring the blob is garbage: byte 1 is read as indirectPing, never as our ping
  // (the random nonce may occasionally form a valid msgpack map, so only the type is checked).
  assert.ok(!decodePacket(e).messages.some((m) => m.type === 'ping'));
  // An empty keyring means no encryption.
  assert.equal(decodePacket(ping, { keyring: new Keyring([]) }).messages.length, 1);
});

test('errors are collected, never thrown, with stable codes', () => {
  const ping = encodeMessage({ type: 'ping', seqNo: 1, node: 'n1' });
  const crcBad = encodePacket([ping], { compress: false, crc: true });
  crcBad[10]! ^= 0xff;
  assert.equal(decodePacket(crcBad).errors.map((x) => x.code), ['crc']);
  // compound announcing 3 parts with only the first complete: 2 truncated, first kept
  const comp = makeCompound([ping, ping, ping]).subarray(0, 2 + 6 + ping.length + 3);
  const r = decodePacket(comp);
  assert.is(r.messages.length, 1);
  assert.equal(r.errors.map((x) => x.code), ['truncated', 'truncated']);
  assert.equal(decodePacket(Uint8Array.of(99)).errors.map((x) => x.code), ['unknown-type']);
  assert.equal(decodePacket(Uint8Array.of(13, 0x80)).errors.map((x) => x.code), ['unknown-type']); // err is TCP-only
  assert.equal(decodePacket(Uint8Array.of(0, 0xc1)).errors.map((x) => x.code), ['msgpack']);
  assert.equal(decodePacket(new Uint8Array(0)).errors.map((x) => x.code), ['empty']);
  assert.equal(decodePacket(Uint8Array.of(7)).errors.map((x) => x.code), ['truncated']);
  // hasCrc is only understood outermost
  const inner = encodePacket([ping], { compress: false, crc: true });
  assert.equal(decodePacket(makeCompound([inner, ping])).errors.map((x) => x.code), ['unknown-type']);
  // bad LZW, unknown algorithm
  assert.equal(decodePacket(Uint8Array.of(9, 0x82, 0xa4, 0x41, 0x6c, 0x67, 0x6f, 0x00, 0xa3, 0x42, 0x75, 0x66, 0xa2, 0xff, 0xff)).errors.map((x) => x.code), ['compress']);
  assert.equal(decodePacket(Uint8Array.of(9, 0x82, 0xa4, 0x41, 0x6c, 0x67, 0x6f, 0x01, 0xa3, 0x42, 0x75, 0x66, 0xa0)).errors.map((x) => x.code), ['compress']);
});

test('decompression budget covers all nesting levels; nesting is bounded', () => {
  const big = encodeMessage({ type: 'user', payload: new Uint8Array(60000) });
  const z = encodeCompressMessage(big);
  assert.ok(z.length < 2000);
  assert.equal(decodePacket(z, { maxDecompressed: 59000 }).errors.map((x) => x.code), ['too-large']);
  assert.is(decodePacket(z, { maxDecompressed: 60001 }).messages.length, 1);
  const twice = makeCompound([z, z]);
  const r = decodePacket(twice, { maxDecompressed: 100000 });
  assert.is(r.messages.length, 1);
  assert.equal(r.errors.map((x) => x.code), ['too-large']);
  let nested = encodeMessage({ type: 'nack', seqNo: 5 });
  for (let i = 0; i < 12; i++) nested = makeCompound([nested]);
  assert.equal(decodePacket(nested).errors.map((x) => x.code), ['nesting']);
});

test.run();
