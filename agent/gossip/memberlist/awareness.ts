// Lifeguard local health ("awareness", memberlist awareness.go): a score in
// 0..max-1 that grows when our own probes fail or we must refute a suspicion,
// and shrinks on successful probes. It stretches our probe interval/deadline so
// a slow or overloaded node does not accuse healthy peers.

export class Awareness {
  private score = 0;
  constructor(private readonly max: number) {}

  applyDelta(delta: number): void {
    this.score = Math.min(this.max - 1, Math.max(0, this.score + delta));
  }

  getHealthScore(): number { return this.score; }

  /** Duration scaled by (score + 1). */
  scaleTimeout(ms: number): number { return ms * (this.score + 1); }
}
