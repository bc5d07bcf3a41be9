import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  encodePushPull, encodeStreamMessage, encodeStreamUserMessage, parseStream, StreamReader,
  ERR_LOCAL_NOT_ENCRYPTED, ERR_REMOTE_NOT_ENCRYPTED, type PushNodeState, type StreamMessage,
} from '../../../agent/gossip/wire/stream.ts';
import { encodeMessage } from '../../../agent/gossip/wire/memberlist-messages.ts';
import { Keyring, keyFromBase64 } from '../../../agent/gossip/wire/keyring.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { allWireVectors, hex, loadVector, toHex } from '../../support/vectors.ts';

const MAX = 4 * 1024 * 1024;
const vsn = Uint8Array.of(1, 5, 2, 2, 5, 5);
const K1 = 'AAECAwQFBgcICQoLDA0ODw==';

function done(buf: Uint8Array, opts: Parameters<typeof parseStream>[1] = { maxBytes: MAX }): StreamMessage {
  const r = parseStream(buf, opts);
  if (r.status !== 'done') throw new Error('expected a complete message');
  return r.msg;
}

function throwsCode(fn: () => unknown, code: string, msg?: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isAgentError(e) && e.code === code, `expected ${code}, got ${String(e)}`);
    if (msg) assert.is((e as Error).message, msg);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

function node(i: number): PushNodeState {
  return { name: `node-${i}`, addr: Uint8Array.of(10, 0, i >> 8, i & 0xff), port: 7946, meta: Uint8Array.of(0xff, 0x80), incarnation: i + 1, state: (i % 4) as 0 | 1 | 2 | 3, vsn };
}

test('every captured TCP stream parses, and re-encodes byte-identically', () => {
  let n = 0;
  for (const v of allWireVectors()) {
    if (v.transport !== 'tcp') continue;
    const wire = hex(v.hex);
    const keyring = v.encrypted ? Keyring.fromBase64([v.key_b64!]) : undefined;
    if (v.file === 'tcp-err-request.json') {
      throwsCode(() => parseStream(wire, { maxBytes: MAX }), 'E_DECRYPT', ERR_LOCAL_NOT_ENCRYPTED);
      continue;
    }
    const msg = done(wire, { maxBytes: MAX, keyring });
    n++;
    const compressed = v.decoded.compression !== undefined || (v.decoded.encryption?.plaintextHex ?? '').startsWith('09');
    let inner: Uint8Array;
    if (msg.type === 'pushPull') {
      const d = v.decoded.message ?? v.decoded;
      assert.is(msg.join, d.header?.Join ?? msg.join, v.file);
      assert.is(msg.nodeCount, msg.nodes.length);
      inner = encodePushPull({ join: msg.join, userState: msg.userState }, msg.nodes);
    } else {
      inner = encodeMessage(msg);
    }
    if (v.encrypted) {
      // Random nonce: compare the plaintext.
      const plain = encodeStreamMessage(inner, { compress: compressed });
      assert.is(toHex(plain), v.decoded.encryption.plaintextHex, v.file);
    } else {
      assert.is(toHex(encodeStreamMessage(inner, { compress: compressed })), v.hex, v.file);
    }
  }
  assert.ok(n >= 12, `parsed ${n}`);
});

test('push/pull fields of the uncompressed capture', () => {
  const v = loadVector('tcp-pushpull-uncompressed-request.json');
  const m = done(hex(v.hex));
  assert.ok(m.type === 'pushPull');
  if (m.type !== 'pushPull') return;
  assert.is(m.join, true);
  assert.is(m.nodes.length, 1);
  assert.equal(m.nodes[0], { name: 'c2', addr: Uint8Array.of(127, 0, 0, 1), port: 7967, meta: Uint8Array.of(0xff, 0x80), incarnation: 1, state: 0, vsn });
  assert.is(m.userState.length, 586);
  assert.is(m.userState[0], 2); // serf pushPull type byte
});

test('incremental parsing: need-more at every cut, done at the end; callbacks fire once per node', () => {
  const nodes = Array.from({ length: 50 }, (_, i) => node(i));
  const pp = encodePushPull({ join: false, userState: Uint8Array.of(2, 0x80) }, nodes);
  for (const opts of [{ compress: false }, { compress: true }, { compress: true, keyring: Keyring.fromBase64([K1]) }]) {
    const wire = encodeStreamMessage(pp, opts);
    let seen = 0;
    const popts = { maxBytes: MAX, keyring: opts.keyring, onNodeState: () => { seen++; } };
    for (let cut = 0; cut < wire.length; cut += Math.max(1, Math.floor(wire.length / 97))) {
      assert.is(parseStream(wire.subarray(0, cut), popts).status, 'need-more', `cut ${cut}`);
    }
    assert.is(seen, 0);
    const m = done(wire, popts);
    assert.is(seen, 50);
    assert.ok(m.type === 'pushPull' && m.nodes.length === 0 && m.nodeCount === 50);
    const m2 = done(wire, { maxBytes: MAX, keyring: opts.keyring });
    assert.ok(m2.type === 'pushPull');
    if (m2.type === 'pushPull') assert.equal(m2.nodes, nodes);
  }
});

test('ping, ack, err and user messages over a stream', () => {
  const msgs = [
    encodeMessage({ type: 'ping', seqNo: 7, node: 'n3', sourceNode: 'n2' }),
    encodeMessage({ type: 'ack', seqNo: 7, payload: null }),
    encodeMessage({ type: 'err', error: 'boom' }),
  ];
  for (const raw of msgs) {
    for (const compress of [false, true]) assert.is(toHex(encodeMessage(done(encodeStreamMessage(raw, { compress })) as never)), toHex(raw));
  }
  const u = encodeStreamUserMessage(Uint8Array.of(1, 2, 3));
  assert.equal(done(u), { type: 'user', payload: Uint8Array.of(1, 2, 3) });
  assert.is(parseStream(u.subarray(0, u.length - 1), { maxBytes: MAX }).status, 'need-more');
});

test('encryption mismatch, wrong keys, limits and garbage', () => {
  const ring = Keyring.fromBase64([K1]);
  const ping = encodeMessage({ type: 'ping', seqNo: 1, node: 'x' });
  throwsCode(() => parseStream(ping, { maxBytes: MAX, keyring: ring }), 'E_DECRYPT', ERR_REMOTE_NOT_ENCRYPTED);
  const enc = encodeStreamMessage(ping, { compress: true, keyring: ring });
  assert.equal(enc.subarray(0, 1), Uint8Array.of(10));
  throwsCode(() => parseStream(enc, { maxBytes: MAX }), 'E_DECRYPT', ERR_LOCAL_NOT_ENCRYPTED);
  throwsCode(() => parseStream(enc, { maxBytes: MAX, keyring: new Keyring([new Uint8Array(16)]) }), 'E_DECRYPT');
  // A tampered length header breaks the AAD.
  const t = Uint8Array.from(enc); t[4]! -= 1;
  throwsCode(() => parseStream(t.subarray(0, t.length - 1), { maxBytes: MAX, keyring: ring }), 'E_DECRYPT');
  // Sizes
  throwsCode(() => parseStream(Uint8Array.of(10, 0x7f, 0, 0, 0), { maxBytes: MAX, keyring: ring }), 'E_TOO_LARGE');
  const big = encodePushPull({ join: false, userState: new Uint8Array(5000) }, [node(1)]);
  throwsCode(() => parseStream(big, { maxBytes: 4000 }), 'E_TOO_LARGE');
  throwsCode(() => parseStream(encodeStreamMessage(big, { compress: true }), { maxBytes: 4000 }), 'E_TOO_LARGE');
  // A stream that never completes cannot grow past maxBytes.
  const endless = encodePushPull({ join: false, userState: new Uint8Array(100) }, Array.from({ length: 200 }, (_, i) => node(i)));
  throwsCode(() => parseStream(endless.subarray(0, 3000), { maxBytes: 2000 }), 'E_TOO_LARGE');
  // Garbage
  throwsCode(() => parseStream(Uint8Array.of(4, 0x80), { maxBytes: MAX }), 'E_DECODE');
  throwsCode(() => parseStream(Uint8Array.of(0, 0xc1), { maxBytes: MAX }), 'E_DECODE');
  throwsCode(() => parseStream(Uint8Array.of(6, 0x83, 0xa4, 0x4a, 0x6f, 0x69, 0x6e, 0xc2, 0xa5, 0x4e, 0x6f, 0x64, 0x65, 0x73, 0x01, 0xac, ...Buffer.from('UserStateLen'), 0x00, 0x93, 1, 2, 3), { maxBytes: MAX }), 'E_DECODE');
  // Truncated inside a compressed (complete) buffer is a decode error, not need-more.
  const z = encodeStreamMessage(ping.subarray(0, ping.length - 2), { compress: true });
  throwsCode(() => parseStream(z, { maxBytes: MAX }), 'E_DECODE');
  // A bad node state rejects the whole push/pull before any callback.
  const good = encodePushPull({ join: true, userState: new Uint8Array(0) }, [node(1), node(2)]);
  const badState = Buffer.from(good).toString('hex').replace('a5537461746502', 'a5537461746509');
  let calls = 0;
  throwsCode(() => parseStream(hex(badState), { maxBytes: MAX, onNodeState: () => { calls++; } }), 'E_DECODE');
  assert.is(calls, 0);
});

test('50,000-node state streams through the callback', () => {
  const nodes = Array.from({ length: 50000 }, (_, i) => node(i));
  const wire = encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(10) }, nodes), { compress: true });
  let count = 0;
  let last = '';
  const m = done(wire, { maxBytes: 64 * 1024 * 1024, onNodeState: (n) => { count++; last = n.name; } });
  assert.is(count, 50000);
  assert.is(last, 'node-49999');
  assert.ok(m.type === 'pushPull' && m.nodes.length === 0 && m.nodeCount === 50000);
});

test('StreamReader: chunked delivery gives the same result as parseStream, linear on big states', () => {
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  for (const v of allWireVectors()) {
    if (v.transport !== 'tcp' || v.file === 'tcp-err-request.json') continue;
    const wire = hex(v.hex);
    const opts = { maxBytes: MAX, keyring: v.encrypted ? Keyring.fromBase64([v.key_b64!]) : undefined };
    const reader = new StreamReader(opts);
    let r: ReturnType<StreamReader['push']> = { status: 'need-more' };
    for (let off = 0; off < wire.length; ) {
      const n = 1 + rnd(40);
      r = reader.push(wire.subarray(off, off + n));
      off += n;
      if (off < wire.length) assert.is(r.status, 'need-more', v.file);
    }
    assert.equal(r, parseStream(wire, opts), v.file);
  }
  // 50,000 nodes, plain (the case that needs scanning), in 64 KiB chunks.
  const nodes = Array.from({ length: 50000 }, (_, i) => node(i));
  const wire = encodePushPull({ join: false, userState: Uint8Array.of(2, 0x80) }, nodes);
  let count = 0;
  const reader = new StreamReader({ maxBytes: 8 * 1024 * 1024, onNodeState: () => { count++; } });
  const t0 = Date.now();
  let res: ReturnType<StreamReader['push']> = { status: 'need-more' };
  for (let off = 0; off < wire.length; off += 65536) res = reader.push(wire.subarray(off, off + 65536));
  console.log(`StreamReader: ${wire.length} bytes, 50000 nodes in 64 KiB chunks: ${Date.now() - t0} ms`);
  assert.is(res.status, 'done');
  assert.is(count, 50000);
  assert.is(reader.bufferedBytes, wire.length);
  // Over the limit: refused, and never buffers more than maxBytes + 1.
  const small = new StreamReader({ maxBytes: 100000 });
  try {
    for (let off = 0; off < wire.length; off += 65536) small.push(wire.subarray(off, off + 65536));
    assert.unreachable('E_TOO_LARGE expected');
  } catch (e) {
    assert.ok(isAgentError(e, 'E_TOO_LARGE'), String(e));
  }
  assert.ok(small.bufferedBytes <= 100001);
});

test.run();
