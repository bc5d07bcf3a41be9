// ByteCursor (msgpack objects and byte runs from a chunked stream) and the
// incremental LZW decoder: same results as the whole-buffer decoders for any
// chunking, bounded holding, and the same error codes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteCursor, lzwSource, type ChunkSource } from '../../../agent/gossip/wire/byte-cursor.ts';
import { LzwDecoder, lzwCompress, lzwDecompress } from '../../../agent/gossip/wire/lzw.ts';
import { decodeGo, encodeGo, type GoValue } from '../../../agent/gossip/wire/msgpack.ts';
import { isAgentError, type ErrorCode } from '../../../agent/errors.ts';

/** A deterministic PRNG so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** Splits `bytes` into chunks of the sizes `size()` picks. */
function chunked(bytes: Uint8Array, size: () => number): ChunkSource & { served: number } {
  let off = 0;
  const src = {
    served: 0,
    read: async () => {
      if (off >= bytes.length) return null;
      const n = Math.max(1, Math.min(bytes.length - off, size()));
      const c = bytes.subarray(off, off + n);
      off += n;
      src.served++;
      return c;
    },
  };
  return src;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  try { await p; } catch (e) {
    assert.ok(isAgentError(e, code), `expected ${code}, got ${String(e)}`);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

test('LzwDecoder fed in any chunking gives exactly lzwDecompress\'s output', () => {
  const r = rng(7);
  const inputs: Uint8Array[] = [
    new Uint8Array(0),
    Uint8Array.from({ length: 50_000 }, () => Math.floor(r() * 256)), // incompressible
    Uint8Array.from({ length: 200_000 }, (_, i) => (i % 97) ^ (i >> 11)), // repetitive: long codes, table resets
    new TextEncoder().encode('node-'.repeat(30_000)),
  ];
  for (const input of inputs) {
    const z = lzwCompress(input);
    const whole = lzwDecompress(z, input.length);
    assert.equal(whole, input);
    for (const step of [1, 3, 1000, z.length]) {
      const pieces: Uint8Array[] = [];
      const d = new LzwDecoder(input.length, (p) => pieces.push(p));
      for (let o = 0; o < z.length; o += step) d.push(z.subarray(o, o + step));
      d.finish();
      assert.ok(d.done);
      assert.equal(concat(pieces), input, `step ${step}, ${input.length} bytes`);
      // Output comes out in bounded pieces, not as one buffer.
      assert.ok(pieces.every((p) => p.length <= 32 * 1024 + 4096), `largest piece ${Math.max(0, ...pieces.map((p) => p.length))}`);
    }
  }
});

test('LzwDecoder: a bomb is cut at maxOut, a stream without EOF fails at finish, bytes after EOF are ignored', () => {
  const z = lzwCompress(new Uint8Array(1_000_000));
  let out = 0;
  const d = new LzwDecoder(100_000, (p) => { out += p.length; });
  let err: unknown;
  try { d.push(z); } catch (e) { err = e; }
  assert.ok(isAgentError(err, 'E_DECODE') && (err as { details?: { reason?: string } }).details?.reason === 'too-large');
  assert.ok(out <= 100_000, `emitted ${out}`);

  const small = lzwCompress(new TextEncoder().encode('hello hello hello'));
  const cut = new LzwDecoder(1000, () => {});
  cut.push(small.subarray(0, small.length - 2));
  assert.throws(() => cut.finish(), /no EOF/);

  const pieces: Uint8Array[] = [];
  const trailing = new LzwDecoder(1000, (p) => pieces.push(p));
  trailing.push(concat([small, Uint8Array.of(1, 2, 3)]));
  trailing.finish();
  assert.is(new TextDecoder().decode(concat(pieces)), 'hello hello hello');
});

test('ByteCursor: objects, headers and byte runs across every chunk boundary', async () => {
  const values: GoValue[] = [
    { Name: 'a'.repeat(300), Port: 7946, Meta: new Uint8Array(40) }, 'x', 123_456_789, [1, 2, 3], null, true,
  ];
  const big = Array.from({ length: 70_000 }, (_, i) => i % 3);
  const bigMap = new Map<string, GoValue>(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
  const raw = new Uint8Array(70_000).fill(9);
  const stream = concat([
    ...values.map((v) => encodeGo(v)),
    encodeGo(big).subarray(0, 5), // array32 header only
    encodeGo(bigMap).subarray(0, 3), // map16 header only
    Uint8Array.of(0xdb, 0, 1, 0x11, 0x70), raw, // str32 header + 70,000 bytes
    Uint8Array.of(0x05),
  ]);
  for (const step of [1, 2, 7, 64, 4096, stream.length]) {
    const c = new ByteCursor(chunked(stream, () => step), stream.length, 'test');
    for (const v of values) {
      const { value, raw: enc } = await c.object(1024);
      assert.equal(value, decodeGo(encodeGo(v)).value);
      assert.equal([...enc], [...encodeGo(v)]);
    }
    assert.equal(await c.containerHeader(), { kind: 'array', count: 70_000 });
    assert.equal(await c.containerHeader(), { kind: 'map', count: 17 });
    assert.is(await c.bytesHeader(), 70_000);
    let got = 0;
    await c.stream(70_000, (p) => { got += p.length; assert.ok(p.every((b) => b === 9)); });
    assert.is(got, 70_000);
    assert.is(await c.byte(), 5);
    assert.ok(await c.atEnd());
    assert.is(c.position, stream.length);
    if (step < 100) assert.ok(c.peakHeld <= 1024 + step, `step ${step}: held ${c.peakHeld}`);
  }
});

test('ByteCursor: truncation is E_DECODE, a stream over its total E_TOO_LARGE, an object over its bound E_TOO_LARGE', async () => {
  const enc = encodeGo({ Name: 'node', Port: 1 });
  const cut = new ByteCursor(chunked(enc.subarray(0, enc.length - 1), () => 3), 1000, 'test');
  await rejectsWith(cut.object(1000), 'E_DECODE');
  const over = new ByteCursor(chunked(new Uint8Array(5000), () => 1000), 4000, 'test');
  await rejectsWith(over.skip(5000), 'E_TOO_LARGE');
  const huge = encodeGo('z'.repeat(10_000));
  const bounded = new ByteCursor(chunked(huge, () => 512), 1_000_000, 'test');
  await rejectsWith(bounded.object(4096), 'E_TOO_LARGE');
  assert.ok(bounded.peakHeld <= 4096 + 512);
  await rejectsWith(new ByteCursor(chunked(Uint8Array.of(0xa3, 1), () => 1), 10, 't').containerHeader(), 'E_DECODE');
});

test('lzwSource: a compressed stream read through a cursor, bounded output and held bytes', async () => {
  const objs = Array.from({ length: 20_000 }, (_, i) => encodeGo({ Incarnation: i, Name: `cloudy-node-${i}`, Port: 7946 }));
  const plain = concat(objs);
  const z = lzwCompress(plain);
  const outer = new ByteCursor(chunked(z, () => 1500), z.length, 'stream');
  const inner = new ByteCursor(lzwSource(outer.slice(z.length), plain.length), plain.length, 'decompressed stream');
  for (let i = 0; i < objs.length; i++) {
    const { value } = await inner.object(256);
    assert.is((value as { Incarnation: number }).Incarnation, i);
  }
  assert.ok(await inner.atEnd());
  assert.ok(inner.peakHeld < 64 * 1024, `decompressed bytes held at once: ${inner.peakHeld} of ${plain.length}`);

  const tooSmall = new ByteCursor(lzwSource(new ByteCursor(chunked(z, () => 4096), z.length).slice(z.length), plain.length - 1), plain.length, 'd');
  await rejectsWith(tooSmall.skip(plain.length), 'E_TOO_LARGE');
  const bad = new ByteCursor(lzwSource(chunked(Uint8Array.of(0xff, 0xff, 0xff, 0xff), () => 4), 100), 100, 'd');
  await rejectsWith(bad.atEnd(), 'E_DECODE');
});

test.run();
