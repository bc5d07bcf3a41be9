// bzip2 compressor tuned for small inputs, written from the bzip2 file format
// (the BWT itself is compressjs's). Why not compressjs's own encoder: it builds
// its Huffman tables with a simplified heuristic (one table from global
// frequencies plus a flat one) that costs 10-20% on the ~100-500 byte JSON
// texts of a Cloudy `services` tag; with serf's 512-byte tag budget that is one
// typical service fewer than a real Cloudy node fits (3 instead of 4). This
// encoder computes the tables `bzip2` 1.0.x itself would choose (with them its
// output is `bzip2 -9`'s byte for byte) and, on small inputs, a few dozen other
// table sets, and writes the one with the fewest bits: never larger than
// `bzip2 -9`, and for realistic service lists about 4.5% smaller, so more of
// them fit in 512 bytes than on a node running avahi-ps
// (test/discovery/bzip2-corpus.real.test.ts, bench/bzip2-sizes.ts). Where the
// bytes go on small inputs: the tables (one code length per used symbol per
// table, 2 to 6 tables) cost about as much as the selectors and codes of a
// few hundred symbols, so fewer tables, or tables refined for more passes,
// often pay; bzip2 fixes 2-3 tables and 4 passes by input size alone.
//
// Format summary (per stream): "BZh9"; per block: 48-bit magic 0x314159265359,
// block CRC, randomised bit (0), 24-bit BWT origin pointer, symbol-usage bitmap
// (16 + 16x16 bits), table count (3 bits), selector count (15 bits), selectors
// (move-to-front, unary), code-length tables (delta coded), Huffman-coded
// MTF/RUNA/RUNB symbols; end: 48-bit magic 0x177245385090, combined CRC, byte pad.
import BWT from 'compressjs/lib/BWT.js';

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

export interface Bzip2EncodeOptions {
  /** Only the tables `bzip2` itself would choose (its output byte for byte); for tests. Default false: the smallest found. */
  referenceOnly?: boolean;
}

/** Compresses `data` into one bzip2 stream with header "BZh9". */
export function bzip2Encode(data: Uint8Array, options: Bzip2EncodeOptions = {}): Uint8Array {
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
    writeBlock(w, block.subarray(0, len), blockCrc, options.referenceOnly === true);
  }
  w.bits(24, 0x177245); w.bits(24, 0x385090);
  w.u32(combined);
  return w.finish();
}

function writeBlock(w: BitWriter, block: Uint8Array, blockCrc: number, referenceOnly: boolean): void {
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

  const { lengths, selectors } = chooseTables(syms, alphaSize, referenceOnly);
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

interface Tables { lengths: number[][]; selectors: number[] }

/** Table count by symbol count, as the reference encoder picks it. */
function tableCount(nSyms: number): number {
  if (nSyms < 200) return 2;
  if (nSyms < 600) return 3;
  if (nSyms < 1200) return 4;
  if (nSyms < 2400) return 5;
  return 6;
}

/**
 * The coding tables and selectors of one block: the smallest of several
 * candidates by exact bit count (selectors + tables + coded symbols, the only
 * parts of a block that depend on the choice).
 *
 * The first candidate is what `bzip2` 1.0.x itself chooses (same table count,
 * same seeding, same four refinement passes, same Huffman tie-breaking), so the
 * result is never larger than `bzip2 -9`'s block; test/discovery/bzip2.test.ts
 * checks that this candidate alone reproduces `bzip2 -9` byte for byte. The
 * others only matter on small inputs such as a `services` tag, where bzip2's
 * fixed choices waste bytes: every table count from 2 to 6, every pass count up
 * to MAX_PASSES, and each of those with the tables no selector uses dropped
 * (down to the two tables the format requires, the spare one replaced by the
 * cheapest complete code to transmit).
 */
function chooseTables(syms: readonly number[], alphaSize: number, referenceOnly: boolean): Tables {
  let best: Tables | undefined;
  for (const t of refinePasses(syms, alphaSize, tableCount(syms.length), ITERATIONS)) best = t;
  if (referenceOnly || syms.length > SEARCH_MAX_SYMBOLS) return best!;
  let bestCost = blockCost(best!, syms, alphaSize);
  const consider = (t: Tables): void => {
    const c = blockCost(t, syms, alphaSize);
    if (c < bestCost) { best = t; bestCost = c; }
  };
  for (let nGroups = 2; nGroups <= 6; nGroups++) {
    for (const t of refinePasses(syms, alphaSize, nGroups, MAX_PASSES)) {
      consider(t);
      consider(dropUnusedTables(t, alphaSize));
    }
  }
  return best!;
}

/** Inputs up to this many MTF symbols (a few KB of text) get the candidate search; larger ones bzip2's choice only. */
const SEARCH_MAX_SYMBOLS = 5_000;
/** Refinement passes tried per table count in the search. */
const MAX_PASSES = 10;

/**
 * bzip2's table construction, one result per refinement pass: seed each table
 * with a contiguous range of symbols holding an equal (integer) share of the
 * frequency mass (cost 0 inside the range, 15 outside), then alternate: give
 * each 50-symbol group to its cheapest table (first on ties), rebuild every
 * table's code lengths from the groups it got.
 */
function* refinePasses(syms: readonly number[], alphaSize: number, nGroups: number, passes: number): Generator<Tables> {
  const freq = new Array<number>(alphaSize).fill(0);
  for (const s of syms) freq[s]!++;
  let lengths: number[][] = Array.from({ length: nGroups }, () => new Array<number>(alphaSize).fill(15));
  let remaining = syms.length;
  let start = 0;
  for (let part = nGroups; part > 0; part--) {
    const target = Math.floor(remaining / part);
    let end = start - 1;
    let mass = 0;
    while (mass < target && end < alphaSize - 1) mass += freq[++end]!;
    // Alternate parts give back their last symbol, which balances the ranges.
    if (end > start && part !== nGroups && part !== 1 && (nGroups - part) % 2 === 1) mass -= freq[end--]!;
    for (let v = start; v <= end; v++) lengths[part - 1]![v] = 0;
    start = end + 1;
    remaining -= mass;
  }
  const nSel = Math.ceil(syms.length / GROUP_SIZE);
  for (let pass = 0; pass < passes; pass++) {
    const selectors = new Array<number>(nSel).fill(0);
    const tableFreq = lengths.map(() => new Array<number>(alphaSize).fill(0));
    for (let g = 0; g < nSel; g++) {
      const end = Math.min(syms.length, (g + 1) * GROUP_SIZE);
      let best = 0;
      let bestCost = Infinity;
      for (let t = 0; t < nGroups; t++) {
        let cost = 0;
        for (let i = g * GROUP_SIZE; i < end; i++) cost += lengths[t]![syms[i]!]!;
        if (cost < bestCost) { bestCost = cost; best = t; }
      }
      selectors[g] = best;
      for (let i = g * GROUP_SIZE; i < end; i++) tableFreq[best]![syms[i]!]!++;
    }
    lengths = tableFreq.map((f) => huffmanLengths(f, MAX_CODE_LEN));
    yield { lengths, selectors };
  }
}

/** The same coding with the tables no selector uses left out (at least two stay: the format's minimum). */
function dropUnusedTables(t: Tables, alphaSize: number): Tables {
  const used = [...new Set(t.selectors)].sort((a, b) => a - b);
  if (used.length === t.lengths.length) return t;
  const lengths = used.map((i) => t.lengths[i]!);
  if (lengths.length < 2) lengths.push(cheapestCompleteCode(alphaSize));
  const selectors = t.selectors.map((s) => used.indexOf(s));
  return { lengths, selectors };
}

/** A complete prefix code whose lengths cost the fewest bits to transmit: k for the first symbols, k+1 for the rest. */
function cheapestCompleteCode(alphaSize: number): number[] {
  const k = Math.floor(Math.log2(alphaSize));
  const shortOnes = 2 ** (k + 1) - alphaSize;
  return Array.from({ length: alphaSize }, (_, i) => (i < shortOnes ? k : k + 1));
}

/** Bits of the table count, selectors, code-length tables and coded symbols of one block. */
function blockCost(t: Tables, syms: readonly number[], alphaSize: number): number {
  let bits = 3 + 15;
  const order = Array.from({ length: t.lengths.length }, (_, i) => i);
  for (const s of t.selectors) {
    const j = order.indexOf(s);
    bits += j + 1;
    order.splice(j, 1);
    order.unshift(s);
  }
  for (const len of t.lengths) {
    bits += 5;
    let cur = len[0]!;
    for (let s = 0; s < alphaSize; s++) {
      bits += 2 * Math.abs(len[s]! - cur) + 1;
      cur = len[s]!;
    }
  }
  for (let g = 0; g < t.selectors.length; g++) {
    const len = t.lengths[t.selectors[g]!]!;
    const end = Math.min(syms.length, (g + 1) * GROUP_SIZE);
    for (let i = g * GROUP_SIZE; i < end; i++) bits += len[syms[i]!]!;
  }
  return bits;
}

/**
 * Huffman code lengths for every symbol (unused ones count as frequency 1: the
 * format needs a code for each), limited to maxLen by halving the weights and
 * rebuilding. The tree is built exactly as bzip2's encoder builds it (a binary
 * heap of weights that carry the subtree depth in their low byte, so equal
 * weights prefer the shallower subtree, and the same heap order on ties): equal
 * weights can give different but equally good lengths, and only this order
 * gives bzip2's own tables.
 */
export function huffmanLengths(freqs: readonly number[], maxLen: number): number[] {
  const n = freqs.length;
  // Node 0 is the heap's sentinel (weight 0), leaves are 1..n, inner nodes n+1..2n-1.
  const weight = new Array<number>(2 * n + 1).fill(0);
  const parent = new Array<number>(2 * n + 1).fill(-1);
  const heap = new Array<number>(n + 2).fill(0);
  for (let i = 0; i < n; i++) weight[i + 1] = Math.max(1, freqs[i]!) * 256;
  for (;;) {
    let nHeap = 0;
    let nNodes = n;
    const up = (z: number): void => {
      const tmp = heap[z]!;
      while (weight[tmp]! < weight[heap[z >> 1]!]!) { heap[z] = heap[z >> 1]!; z >>= 1; }
      heap[z] = tmp;
    };
    const down = (z: number): void => {
      const tmp = heap[z]!;
      for (;;) {
        let y = z << 1;
        if (y > nHeap) break;
        if (y < nHeap && weight[heap[y + 1]!]! < weight[heap[y]!]!) y++;
        if (weight[tmp]! < weight[heap[y]!]!) break;
        heap[z] = heap[y]!;
        z = y;
      }
      heap[z] = tmp;
    };
    heap[0] = 0;
    for (let i = 1; i <= n; i++) { parent[i] = -1; heap[++nHeap] = i; up(nHeap); }
    while (nHeap > 1) {
      const n1 = heap[1]!; heap[1] = heap[nHeap--]!; down(1);
      const n2 = heap[1]!; heap[1] = heap[nHeap--]!; down(1);
      nNodes++;
      parent[n1] = parent[n2] = nNodes;
      const w1 = weight[n1]!, w2 = weight[n2]!;
      weight[nNodes] = (w1 - (w1 & 0xff)) + (w2 - (w2 & 0xff)) + 1 + Math.max(w1 & 0xff, w2 & 0xff);
      parent[nNodes] = -1;
      heap[++nHeap] = nNodes;
      up(nHeap);
    }
    const lengths = new Array<number>(n);
    let tooLong = false;
    for (let i = 1; i <= n; i++) {
      let d = 0;
      for (let k = i; parent[k]! >= 0; k = parent[k]!) d++;
      lengths[i - 1] = d;
      if (d > maxLen) tooLong = true;
    }
    if (!tooLong) return lengths;
    for (let i = 1; i <= n; i++) weight[i] = (1 + Math.floor(weight[i]! / 256 / 2)) * 256;
  }
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
