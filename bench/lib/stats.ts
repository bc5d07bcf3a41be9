// Small statistics helpers for the bench figures.

/** Nearest-rank percentile (p in 0..100) of a non-empty sample; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a value other than undefined or the deadline passes (then undefined). */
export async function pollUntil<T>(deadlineMs: number, everyMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T | undefined> {
  const end = Date.now() + deadlineMs;
  const maxRounds = Math.ceil(deadlineMs / Math.max(1, everyMs)) + 1;
  for (let i = 0; i < maxRounds && Date.now() <= end; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch { /* not ready yet */ }
    await sleep(everyMs);
  }
  return undefined;
}
