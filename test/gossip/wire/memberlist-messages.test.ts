import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MessageType, bytesToIp, decodeMessage, encodeMessage, ipToBytes, type MemberlistMessage,
} from '../../../agent/gossip/wire/memberlist-messages.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { hex, loadVector, toHex } from '../../support/vectors.ts';

const vsn = Uint8Array.of(1, 5, 2, 2, 5, 5);

test('type constants match memberlist', () => {
  assert.equal(Object.values(MessageType), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
});

test('ping re-encodes to the captured bytes (sorted keys, omitempty, uint16 port)', () => {
  const v = loadVector('udp-ping.json');
  const m = decodeMessage(hex(v.hex));
  assert.equal(m, { type: 'ping', seqNo: 1, node: 'n1', sourceAddr: Uint8Array.of(127, 0, 0, 1), sourcePort: 7947, sourceNode: 'n2' });
  assert.is(toHex(encodeMessage(m)), v.hex);
  // omitempty: no Source* keys at all when not given
  const bare = encodeMessage({ type: 'ping', seqNo: 300, node: '' });
  // [0] fixmap(2) "Node" "" "SeqNo" uint16(300)
  assert.is(toHex(bare), '0082a44e6f6465a0a55365714e6fcd012c');
  assert.ok(!Buffer.from(bare).includes(Buffer.from('Source')));
  assert.equal(decodeMessage(bare), { type: 'ping', seqNo: 300, node: '' });
});

test('every message kind round-trips', () => {
  const msgs: MemberlistMessage[] = [
    { type: 'ping', seqNo: 4294967295, node: 'x', sourceAddr: ipToBytes('::1'), sourcePort: 65535, sourceNode: 'y' },
    { type: 'indirectPing', seqNo: 9, target: Uint8Array.of(10, 0, 0, 1), port: 7946, node: 't', nack: true, sourceAddr: Uint8Array.of(1, 2, 3, 4), sourcePort: 1, sourceNode: 's' },
    { type: 'indirectPing', seqNo: 9, target: Uint8Array.of(10, 0, 0, 1), port: 7946, node: 't', nack: false },
    { type: 'ack', seqNo: 1, payload: null },
    { type: 'ack', seqNo: 2, payload: Uint8Array.of(1, 0x80) },
    { type: 'nack', seqNo: 77 },
    { type: 'err', error: 'Remote state is encrypted and encryption is not configured' },
    { type: 'suspect', incarnation: 2, node: 'n3', from: 'n2' },
    { type: 'dead', incarnation: 3, node: 'n3', from: 'n3' },
    { type: 'alive', incarnation: 1, node: 'n1', addr: Uint8Array.of(127, 0, 0, 1), port: 7946, meta: Uint8Array.of(0xff, 0x80), vsn },
    { type: 'user', payload: Uint8Array.of(1, 0x82) },
    { type: 'user', payload: new Uint8Array(0) },
  ];
  for (const m of msgs) assert.equal(decodeMessage(encodeMessage(m)), m, m.type);
});

test('captured single messages re-encode byte-identically', () => {
  for (const [file, type] of [['udp-ack.json', 'ack'], ['udp-indirect-ping.json', 'indirectPing'], ['udp-nack.json', 'nack'],
    ['tcp-err-reply.json', 'err']] as const) {
    const v = loadVector(file);
    const m = decodeMessage(hex(v.hex));
    assert.is(m.type, type, file);
    assert.is(toHex(encodeMessage(m)), v.hex, file);
  }
  for (const file of ['udp-alive-tags.json', 'udp-suspect.json', 'udp-dead-failed.json', 'udp-dead-left.json']) {
    const v = loadVector(file);
    const inner = hex(v.hex).subarray(5); // after the hasCrc header
    const m = decodeMessage(inner);
    assert.is(toHex(encodeMessage(m)), toHex(inner), file);
  }
  const dead = decodeMessage(hex(loadVector('udp-dead-left.json').hex).subarray(5));
  assert.ok(dead.type === 'dead' && dead.from === dead.node);
  // go-msgpack writes a 58-byte string with str16, never str8
  assert.is(toHex(encodeMessage({ type: 'err', error: 'x'.repeat(58) })).slice(0, 18), '0d81a54572726f72da');
});

test('Go decoding tolerance: str8, bin, unsorted keys, unknown keys, fixint bools', () => {
  // ping with keys reversed, str8 node name, bin source addr, an unknown key
  const b = Buffer.concat([
    Buffer.from([0x00, 0x84]),
    Buffer.from('a5', 'hex'), Buffer.from('SeqNo'), Buffer.from([0xcd, 0x01, 0x00]),
    Buffer.from('a4', 'hex'), Buffer.from('Node'), Buffer.from([0xd9, 0x02]), Buffer.from('n9'),
    Buffer.from('aa', 'hex'), Buffer.from('SourceAddr'), Buffer.from([0xc4, 0x04, 10, 0, 0, 2]),
    Buffer.from('a5', 'hex'), Buffer.from('Bogus'), Buffer.from([0x93, 1, 2, 3]),
  ]);
  assert.equal(decodeMessage(new Uint8Array(b)), { type: 'ping', seqNo: 256, node: 'n9', sourceAddr: Uint8Array.of(10, 0, 0, 2) });
  const ip = Buffer.concat([Buffer.from([0x01, 0x81, 0xa4]), Buffer.from('Nack'), Buffer.from([0x01])]);
  const m = decodeMessage(new Uint8Array(ip));
  assert.ok(m.type === 'indirectPing' && m.nack === true);
});

test('garbage throws E_DECODE with a reason', () => {
  const bad: Uint8Array[] = [
    new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(0, 0x92), Uint8Array.of(4, 0x81, 0xa4, 0x50, 0x6f, 0x72, 0x74, 0xce, 0, 1, 0, 0),
    Uint8Array.of(200), Uint8Array.of(7, 1), Uint8Array.of(2, 0x81, 0xa5, 0x53, 0x65, 0x71, 0x4e, 0x6f, 0xff),
  ];
  for (const b of bad) {
    try {
      decodeMessage(b);
      assert.unreachable(toHex(b));
    } catch (e) {
      assert.ok(isAgentError(e, 'E_DECODE'), `${toHex(b)}: ${String(e)}`);
    }
  }
});

test('ip helpers', () => {
  assert.is(toHex(ipToBytes('127.0.0.1')), '7f000001');
  assert.is(ipToBytes('::ffff:10.1.2.3').length, 16);
  assert.is(bytesToIp(ipToBytes('::ffff:10.1.2.3')), '10.1.2.3');
  assert.is(bytesToIp(ipToBytes('fe80::1')), 'fe80::1');
  assert.is(bytesToIp(ipToBytes('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  assert.is(bytesToIp(ipToBytes('::')), '::');
  assert.is(bytesToIp(Uint8Array.of(192, 168, 1, 10)), '192.168.1.10');
  for (const s of ['1.2.3', '256.1.1.1', 'a::b::c', 'host', '1:2:3:4:5:6:7:8:9']) {
    try { ipToBytes(s); assert.unreachable(s); } catch (e) { assert.ok(isAgentError(e, 'E_INVALID'), s); }
  }
});

test.run();
