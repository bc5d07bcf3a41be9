// Test helpers for discovery (the serf stand-ins are in test/support/fakes.ts).

/** Resolves with the error `fn` rejects with; throws when it resolves. */
export async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
