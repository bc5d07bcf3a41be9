// The one way tests wait for something: poll a probe until it yields a value,
// bounded in time and in count. Tests never assert on elapsed time (a shared
// 2-core machine is slow at random); they wait for a condition, generously.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Found<T> = Exclude<T, undefined | null | false>;

/**
 * Calls `probe` every `everyMs` until it returns something other than
 * undefined, null or false, and returns that. A probe that throws is tried
 * again (the agent may not be up yet); the last error is named if time runs out.
 */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<Found<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i <= Math.ceil(timeoutMs / everyMs) + 1; i++) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v as Found<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) break;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last instanceof Error ? last.message : String(last)})` : ''}`);
}
