import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keyring, encryptionOverhead, keyFromBase64 } from '../../../agent/gossip/wire/keyring.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { allWireVectors, hex, toHex } from '../../support/vectors.ts';

const K1 = 'AAECAwQFBgcICQoLDA0ODw==';
const K2 = 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=';

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isAgentError(e) && e.code === code, `expected ${code}, got ${String(e)}`);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('key validation and management', () => {
  throwsCode(() => new Keyring([new Uint8Array(15)]), 'E_INVALID');
  throwsCode(() => Keyring.fromBase64(['not base64!']), 'E_INVALID');
  const empty = new Keyring([]);
  assert.is(empty.isEnabled(), false);
  assert.is(empty.primaryKey(), null);
  const k1 = keyFromBase64(K1);
  const k2 = keyFromBase64(K2);
  const ring = new Keyring([k1]);
  assert.ok(ring.isEnabled());
  ring.installKey(k2);
  ring.installKey(k2);
  assert.is(ring.keys().length, 2);
  assert.is(toHex(ring.primaryKey()!), toHex(k1));
  throwsCode(() => ring.useKey(new Uint8Array(24)), 'E_INVALID');
  throwsCode(() => ring.removeKey(k1), 'E_INVALID');
  ring.useKey(k2);
  assert.is(toHex(ring.primaryKey()!), toHex(k2));
  ring.removeKey(k1);
  assert.is(ring.keys().length, 1);
  // keys() returns copies
  ring.keys()[0]!.fill(0);
  assert.is(toHex(ring.primaryKey()!), toHex(k2));
  assert.is(encryptionOverhead(), 29);
  assert.is(encryptionOverhead(1), 29);
});

test('round trip with all key sizes, AAD binding, old keys still decrypt', () => {
  for (const size of [16, 24, 32]) {
    const key = Uint8Array.from({ length: size }, (_, i) => i * 3);
    const ring = new Keyring([key]);
    const plain = new TextEncoder().encode('hello gossip ' + size);
    const aad = Uint8Array.of(10, 0, 0, 0, 42);
    const blob = ring.encrypt(plain, aad);
    assert.is(blob.length, plain.length + 29);
    assert.is(blob[0], 1);
    assert.is(toHex(ring.decrypt(blob, aad)), toHex(plain));
    throwsCode(() => ring.decrypt(blob, new Uint8Array(0)), 'E_DECRYPT');
    const tampered = Uint8Array.from(blob);
    tampered[20]! ^= 1;
    throwsCode(() => ring.decrypt(tampered, aad), 'E_DECRYPT');
  }
  const a = new Keyring([keyFromBase64(K1)]);
  const b = new Keyring([keyFromBase64(K2), keyFromBase64(K1)]);
  assert.is(toHex(b.decrypt(a.encrypt(Uint8Array.of(1, 2, 3), new Uint8Array(0)), new Uint8Array(0))), '010203');
  throwsCode(() => new Keyring([keyFromBase64(K2)]).decrypt(a.encrypt(Uint8Array.of(1), new Uint8Array(0)), new Uint8Array(0)), 'E_DECRYPT');
});

test('version 0 (PKCS#7 padded) blobs decrypt; bad versions and short blobs are rejected', () => {
  const ring = new Keyring([keyFromBase64(K1)]);
  for (const n of [0, 1, 15, 16, 17, 100]) {
    const plain = Uint8Array.from({ length: n }, (_, i) => i);
    const blob = ring.encrypt(plain, new Uint8Array(0), 0);
    assert.is(blob[0], 0);
    assert.is((blob.length - 29) % 16, 0);
    assert.is(toHex(ring.decrypt(blob, new Uint8Array(0))), toHex(plain));
  }
  const v1 = ring.encrypt(Uint8Array.of(1), new Uint8Array(0));
  const v2 = Uint8Array.from(v1);
  v2[0] = 2;
  throwsCode(() => ring.decrypt(v2, new Uint8Array(0)), 'E_DECRYPT');
  throwsCode(() => ring.decrypt(v1.subarray(0, 28), new Uint8Array(0)), 'E_DECRYPT');
  throwsCode(() => ring.decrypt(new Uint8Array(0), new Uint8Array(0)), 'E_DECRYPT');
});

test('captured encrypted vectors decrypt with their key to the recorded plaintext', () => {
  let n = 0;
  for (const v of allWireVectors()) {
    if (!v.encrypted) continue;
    const ring = Keyring.fromBase64([v.key_b64!]);
    const wire = hex(v.hex);
    const enc = v.decoded.encryption;
    const aad = hex(enc.aad ?? '');
    const blob = v.transport === 'tcp' ? wire.subarray(5, 5 + new DataView(wire.buffer).getUint32(1)) : wire;
    const plain = ring.decrypt(blob, v.transport === 'tcp' ? wire.subarray(0, 5) : aad);
    assert.is(toHex(plain), enc.plaintextHex, v.file);
    // With the other key only, the blob does not open.
    const other = Keyring.fromBase64([v.key_b64 === K1 ? K2 : K1]);
    throwsCode(() => other.decrypt(blob, aad), 'E_DECRYPT');
    n++;
  }
  assert.ok(n >= 6, `decrypted ${n}`);
});

test.run();
