// The stream format: our encoders (wire/stream.ts) against the captured
// vectors, read back through the agent's own reader (wire/stream-reader.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  encodePushPull, encodeStreamMessage, encodeStreamUserMessage,
  ERR_LOCAL_NOT_ENCRYPTED, ERR_REMOTE_NOT_ENCRYPTED, type PushNodeState,
} from '../../../agent/gossip/wire/stream.ts';
import { readStreamBytes, type StreamBytesOptions, type StreamMessage } from '../../../agent/gossip/wire/stream-reader.ts';
import { encodeMessage } from '../../../agent/gossip/wire/memberlist-messages.ts';
import { Keyring } from '../../../agent/gossip/wire/keyring.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { allWireVectors, hex, loadVector, toHex } from '../../support/vectors.ts';

const MAX = 4 * 1024 * 1024;
const vsn = Uint8Array.of(1, 5, 2, 2, 5, 5);
const K1 = 'AAECAwQFBgcICQoLDA0ODw==';

function done(buf: Uint8Array | Uint8Array[], opts: StreamBytesOptions = { maxBytes: MAX }): Promise<StreamMessage> {
  return readStreamBytes(buf, opts);
}

async function throwsCode(fn: () => Promise<unknown>, code: string, msg?: string): Promise<void> {
  try {
    await fn();
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

test('every captured TCP stream reads, and re-encodes byte-identically', async () => {
  let n = 0;
  for (const v of allWireVectors()) {
    if (v.transport !== 'tcp') continue;
    const wire = hex(v.hex);
    const keyring = v.encrypted ? Keyring.fromBase64([v.key_b64!]) : undefined;
    if (v.file === 'tcp-err-request.json') {
      await throwsCode(() => done(wire), 'E_DECRYPT', ERR_LOCAL_NOT_ENCRYPTED);
      continue;
    }
    const msg = await done(wire, { maxBytes: MAX, keyring });
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
  assert.ok(n >= 12, `read ${n}`);
});

test('push/pull fields of the uncompressed capture', async () => {
  const v = loadVector('tcp-pushpull-uncompressed-request.json');
  const m = await done(hex(v.hex));
  assert.ok(m.type === 'pushPull');
  if (m.type !== 'pushPull') return;
  assert.is(m.join, true);
  assert.is(m.nodes.length, 1);
  assert.equal(m.nodes[0], { name: 'c2', addr: Uint8Array.of(127, 0, 0, 1), port: 7967, meta: Uint8Array.of(0xff, 0x80), incarnation: 1, state: 0, vsn });
  assert.is(m.userState.length, 586);
  assert.is(m.userState[0], 2); // serf pushPull type byte
});

test('a stream cut anywhere is E_DECODE "truncated"; whole, it reads every node', async () => {
  const nodes = Array.from({ length: 50 }, (_, i) => node(i));
  const pp = encodePushPull({ join: false, userState: Uint8Array.of(2, 0x80) }, nodes);
  for (const opts of [{ compress: false }, { compress: true }, { compress: true, keyring: Keyring.fromBase64([K1]) }]) {
    const wire = encodeStreamMessage(pp, opts);
    for (let cut = 1; cut < wire.length; cut += Math.max(1, Math.floor(wire.length / 97))) {
      try {
        await done(wire.subarray(0, cut), { maxBytes: MAX, keyring: opts.keyring });
        assert.unreachable(`cut ${cut} read`);
      } catch (e) {
        assert.ok(isAgentError(e, 'E_DECODE') && e.details?.reason === 'truncated', `cut ${cut}: ${String(e)}`);
      }
    }
    const m = await done(wire, { maxBytes: MAX, keyring: opts.keyring });
    assert.ok(m.type === 'pushPull');
    if (m.type === 'pushPull') assert.equal(m.nodes, nodes);
  }
  await throwsCode(() => done(new Uint8Array(0)), 'E_IO');
});

test('ping, ack, err and user messages over a stream', async () => {
  const msgs = [
    encodeMessage({ type: 'ping', seqNo: 7, node: 'n3', sourceNode: 'n2' }),
    encodeMessage({ type: 'ack', seqNo: 7, payload: null }),
    encodeMessage({ type: 'err', error: 'boom' }),
  ];
  for (const raw of msgs) {
    for (const compress of [false, true]) assert.is(toHex(encodeMessage((await done(encodeStreamMessage(raw, { compress }))) as never)), toHex(raw));
  }
  const u = encodeStreamUserMessage(Uint8Array.of(1, 2, 3));
  assert.equal(await done(u), { type: 'user', payload: Uint8Array.of(1, 2, 3) });
  await throwsCode(() => done(u.subarray(0, u.length - 1)), 'E_DECODE');
});

test('encryption mismatch, wrong keys, limits and garbage', async () => {
  const ring = Keyring.fromBase64([K1]);
  const ping = encodeMessage({ type: 'ping', seqNo: 1, node: 'x' });
  await throwsCode(() => done(ping, { maxBytes: MAX, keyring: ring }), 'E_DECRYPT', ERR_REMOTE_NOT_ENCRYPTED);
  const enc = encodeStreamMessage(ping, { compress: true, keyring: ring });
  assert.equal(enc.subarray(0, 1), Uint8Array.of(10));
  await throwsCode(() => done(enc), 'E_DECRYPT', ERR_LOCAL_NOT_ENCRYPTED);
  await throwsCode(() => done(enc, { maxBytes: MAX, keyring: new Keyring([new Uint8Array(16)]) }), 'E_DECRYPT');
  // A tampered length header breaks the AAD.
  const t = Uint8Array.from(enc); t[4]! -= 1;
  await throwsCode(() => done(t.subarray(0, t.length - 1), { maxBytes: MAX, keyring: ring }), 'E_DECRYPT');
  // Sizes
  await throwsCode(() => done(Uint8Array.of(10, 0x7f, 0, 0, 0), { maxBytes: MAX, keyring: ring }), 'E_TOO_LARGE');
  const big = encodePushPull({ join: false, userState: new Uint8Array(5000) }, [node(1)]);
  await throwsCode(() => done(big, { maxBytes: 4000 }), 'E_TOO_LARGE');
  await throwsCode(() => done(encodeStreamMessage(big, { compress: true }), { maxBytes: 4000 }), 'E_TOO_LARGE');
  // A stream that never completes cannot grow past maxBytes.
  const endless = encodePushPull({ join: false, userState: new Uint8Array(100) }, Array.from({ length: 200 }, (_, i) => node(i)));
  await throwsCode(() => done(endless.subarray(0, 3000), { maxBytes: 2000 }), 'E_TOO_LARGE');
  // A decompression bomb: E_TOO_LARGE, whatever the compressed size.
  const bomb = encodeStreamMessage(encodeStreamUserMessage(new Uint8Array(100_000)), { compress: true });
  assert.ok(bomb.length < 4000);
  await throwsCode(() => done(bomb, { maxBytes: 4000 }), 'E_TOO_LARGE');
  // Garbage
  await throwsCode(() => done(Uint8Array.of(4, 0x80)), 'E_DECODE');
  await throwsCode(() => done(Uint8Array.of(0, 0xc1)), 'E_DECODE');
  await throwsCode(() => done(Uint8Array.of(6, 0x83, 0xa4, 0x4a, 0x6f, 0x69, 0x6e, 0xc2, 0xa5, 0x4e, 0x6f, 0x64, 0x65, 0x73, 0x01, 0xac, ...Buffer.from('UserStateLen'), 0x00, 0x93, 1, 2, 3)), 'E_DECODE');
  // Truncated inside a compressed buffer.
  const z = encodeStreamMessage(ping.subarray(0, ping.length - 2), { compress: true });
  await throwsCode(() => done(z), 'E_DECODE');
  // A node state with an unknown State code.
  const good = encodePushPull({ join: true, userState: new Uint8Array(0) }, [node(1), node(2)]);
  const badState = Buffer.from(good).toString('hex').replace('a5537461746502', 'a5537461746509');
  await throwsCode(() => done(hex(badState)), 'E_DECODE');
});

test('chunked delivery reads the same as whole; a 50,000-node state in 64 KiB chunks', async () => {
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  for (const v of allWireVectors()) {
    if (v.transport !== 'tcp' || v.file === 'tcp-err-request.json') continue;
    const wire = hex(v.hex);
    const opts = { maxBytes: MAX, keyring: v.encrypted ? Keyring.fromBase64([v.key_b64!]) : undefined };
    const chunks: Uint8Array[] = [];
    for (let off = 0; off < wire.length; ) {
      const n = 1 + rnd(40);
      chunks.push(wire.subarray(off, off + n));
      off += n;
    }
    assert.equal(await done(chunks, opts), await done(wire, opts), v.file);
  }
  const nodes = Array.from({ length: 50000 }, (_, i) => node(i));
  const wire = encodePushPull({ join: false, userState: Uint8Array.of(2, 0x80) }, nodes);
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < wire.length; off += 65536) chunks.push(wire.subarray(off, off + 65536));
  const m = await done(chunks, { maxBytes: 8 * 1024 * 1024 });
  assert.ok(m.type === 'pushPull' && m.nodes.length === 50000 && m.nodes[49999]!.name === 'node-49999');
  // Over the limit: refused.
  await throwsCode(() => done(chunks, { maxBytes: 100000 }), 'E_TOO_LARGE');
  // Compressed, 50,000 nodes.
  const z = encodeStreamMessage(wire, { compress: true });
  const mz = await done(z, { maxBytes: 64 * 1024 * 1024 });
  assert.ok(mz.type === 'pushPull' && mz.nodeCount === 50000 && mz.userState.length === 2);
});

test.run();
