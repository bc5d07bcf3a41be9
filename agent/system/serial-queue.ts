// Runs async operations one at a time, in call order: what the container
// manager, the services announcer and the port forwarder each need so that
// two commands never interleave their steps. A failed operation rejects its
// own caller only; the next one still runs.
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs fn once every operation queued before it has finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every operation queued so far has finished (never rejects). */
  async idle(): Promise<void> {
    await this.tail;
  }
}
