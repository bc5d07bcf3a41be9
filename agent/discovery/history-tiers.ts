// The federation's history for years in fixed memory: tiers of fixed-size
// rings (1-minute points for a day, 1-hour for 90 days, 1-day for ten years by
// default; sizes in limits.ts). Each sample is folded into the current point
// of every tier as a running mean, so a coarse point is the mean of the
// samples of its hour or day. A point is (bucket number, sample count, one
// float32 per column): 68 bytes with the 15 columns below, so the default
// tiers take 7,260 x 68 = 493,680 bytes in memory and on disk, whatever the
// federation's size or age.
//
// Columns are fixed so that a point has a fixed size: the alive members,
// Cloudy instances and services, then services of each type of Cloudy's
// search page, with every other type summed into `other`.
import type { FederationSample } from './federation.ts';
import { AgentError } from '../errors.ts';

export const HISTORY_TYPES = ['serf', 'syncthing', 'tahoe-lafs', 'proxy3', 'dnsservice', 'snpservice', 'peerstreamer', 'tincvpn', 'owp', 'Docker', 'ipfs'] as const;
export const HISTORY_COLUMNS = ['alive_members', 'cloudy_instances', 'services', ...HISTORY_TYPES, 'other'] as const;
const NCOL = HISTORY_COLUMNS.length;
const TYPE_COLUMN = new Map<string, number>(HISTORY_TYPES.map((t, i) => [t, 3 + i]));
const OTHER = NCOL - 1;

export interface TierSpec { stepMs: number; points: number }

export function sampleColumns(s: FederationSample): Float32Array {
  const v = new Float32Array(NCOL);
  v[0] = s.aliveMembers; v[1] = s.cloudyInstances; v[2] = s.services;
  for (const [type, n] of Object.entries(s.byType)) v[TYPE_COLUMN.get(type) ?? OTHER]! += n;
  return v;
}

export class HistoryTier {
  /** bucket number + 1 (0 = empty slot). */
  readonly bucket: Uint32Array;
  readonly count: Uint32Array;
  readonly mean: Float32Array;

  constructor(readonly spec: TierSpec) {
    this.bucket = new Uint32Array(spec.points);
    this.count = new Uint32Array(spec.points);
    this.mean = new Float32Array(spec.points * NCOL);
  }

  add(t: number, values: Float32Array): void {
    const b = Math.floor(t / this.spec.stepMs);
    const i = b % this.spec.points;
    if (this.bucket[i] !== b + 1) {
      this.bucket[i] = b + 1;
      this.count[i] = 0;
      this.mean.fill(0, i * NCOL, (i + 1) * NCOL);
    }
    const n = ++this.count[i]!;
    for (let c = 0; c < NCOL; c++) this.mean[i * NCOL + c]! += (values[c]! - this.mean[i * NCOL + c]!) / n;
  }

  /** Points whose bucket starts in [from, to], oldest first: [t, ...columns]. */
  points(from: number, to: number): number[][] {
    const out: number[][] = [];
    const step = this.spec.stepMs;
    const first = Math.max(Math.floor(from / step), Math.floor(to / step) - this.spec.points + 1);
    for (let b = first; b <= Math.floor(to / step); b++) {
      const i = b % this.spec.points;
      if (this.bucket[i] !== b + 1) continue;
      const row = [b * step];
      for (let c = 0; c < NCOL; c++) row.push(Math.round(this.mean[i * NCOL + c]! * 100) / 100);
      out.push(row);
    }
    return out;
  }

  spanMs(): number {
    return this.spec.stepMs * this.spec.points;
  }
}

export const HISTORY_RANGES: Record<string, number> = {
  '1h': 3_600_000, '1d': 86_400_000, '1w': 7 * 86_400_000, '1m': 30 * 86_400_000, '1y': 365 * 86_400_000,
};

export interface HistorySeries {
  range: string;
  stepMs: number;
  columns: readonly string[];
  /** [t (ms), ...columns], oldest first. */
  points: number[][];
}

export class TieredHistory {
  readonly tiers: HistoryTier[];

  constructor(specs: TierSpec[]) {
    this.tiers = [...specs].sort((a, b) => a.stepMs - b.stepMs).map((s) => new HistoryTier(s));
  }

  add(s: FederationSample): void {
    const v = sampleColumns(s);
    for (const t of this.tiers) t.add(s.t, v);
  }

  /** The finest tier that covers the range (else the coarsest). */
  series(range: string, now: number): HistorySeries {
    const span = HISTORY_RANGES[range];
    if (span === undefined) throw new RangeError(range);
    const tier = this.tiers.find((t) => t.spanMs() >= span) ?? this.tiers[this.tiers.length - 1]!;
    return { range, stepMs: tier.spec.stepMs, columns: HISTORY_COLUMNS, points: tier.points(now - span, now) };
  }

  byteSize(): number {
    return this.tiers.reduce((n, t) => n + t.bucket.byteLength + t.count.byteLength + t.mean.byteLength, 0);
  }
}

export function seriesToCsv(s: HistorySeries): string {
  const lines = [['time', ...s.columns].join(',')];
  for (const p of s.points) lines.push([new Date(p[0]!).toISOString(), ...p.slice(1)].join(','));
  return lines.join('\n') + '\n';
}

// --- on-disk form: header, then each tier's arrays (little-endian, as typed arrays on x86/ARM) ---
const MAGIC = 0x31484143; // "CAH1"

export function encodeHistory(h: TieredHistory): Uint8Array {
  const headerBytes = 16 + h.tiers.length * 16;
  const out = new Uint8Array(headerBytes + h.byteSize());
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true); dv.setUint32(4, 1, true); dv.setUint32(8, NCOL, true); dv.setUint32(12, h.tiers.length, true);
  let o = 16;
  for (const t of h.tiers) { dv.setFloat64(o, t.spec.stepMs, true); dv.setUint32(o + 8, t.spec.points, true); o += 16; }
  for (const t of h.tiers) {
    for (const a of [t.bucket, t.count, t.mean]) { out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o); o += a.byteLength; }
  }
  return out;
}

/** Restores saved points into `h` (tiers matched by step; sizes may differ). Throws on a damaged file. */
export function decodeHistoryInto(h: TieredHistory, data: Uint8Array): void {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.byteLength < 16 || dv.getUint32(0, true) !== MAGIC || dv.getUint32(4, true) !== 1) throw new AgentError('E_DECODE', 'not a history file');
  const ncol = dv.getUint32(8, true), ntiers = dv.getUint32(12, true);
  if (ncol !== NCOL || ntiers > 16) throw new AgentError('E_DECODE', `history file has ${ncol} columns, ${ntiers} tiers`);
  const specs: TierSpec[] = [];
  for (let k = 0; k < ntiers; k++) specs.push({ stepMs: dv.getFloat64(16 + k * 16, true), points: dv.getUint32(24 + k * 16, true) });
  let o = 16 + ntiers * 16;
  const need = o + specs.reduce((n, s) => n + s.points * (8 + 4 * NCOL), 0);
  if (data.byteLength !== need) throw new AgentError('E_DECODE', `history file is ${data.byteLength} bytes, expected ${need}`);
  for (const s of specs) {
    const copy = (n: number): Uint8Array => { const b = data.slice(o, o + n); o += n; return b; };
    const bucket = new Uint32Array(copy(s.points * 4).buffer);
    const count = new Uint32Array(copy(s.points * 4).buffer);
    const mean = new Float32Array(copy(s.points * 4 * NCOL).buffer);
    const tier = h.tiers.find((t) => t.spec.stepMs === s.stepMs);
    if (!tier) continue;
    for (let i = 0; i < s.points; i++) {
      if (bucket[i] === 0) continue;
      const b = bucket[i]! - 1;
      const j = b % tier.spec.points;
      if (tier.bucket[j]! > bucket[i]!) continue; // a newer bucket already holds the slot
      tier.bucket[j] = bucket[i]!;
      tier.count[j] = count[i]!;
      tier.mean.set(mean.subarray(i * NCOL, (i + 1) * NCOL), j * NCOL);
    }
  }
}
