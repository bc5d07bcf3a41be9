// Vivaldi network coordinates as serf 0.9.4 computes them (serf/coordinate):
// an 8-dimensional Euclidean position plus a "height" (access-link latency),
// an adjustment term learned from the residual error, and a confidence
// (error) estimate. Every completed probe moves our coordinate along the
// spring force between the measured RTT and the predicted distance.
//
// The defaults below are serf's DefaultConfig(); peers compare coordinates
// computed with them, so they are protocol-relevant.
import type { Coordinate } from './coordinate.ts';

export interface VivaldiConfig {
  dimensionality: number;     // 8
  errorMax: number;           // 1.5: initial and maximum error
  ce: number;                 // 0.25: error-estimate tuning
  cc: number;                 // 0.25: position-step tuning
  adjustmentWindow: number;   // 20 samples averaged for the adjustment term
  heightMin: number;          // 10e-6 s: floor of the height term
  latencyFilterSize: number;  // 3: median filter per peer
  gravityRho: number;         // 150: pulls coordinates back towards the origin
}

export const DEFAULT_VIVALDI: Readonly<VivaldiConfig> = Object.freeze({
  dimensionality: 8,
  errorMax: 1.5,
  ce: 0.25,
  cc: 0.25,
  adjustmentWindow: 20,
  heightMin: 10.0e-6,
  latencyFilterSize: 3,
  gravityRho: 150.0,
});

const ZERO_THRESHOLD = 1.0e-6;
/** RTTs above this are refused as bogus (serf: 10 s). */
export const MAX_RTT_SECONDS = 10;

export function newCoordinate(cfg: VivaldiConfig = DEFAULT_VIVALDI): Coordinate {
  return { vec: new Array<number>(cfg.dimensionality).fill(0), error: cfg.errorMax, adjustment: 0, height: cfg.heightMin };
}

export function cloneCoordinate(c: Coordinate): Coordinate {
  return { vec: c.vec.slice(), error: c.error, adjustment: c.adjustment, height: c.height };
}

function finite(x: number): boolean { return Number.isFinite(x); }

export function isValidCoordinate(c: Coordinate): boolean {
  return c.vec.every(finite) && finite(c.error) && finite(c.adjustment) && finite(c.height);
}

export function isCompatible(a: Coordinate, b: Coordinate): boolean {
  return a.vec.length === b.vec.length;
}

function magnitude(v: number[]): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

function diff(a: number[], b: number[]): number[] { return a.map((x, i) => x - b[i]!); }

/** Distance ignoring the adjustment terms, in seconds. */
export function rawDistance(a: Coordinate, b: Coordinate): number {
  return magnitude(diff(a.vec, b.vec)) + a.height + b.height;
}

/** Estimated RTT between two coordinates, in seconds. */
export function distance(a: Coordinate, b: Coordinate): number {
  const d = rawDistance(a, b);
  const adjusted = d + a.adjustment + b.adjustment;
  return adjusted > 0 ? adjusted : d;
}

/** Unit vector from b towards a (random direction when they coincide), and the distance between them. */
function unitVectorAt(a: number[], b: number[], random: () => number): { unit: number[]; mag: number } {
  const d = diff(a, b);
  const mag = magnitude(d);
  if (mag > ZERO_THRESHOLD) return { unit: d.map((x) => x / mag), mag };
  const r = d.map(() => random() - 0.5);
  const rm = magnitude(r);
  if (rm > ZERO_THRESHOLD) return { unit: r.map((x) => x / rm), mag: 0 };
  const u = new Array<number>(a.length).fill(0);
  u[0] = 1;
  return { unit: u, mag: 0 };
}

function applyForce(cfg: VivaldiConfig, c: Coordinate, force: number, other: Coordinate, random: () => number): Coordinate {
  const out = cloneCoordinate(c);
  const { unit, mag } = unitVectorAt(c.vec, other.vec, random);
  out.vec = out.vec.map((x, i) => x + unit[i]! * force);
  if (mag > ZERO_THRESHOLD) {
    out.height = ((out.height + other.height) * force) / mag + out.height;
    out.height = Math.max(out.height, cfg.heightMin);
  }
  return out;
}

/**
 * Our own coordinate and the per-peer latency filters. Bounded: the filter map
 * holds at most `maxPeers` entries (oldest forgotten first, counted by `onEvict`).
 */
export class VivaldiClient {
  private coord: Coordinate;
  private readonly origin: Coordinate;
  private readonly adjustmentSamples: number[];
  private adjustmentIndex = 0;
  private readonly latencySamples = new Map<string, number[]>();
  private resets = 0;

  constructor(
    private readonly cfg: VivaldiConfig = DEFAULT_VIVALDI,
    private readonly maxPeers = 512,
    private readonly random: () => number = Math.random,
    private readonly onEvict: () => void = () => {},
  ) {
    this.coord = newCoordinate(cfg);
    this.origin = newCoordinate(cfg);
    this.adjustmentSamples = new Array<number>(cfg.adjustmentWindow).fill(0);
  }

  getCoordinate(): Coordinate { return cloneCoordinate(this.coord); }

  /** Number of times the coordinate became invalid (NaN/Inf) and was reset. */
  get resetCount(): number { return this.resets; }

  forgetNode(node: string): void { this.latencySamples.delete(node); }

  private latencyFilter(node: string, rtt: number): number {
    let samples = this.latencySamples.get(node);
    if (!samples) {
      samples = [];
      while (this.latencySamples.size >= this.maxPeers) {
        this.latencySamples.delete(this.latencySamples.keys().next().value as string);
        this.onEvict();
      }
      this.latencySamples.set(node, samples);
    }
    samples.push(rtt);
    if (samples.length > this.cfg.latencyFilterSize) samples.shift();
    const sorted = samples.slice().sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }

  private updateVivaldi(other: Coordinate, rtt: number): void {
    const dist = distance(this.coord, other);
    if (rtt < ZERO_THRESHOLD) rtt = ZERO_THRESHOLD;
    const wrongness = Math.abs(dist - rtt) / rtt;
    let totalError = this.coord.error + other.error;
    if (totalError < ZERO_THRESHOLD) totalError = ZERO_THRESHOLD;
    const weight = this.coord.error / totalError;
    this.coord.error = this.cfg.ce * weight * wrongness + this.coord.error * (1 - this.cfg.ce * weight);
    if (this.coord.error > this.cfg.errorMax) this.coord.error = this.cfg.errorMax;
    const force = this.cfg.cc * weight * (rtt - dist);
    this.coord = applyForce(this.cfg, this.coord, force, other, this.random);
  }

  private updateAdjustment(other: Coordinate, rtt: number): void {
    const n = this.cfg.adjustmentWindow;
    if (n === 0) return;
    this.adjustmentSamples[this.adjustmentIndex] = rtt - rawDistance(this.coord, other);
    this.adjustmentIndex = (this.adjustmentIndex + 1) % n;
    let sum = 0;
    for (const s of this.adjustmentSamples) sum += s;
    this.coord.adjustment = sum / (2 * n);
  }

  private updateGravity(): void {
    const dist = distance(this.origin, this.coord);
    const force = -1 * Math.pow(dist / this.cfg.gravityRho, 2);
    this.coord = applyForce(this.cfg, this.coord, force, this.origin, this.random);
  }

  /**
   * Applies one RTT observation to `node` whose coordinate is `other`.
   * Returns our new coordinate, or null (nothing changed) for an incompatible
   * or invalid coordinate or an RTT outside (0, 10 s].
   */
  update(node: string, other: Coordinate, rttMs: number): Coordinate | null {
    if (!isCompatible(this.coord, other) || !isValidCoordinate(other)) return null;
    const rttSeconds = rttMs / 1000;
    if (!(rttSeconds > 0) || rttSeconds > MAX_RTT_SECONDS) return null;
    const filtered = this.latencyFilter(node, rttSeconds);
    this.updateVivaldi(other, filtered);
    this.updateAdjustment(other, filtered);
    this.updateGravity();
    if (!isValidCoordinate(this.coord)) {
      this.resets++;
      this.coord = newCoordinate(this.cfg);
    }
    return this.getCoordinate();
  }
}
