import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lzwCompress, lzwDecompress } from '../../../agent/gossip/wire/lzw.ts';
import { decodeGo, asMap, asBytes } from '../../../agent/gossip/wire/msgpack.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { allWireVectors, hex, toHex } from '../../support/vectors.ts';
import { prng } from '../../support/prng.ts';

/** Finds every compress payload in the vectors (with the decompressed plaintext the capture tool recorded). */
function capturedCompressed(): { file: string; buf: Uint8Array; plain: string }[] {
  const out: { file: string; buf: Uint8Array; plain: string }[] = [];
  const visit = (file: string, node: unknown, raw: Uint8Array | null): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    if (n.type === 9 && typeof n.decompressedHex === 'string' && raw) {
      const body = asMap(decodeGo(raw, 1).value);
      out.push({ file, buf: asBytes(body.Buf), plain: n.decompressedHex });
    }
    for (const v of Object.values(n)) if (v && typeof v === 'object') visit(file, v, null);
  };
  for (const v of allWireVectors()) {
    // Locate the compress message bytes: plaintext (possibly after decryption or a CRC header).
    const d = v.decoded;
    let wire = hex(v.hex);
    if (d.encryption?.plaintextHex) wire = hex(d.encryption.plaintextHex);
    if (wire[0] === 12) wire = wire.subarray(5);
    if (wire[0] === 9) visit(v.file, { type: 9, decompressedHex: findDecompressed(d) }, wire);
  }
  return out;
}

function findDecompressed(node: unknown): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const n = node as Record<string, unknown>;
  if (typeof n.decompressedHex === 'string') return n.decompressedHex;
  for (const v of Object.values(n)) {
    const r = findDecompressed(v);
    if (r) return r;
  }
  return undefined;
}

test('captured compressed buffers decompress to the recorded plaintext and recompress byte-identically', () => {
  const cases = capturedCompressed();
  assert.ok(cases.length >= 3, `found ${cases.length} compressed vectors`);
  for (const c of cases) {
    const plain = lzwDecompress(c.buf, 1 << 20);
    assert.is(toHex(plain), c.plain, `${c.file}: decompress`);
    assert.is(toHex(lzwCompress(plain)), toHex(c.buf), `${c.file}: recompress`);
  }
});

test('every stream starts with a Clear code and ends with EOF', () => {
  const z = lzwCompress(new Uint8Array(0));
  // Clear (256) then EOF (257), 9 bits each, LSB first, zero-padded: 18 bits = 3 bytes.
  // bits 0-8 = 256, bits 9-17 = 257 -> 00 03 02
  assert.is(toHex(z), '000302');
  assert.is(lzwDecompress(z, 10).length, 0);
});

test('round trips: random, repetitive, and long enough to pass the 4095-code reset several times', () => {
  const r = prng(42);
  const inputs: Uint8Array[] = [new Uint8Array([7]), new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1, 1])];
  for (const len of [2, 100, 5000, 70000]) {
    inputs.push(Uint8Array.from({ length: len }, () => Math.floor(r() * 256)));
    inputs.push(Uint8Array.from({ length: len }, () => Math.floor(r() * 4)));
    inputs.push(new Uint8Array(len).fill(0x41));
  }
  for (const inp of inputs) {
    const z = lzwCompress(inp);
    const back = lzwDecompress(z, inp.length);
    assert.ok(Buffer.from(back).equals(Buffer.from(inp)), `round trip of ${inp.length} bytes`);
  }
  // Highly repetitive data compresses well.
  assert.ok(lzwCompress(new Uint8Array(70000)).length < 2000);
});

test('decompression bomb: output beyond maxOut throws E_DECODE', () => {
  const z = lzwCompress(new Uint8Array(100000));
  try {
    lzwDecompress(z, 99999);
    assert.unreachable('should throw');
  } catch (e) {
    assert.ok(isAgentError(e, 'E_DECODE'), String(e));
  }
  assert.is(lzwDecompress(z, 100000).length, 100000);
});

test('invalid codes and missing EOF throw E_DECODE', () => {
  // Clear then code 300 (> hi) : invalid.
  const bits = (codes: number[], width = 9): Uint8Array => {
    let acc = 0n;
    let n = 0n;
    for (const c of codes) { acc |= BigInt(c) << n; n += BigInt(width); }
    const len = Number((n + 7n) / 8n);
    return Uint8Array.from({ length: len }, (_, i) => Number((acc >> BigInt(8 * i)) & 0xffn));
  };
  for (const codes of [[256, 300, 257], [256, 65, 66], [256, 258, 257]]) {
    try {
      lzwDecompress(bits(codes), 1000);
      assert.unreachable(`codes ${codes.join(',')}`);
    } catch (e) {
      assert.ok(isAgentError(e, 'E_DECODE'), String(e));
    }
  }
  // A well-formed hand-built stream: A B then KwKwK code 258... 'A','B', 258 = "AB"
  assert.is(Buffer.from(lzwDecompress(bits([256, 65, 66, 258, 257]), 100)).toString(), 'ABAB');
  assert.is(Buffer.from(lzwDecompress(bits([256, 65, 258, 257]), 100)).toString(), 'AAA');
});

test.run();
