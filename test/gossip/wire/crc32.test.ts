import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32, crc32Portable } from '../../../agent/gossip/wire/crc32.ts';
import { allWireVectors, hex } from '../../support/vectors.ts';

test('known check values', () => {
  const s = new TextEncoder().encode('123456789');
  assert.is(crc32(s), 0xcbf43926); // the CRC-32/IEEE catalogue check value
  assert.is(crc32Portable(s), 0xcbf43926);
  assert.is(crc32(new Uint8Array(0)), 0);
  assert.is(crc32Portable(new Uint8Array(0)), 0);
});

test('portable table and native agree on random data', () => {
  let x = 12345;
  for (let n = 0; n < 200; n++) {
    const b = Uint8Array.from({ length: n * 7 }, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24);
    assert.is(crc32Portable(b), crc32(b));
  }
});

test('every hasCrc header in the captured plaintext UDP vectors matches', () => {
  let checked = 0;
  for (const v of allWireVectors()) {
    if (v.transport !== 'udp') continue;
    const wire = v.decoded.encryption?.plaintextHex ? hex(v.decoded.encryption.plaintextHex) : hex(v.hex);
    if (wire[0] !== 12) continue;
    const want = new DataView(wire.buffer, wire.byteOffset).getUint32(1);
    assert.is(crc32(wire.subarray(5)), want, v.file);
    checked++;
  }
  assert.ok(checked >= 5, `checked ${checked}`);
});

test.run();
