// Answering key-management queries against a Keyring (no network).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { answerKeyQuery } from '../../../agent/gossip/serf/key-queries.ts';
import { Keyring, keyToBase64 } from '../../../agent/gossip/wire/keyring.ts';
import { encodeKeyRequest, decodeNodeKeyResponse } from '../../../agent/gossip/wire/serf-messages.ts';

const k = (b: number, n = 16) => new Uint8Array(n).fill(b);

test('install, use, remove apply to the keyring; primary cannot be removed', () => {
  const kr = new Keyring([k(1)]);
  let r = answerKeyQuery('_serf_install-key', encodeKeyRequest(k(2, 32)), kr, 1024);
  assert.ok(r.changed && decodeNodeKeyResponse(r.response).result);
  r = answerKeyQuery('_serf_use-key', encodeKeyRequest(k(2, 32)), kr, 1024);
  assert.ok(r.changed);
  assert.is(keyToBase64(kr.primaryKey()!), keyToBase64(k(2, 32)));
  r = answerKeyQuery('_serf_remove-key', encodeKeyRequest(k(2, 32)), kr, 1024);
  assert.not.ok(r.changed);
  const d = decodeNodeKeyResponse(r.response);
  assert.not.ok(d.result);
  assert.match(d.message, /primary/);
  r = answerKeyQuery('_serf_use-key', encodeKeyRequest(k(9)), kr, 1024);
  assert.not.ok(decodeNodeKeyResponse(r.response).result, 'using an unknown key fails');
});

test('no keyring: every key query answers "No keyring to modify"', () => {
  for (const kr of [null, new Keyring([])]) {
    const d = decodeNodeKeyResponse(answerKeyQuery('_serf_install-key', encodeKeyRequest(k(1)), kr, 1024).response);
    assert.not.ok(d.result);
    assert.is(d.message, 'No keyring to modify (encryption not enabled)');
  }
});

test('list keys: all keys and the primary; truncated with a message to fit the response limit', () => {
  const kr = new Keyring(Array.from({ length: 40 }, (_, i) => k(i + 1, 32)));
  const full = decodeNodeKeyResponse(answerKeyQuery('_serf_list-keys', encodeKeyRequest(new Uint8Array(0)), kr, 100_000).response);
  assert.is(full.keys.length, 40);
  assert.is(full.primaryKey, keyToBase64(k(1, 32)));
  assert.is(full.message, '');
  const r = answerKeyQuery('_serf_list-keys', encodeKeyRequest(new Uint8Array(0)), kr, 1024).response;
  assert.ok(r.length + 64 <= 1024);
  const t = decodeNodeKeyResponse(r);
  assert.ok(t.result && t.keys.length < 40 && t.keys.length > 10);
  assert.is(t.message, `Truncated key list response, showing first ${t.keys.length} of 40 keys`);
});

test('garbage request payload is answered with an error, not thrown', () => {
  const d = decodeNodeKeyResponse(answerKeyQuery('_serf_install-key', new Uint8Array([7, 0xc1]), new Keyring([k(1)]), 1024).response);
  assert.not.ok(d.result);
  assert.match(d.message, /decode/);
});

test.run();
