// Our bzip2 encoder against the real tools: every stream decodes with the real
// `bunzip2` and with compressjs, and none is larger than `bzip2 -9`'s
// (test/discovery/bzip2-corpus.real.test.ts does the same on realistic service lists).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { bzip2Encode, huffmanLengths } from '../../agent/discovery/bzip2-encoder.ts';
import { bzip2Decompress } from '../../agent/discovery/bzip2.ts';

const te = new TextEncoder();
const bunzip2 = (b: Uint8Array): Buffer => execFileSync('bunzip2', ['-c'], { input: b, maxBuffer: 64 << 20 });
const bzip2 = (b: Uint8Array): Buffer => execFileSync('bzip2', ['-9', '-c'], { input: b, maxBuffer: 64 << 20 });

/** Deterministic pseudo-random bytes (xorshift32). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

function cases(): { name: string; data: Uint8Array }[] {
  const r = prng(42);
  const out = [
    { name: 'empty', data: new Uint8Array(0) },
    { name: 'one byte', data: te.encode('x') },
    { name: 'run of 4', data: te.encode('aaaa') },
    { name: 'runs of exactly 4 (stage-1 growth)', data: te.encode('aaaabbbbccccddddeeee'.repeat(50)) },
    { name: 'run of 1000', data: new Uint8Array(1000).fill(0x41) },
    { name: 'run of 255 and 256', data: Uint8Array.from([...new Array(255).fill(1), 2, ...new Array(256).fill(3)]) },
    { name: 'all byte values', data: Uint8Array.from({ length: 512 }, (_, i) => i & 0xff) },
    { name: 'random 30 KB', data: Uint8Array.from({ length: 30_000 }, () => r() & 0xff) },
    { name: 'skewed random 50 KB', data: Uint8Array.from({ length: 50_000 }, () => 'eeeeetaoinshrdlu\n'.charCodeAt(r() % 17)) },
  ];
  for (let n = 1; n <= 5; n++) {
    const recs = Array.from({ length: n }, (_, i) => ({ s: ['serf', 'syncthing', 'Docker', 'proxy3', 'tahoe-lafs'][i], d: `Service_${i}_running`, m: 'node.guifi.local', i: `10.1.2.${i + 3}`, p: String(5000 + i * 17), e: 'guifi', t: i % 2 ? 'node_id=ABCDEF' : '' }));
    out.push({ name: `${n} services JSON`, data: te.encode(JSON.stringify(recs) + '\n') });
  }
  return out;
}

test('every stream decodes with the real bunzip2 and with compressjs, byte for byte', () => {
  for (const c of cases()) {
    const enc = bzip2Encode(c.data);
    assert.equal([...enc.subarray(0, 4)], [0x42, 0x5a, 0x68, 0x39], `${c.name}: BZh9 header`);
    assert.ok(Buffer.from(c.data).equals(bunzip2(enc)), `${c.name}: real bunzip2`);
    assert.ok(Buffer.from(c.data).equals(Buffer.from(bzip2Decompress(enc, 1 << 24))), `${c.name}: compressjs`);
  }
});

test('never larger than bzip2 -9 (the 512-byte tag budget depends on it)', () => {
  let ours = 0, ref = 0;
  for (const c of cases()) {
    const a = bzip2Encode(c.data).length;
    const b = bzip2(c.data).length;
    ours += a; ref += b;
    assert.ok(a <= b, `${c.name}: ours ${a} bytes vs bzip2 ${b}`);
  }
  console.log(`total over ${cases().length} inputs: ours ${ours} bytes, bzip2 -9 ${ref} bytes`);
});

test('huffman code lengths respect the limit and the Kraft equality', () => {
  const r = prng(7);
  for (let t = 0; t < 50; t++) {
    const n = 3 + (r() % 256);
    // Fibonacci-like skew forces deep trees that must be flattened to the limit.
    const freqs = Array.from({ length: n }, (_, i) => (t % 2 ? Math.min(2 ** Math.min(i, 30), 1e9) : r() % 1000));
    const len = huffmanLengths(freqs, 17);
    assert.ok(len.every((l) => l >= 1 && l <= 17));
    const kraft = len.reduce((a, l) => a + 2 ** -l, 0);
    assert.ok(Math.abs(kraft - 1) < 1e-9, `kraft ${kraft}`);
  }
});

test.run();
