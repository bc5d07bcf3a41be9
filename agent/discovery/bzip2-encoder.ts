// bzip2 compressor tuned for small inputs, written from the bzip2 file format
// (the BWT itself is compressjs's). Why not compressjs's own encoder: it builds
// its Huffman tables with a simplified heuristic (one table from global
// frequencies plus a flat one) that costs 10-20% on the ~100-500 byte JSON
// texts of a Cloudy `services` tag; with serf's 512-byte tag budget that is one
// typical service fewer than a real Cloudy node fits (3 instead of 4). This
// encoder chooses tables the way the reference `bzip2` does (frequency-range
// seeded tables refined over four passes), so its output is about the size of
// `bzip2 -9`'s; every stream is checked against the real `bunzip2` and the
// compressjs decoder in test/discovery/bzip2.test.ts.
//
// Format summary (per stream): "BZh9"; per block: 48-bit magic 0x314159265359,
// block CRC, randomised bit (0), 24-bit BWT origin pointer, symbol-usage bitmap
// (16 + 16x16 bits), table count (3 bits), selector count (15 bits), selectors
// (move-to-front, unary), code-length tables (delta coded), Huffman-coded
// MTF/RUNA/RUNB symbols; end: 48-bit magic 0x177245385090, combined CRC, byte pad.
import BWT from 'compressjs/lib/BWT.js';
import { AgentError } from '../errors.ts';

/** Largest block after the initial run-length stage for "BZh9": 900,000 bytes (less bzip2's own safety margin). */
const MAX_BLOCK = 900_000 - 19;
const GROUP_SIZE = 50;
/** Code length limit bzip2's encoder uses (the format allows 20). */
const MAX_CODE_LEN = 17;
const ITERATIONS = 4;

// CRC-32 as bzip2 computes it: polynomial 0x04C11DB7, MSB first, init and final xor all ones.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;
  bits(count: number, value: number): void {
    for (let i = count - 1; i >= 0; i--) this.bit((value >>> i) & 1);
  }
  bit(b: number): void {
    this.acc = (this.acc << 1) | b;
    if (++this.n === 8) {
      this.bytes.push(this.acc);
      this.acc = 0;
      this.n = 0;
    }
  }
  u32(v: number): void { this.bits(16, (v >>> 16) & 0xffff); this.bits(16, v & 0xffff); }
  finish(): Uint8Array {
    if (this.n > 0) this.bytes.push((this.acc << (8 - this.n)) & 0xff);
    return Uint8Array.from(this.bytes);
  }
}

/** Compresses `data` into one bzip2 stream with header "BZh9". */
export function bzip2Encode(data: Uint8Array): Uint8Array {
  const w = new BitWriter();
  for (const c of 'BZh9') w.bits(8, c.charCodeAt(0));
  let combined = 0;
  let pos = 0;
  // Stage 1 can grow the data by 25% (a run of exactly 4 takes 5 bytes).
  const block = new Uint8Array(Math.min(MAX_BLOCK, Math.ceil(data.length * 1.25) + 8));
  while (pos < data.length) {
    // Stage 1: runs of 4..255 equal bytes become 4 bytes + (run - 4); the CRC covers the original bytes.
    let len = 0;
    let crc = 0xffffffff;
    while (pos < data.length && len <= MAX_BLOCK - 5) {
      const b = data[pos]!;
      let run = 1;
      while (run < 255 && pos + run < data.length && data[pos + run] === b) run++;
      for (let i = 0; i < run; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
      if (run >= 4) {
        block.fill(b, len, len + 4);
        block[len + 4] = run - 4;
        len += 5;
      } else {
        block.fill(b, len, len + run);
        len += run;
      }
      pos += run;
    }
    const blockCrc = ~crc >>> 0;
    combined = (((combined << 1) | (combined >>> 31)) ^ blockCrc) >>> 0;
    writeBlock(w, block.subarray(0, len), blockCrc);
  }
  w.bits(24, 0x177245); w.bits(24, 0x385090);
  w.u32(combined);
  return w.finish();
}

function writeBlock(w: BitWriter, block: Uint8Array, blockCrc: number): void {
  const n = block.length;
  const bwt = new Uint8Array(n);
  const origPtr = BWT.bwtransform2(block, bwt, n, 256);

  w.bits(24, 0x314159); w.bits(24, 0x265359);
  w.u32(blockCrc);
  w.bit(0); // not randomised
  w.bits(24, origPtr);

  const used = new Array<boolean>(256).fill(false);
  for (let i = 0; i < n; i++) used[block[i]!] = true;
  for (let hi = 0; hi < 16; hi++) w.bit(used.slice(hi * 16, hi * 16 + 16).some(Boolean) ? 1 : 0);
  for (let hi = 0; hi < 16; hi++) {
    if (!used.slice(hi * 16, hi * 16 + 16).some(Boolean)) continue;
    for (let lo = 0; lo < 16; lo++) w.bit(used[hi * 16 + lo] ? 1 : 0);
  }

  // Stage 2: move-to-front over the used symbols, zero runs as RUNA(0)/RUNB(1) digits, EOB last.
  const mtf: number[] = [];
  for (let i = 0; i < 256; i++) if (used[i]) mtf.push(i);
  const inUse = mtf.length;
  const eob = inUse + 1;
  const alphaSize = inUse + 2;
  const syms: number[] = [];
  let zeros = 0;
  const flushZeros = (): void => {
    // Bijective base 2: digit RUNA = 1, RUNB = 2 (least significant first).
    while (zeros > 0) {
      if (zeros & 1) { syms.push(0); zeros -= 1; } else { syms.push(1); zeros -= 2; }
      zeros >>>= 1;
    }
  };
  for (let i = 0; i < n; i++) {
    const c = bwt[i]!;
    const j = mtf.indexOf(c);
    if (j === 0) { zeros++; continue; }
    flushZeros();
    mtf.splice(j, 1);
    mtf.unshift(c);
    syms.push(j + 1);
  }
  flushZeros();
  syms.push(eob);

  const { lengths, selectors } = chooseTables(syms, alphaSize);
  const nGroups = lengths.length;
  w.bits(3, nGroups);
  w.bits(15, selectors.length);
  const order = Array.from({ length: nGroups }, (_, i) => i);
  for (const s of selectors) {
    const j = order.indexOf(s);
    for (let k = 0; k < j; k++) w.bit(1);
    w.bit(0);
    order.splice(j, 1);
    order.unshift(s);
  }
  const codes = lengths.map(canonicalCodes);
  for (const len of lengths) {
    let cur = len[0]!;
    w.bits(5, cur);
    for (let s = 0; s < alphaSize; s++) {
      while (cur < len[s]!) { w.bits(2, 2); cur++; }
      while (cur > len[s]!) { w.bits(2, 3); cur--; }
      w.bit(0);
    }
  }
  for (let g = 0; g < selectors.length; g++) {
    const t = selectors[g]!;
    const end = Math.min(syms.length, (g + 1) * GROUP_SIZE);
    for (let i = g * GROUP_SIZE; i < end; i++) w.bits(lengths[t]![syms[i]!]!, codes[t]![syms[i]!]!);
  }
}

/** Table count by symbol count, as the reference encoder picks it. */
function tableCount(nSyms: number): number {
  if (nSyms < 200) return 2;
  if (nSyms < 600) return 3;
  if (nSyms < 1200) return 4;
  if (nSyms < 2400) return 5;
  return 6;
}

/**
 * Seeds each table with a contiguous range of symbols holding an equal share
 * of the frequency mass (cheap inside the range, expensive outside), then
 * alternates: give each 50-symbol group to its cheapest table, rebuild every
 * table's code lengths from the groups it got.
 */
function chooseTables(syms: readonly number[], alphaSize: number): { lengths: number[][]; selectors: number[] } {
  const nGroups = tableCount(syms.length);
  const freq = new Array<number>(alphaSize).fill(0);
  for (const s of syms) freq[s]!++;
  let lengths: number[][] = [];
  let remaining = syms.length;
  let start = 0;
  for (let part = nGroups; part > 0; part--) {
    const target = remaining / part;
    let end = start - 1;
    let mass = 0;
    while (mass < target && end < alphaSize - 1) mass += freq[++end]!;
    // Alternate parts give back their last symbol, which balances the ranges.
    if (end > start && part !== nGroups && part !== 1 && (nGroups - part) % 2 === 1) mass -= freq[end--]!;
    lengths.unshift(Array.from({ length: alphaSize }, (_, v) => (v >= start && v <= end ? 0 : 15)));
    start = end + 1;
    remaining -= mass;
  }
  const nSel = Math.ceil(syms.length / GROUP_SIZE);
  let selectors: number[] = new Array<number>(nSel).fill(0);
  for (let iter = 0; iter < ITERATIONS; iter++) {
    const tableFreq = lengths.map(() => new Array<number>(alphaSize).fill(0));
    for (let g = 0; g < nSel; g++) {
      const end = Math.min(syms.length, (g + 1) * GROUP_SIZE);
      let best = 0;
      let bestCost = Infinity;
      for (let t = 0; t < lengths.length; t++) {
        let cost = 0;
        for (let i = g * GROUP_SIZE; i < end; i++) cost += lengths[t]![syms[i]!]!;
        if (cost < bestCost) { bestCost = cost; best = t; }
      }
      selectors[g] = best;
      for (let i = g * GROUP_SIZE; i < end; i++) tableFreq[best]![syms[i]!]!++;
    }
    lengths = tableFreq.map((f) => huffmanLengths(f, MAX_CODE_LEN));
  }
  selectors = selectors.slice(0, nSel);
  return { lengths, selectors };
}

/**
 * Huffman code lengths for every symbol (unused ones get a code too, the
 * format needs one per symbol), limited to maxLen by flattening the weights
 * and retrying, as bzip2 does.
 */
export function huffmanLengths(freqs: readonly number[], maxLen: number): number[] {
  const n = freqs.length;
  let weights = freqs.map((f) => Math.max(1, f));
  for (let attempt = 0; attempt < 64; attempt++) {
    // Nodes: leaves 0..n-1, internal n..2n-2; depth by parent links.
    const parent = new Array<number>(2 * n).fill(-1);
    const heap: { w: number; node: number; depth: number }[] = weights.map((w, i) => ({ w, node: i, depth: 0 }));
    const less = (a: { w: number; depth: number }, b: { w: number; depth: number }): boolean => a.w < b.w || (a.w === b.w && a.depth < b.depth);
    const push = (x: { w: number; node: number; depth: number }): void => {
      heap.push(x);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!less(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    };
    const pop = (): { w: number; node: number; depth: number } => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m]!, heap[i]!];
          i = m;
        }
      }
      return top;
    };
    const initial = [...heap];
    heap.length = 0;
    for (const x of initial) push(x);
    let next = n;
    while (heap.length > 1) {
      const a = pop();
      const b = pop();
      parent[a.node] = next;
      parent[b.node] = next;
      push({ w: a.w + b.w, node: next, depth: Math.max(a.depth, b.depth) + 1 });
      next++;
    }
    const lengths = new Array<number>(n);
    let longest = 0;
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let k = i; parent[k] !== -1; k = parent[k]!) d++;
      lengths[i] = Math.max(1, d);
      if (lengths[i]! > longest) longest = lengths[i]!;
    }
    if (longest <= maxLen) return lengths;
    weights = weights.map((w) => 1 + (w >> 1));
  }
  throw new AgentError('E_STATE', 'huffman: cannot limit code lengths');
}

/** Canonical codes: by length, then by symbol (what every bzip2 decoder rebuilds from the lengths). */
function canonicalCodes(lengths: readonly number[]): number[] {
  const codes = new Array<number>(lengths.length).fill(0);
  let code = 0;
  for (let len = 1; len <= 20; len++) {
    for (let s = 0; s < lengths.length; s++) if (lengths[s] === len) codes[s] = code++;
    code <<= 1;
  }
  return codes;
}
