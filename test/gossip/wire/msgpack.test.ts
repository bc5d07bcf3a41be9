import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encode as refEncode } from '@msgpack/msgpack';
import {
  encodeGo, encodeGoWithPrefix, decodeGo, decodeGoExact, skipGo, Float64, NeedMoreData, asUint, asBool, asStr, asBytes,
  asOptBytes, asStringMap, MAX_DEPTH,
} from '../../../agent/gossip/wire/msgpack.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { toHex } from '../../support/vectors.ts';

const h = (v: Parameters<typeof encodeGo>[0], mode: 'gossip' | 'rpc' = 'gossip'): string => toHex(encodeGo(v, mode));

test('structs: keys sorted byte-wise, undefined omitted, nested', () => {
  assert.is(h({ b: 1, a: 2, B: 3 }), '83a14203a16102a16201');
  assert.is(h({ SeqNo: 1, Node: 'x', Skip: undefined }), '82a44e6f6465a178a55365714e6f01');
  assert.is(h({ A: { z: true, y: false } }), '81a14182a179c2a17ac3');
  // Go maps keep our insertion order
  assert.is(h(new Map([['z', 1], ['a', 2]])), '82a17a01a16102');
  assert.is(h(null), 'c0');
  assert.is(h([]), '90');
});

test('integers: smallest unsigned form for non-negative values, signed forms below zero', () => {
  assert.is(h(0), '00');
  assert.is(h(127), '7f');
  assert.is(h(128), 'cc80');
  assert.is(h(255), 'ccff');
  assert.is(h(256), 'cd0100');
  assert.is(h(7946), 'cd1f0a');
  assert.is(h(65536), 'ce00010000');
  assert.is(h(3200000000), 'cebebc2000');
  assert.is(h(2 ** 32), 'cf0000000100000000');
  assert.is(h(-1), 'ff');
  assert.is(h(-32), 'e0');
  assert.is(h(-33), 'd0df');
  assert.is(h(-129), 'd1ff7f');
  assert.is(h(-40000), 'd2ffff63c0');
  assert.is(h(-(2 ** 40)), 'd3ffffff0000000000');
  assert.is(h(2n ** 63n), 'cf8000000000000000');
});

test('floats stay float64 when wrapped; non-integers are float64', () => {
  assert.is(h(new Float64(0)), 'cb0000000000000000');
  assert.is(h(new Float64(1.5)), 'cb3ff8000000000000');
  assert.is(h(0.5), 'cb3fe0000000000000');
});

test('strings and []byte: gossip uses str headers and never str8; rpc uses str8 and bin', () => {
  const s31 = 'a'.repeat(31);
  const s32 = 'a'.repeat(32);
  assert.is(h(s31).slice(0, 2), 'bf');
  assert.is(h(s32).slice(0, 6), 'da0020'); // str16, not str8
  assert.is(h(s32, 'rpc').slice(0, 4), 'd920'); // str8 on RPC
  assert.is(h('x'.repeat(70000)).slice(0, 10), 'db00011170');
  assert.is(h(Uint8Array.of(1, 2)), 'a20102'); // []byte as str on gossip
  assert.is(h(new Uint8Array(40)).slice(0, 6), 'da0028');
  assert.is(h(Uint8Array.of(1, 2), 'rpc'), 'c4020102'); // bin on RPC
  assert.is(h(new Uint8Array(300), 'rpc').slice(0, 6), 'c5012c');
  assert.is(h(new Uint8Array(0)), 'a0');
  assert.is(h('é'), 'a2c3a9'); // UTF-8 length in the header
  assert.is(h('naïve-node-ñ'.repeat(8)).slice(0, 2), 'da');
  assert.is(toHex(encodeGoWithPrefix([8, 3], { A: 1 })), '080381a14101');
});

test('decoder agrees with @msgpack/msgpack on random values, and skipGo finds the same end', () => {
  let seed = 99;
  const r = (n: number): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed % n; };
  const gen = (d: number): unknown => {
    switch (r(d > 3 ? 6 : 9)) {
      case 0: return r(2) === 0 ? r(300) : -r(70000);
      case 1: return r(2) === 0;
      case 2: return null;
      case 3: return 'k'.repeat(r(40)) + String.fromCharCode(0xe9);
      case 4: return Uint8Array.from({ length: r(300) }, () => r(256));
      case 5: return r(2 ** 31) * 4096 + r(4096);
      case 6: return Array.from({ length: r(20) }, () => gen(d + 1));
      case 7: { const o: Record<string, unknown> = {}; for (let i = r(18); i > 0; i--) o[`f${r(1000)}`] = gen(d + 1); return o; }
      default: return r(1000) / 7;
    }
  };
  const norm = (v: unknown): unknown => {
    if (typeof v === 'string') return toHex(new TextEncoder().encode(v)); // we decode str as bytes
    if (v instanceof Uint8Array) return toHex(v);
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
    return v;
  };
  for (let i = 0; i < 2000; i++) {
    const v = gen(0);
    const bytes = refEncode(v);
    const { value, end } = decodeGo(bytes);
    assert.is(end, bytes.length);
    assert.equal(norm(value), norm(v));
    assert.is(skipGo(bytes), bytes.length);
    // Every strict prefix is incomplete for both.
    const cut = r(bytes.length);
    for (const f of [() => decodeGo(bytes.subarray(0, cut)), () => skipGo(bytes.subarray(0, cut))]) {
      try { f(); assert.unreachable('prefix'); } catch (e) { assert.ok(e instanceof NeedMoreData, String(e)); }
    }
  }
});

test('decoder guards: length bombs, depth, bad bytes, trailing bytes', () => {
  const bomb = [Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0xdf, 0x7f, 0, 0, 0, 1), Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0)];
  for (const b of bomb) {
    for (const f of [() => decodeGo(b), () => skipGo(b)]) {
      try { f(); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_DECODE')); }
    }
  }
  const deep = new Uint8Array(MAX_DEPTH + 5).fill(0x91);
  deep[deep.length - 1] = 0;
  try { decodeGo(deep); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_DECODE') && /deep/.test((e as Error).message)); }
  for (const b of [0xc1, 0xc7, 0xd4, 0xd8]) {
    try { decodeGo(Uint8Array.of(b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_DECODE') && !(e instanceof NeedMoreData)); }
  }
  try { decodeGoExact(Uint8Array.of(1, 2)); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_DECODE')); }
  // Keys like __proto__ cannot pollute anything.
  const m = decodeGo(encodeGo(new Map([['__proto__', 1], ['constructor', 2]]))).value as Record<string, unknown>;
  assert.is(m['__proto__'], 1);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test("typed accessors follow Go's tolerance", () => {
  assert.is(asUint(undefined), 0);
  assert.is(asUint(65535, 'p', 0xffff), 65535);
  assert.throws(() => asUint(65536, 'p', 0xffff));
  assert.throws(() => asUint(-1));
  assert.is(asBool(1), true);
  assert.is(asBool(0), false);
  assert.throws(() => asBool(2));
  assert.is(asStr(null), '');
  assert.throws(() => asStr(5));
  assert.is(asBytes(null).length, 0);
  assert.is(asOptBytes(new Uint8Array(0)), null);
  assert.equal(asStringMap(decodeGo(encodeGo(new Map([['role', 'web']]))).value), { role: 'web' });
  const odd = asStringMap(decodeGo(encodeGo(new Map([['__proto__', 'x'], ['a', 'b']]))).value);
  assert.equal(Object.keys(odd), ['__proto__', 'a']);
  assert.is(Object.getPrototypeOf(odd), Object.prototype);
  assert.is(odd['__proto__' as 'a'], 'x');
});

test.run();
