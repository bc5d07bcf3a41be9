// Lamport clock as serf uses it (SERF-PROTOCOL.md §3.4). Three independent
// instances per node: member (join/leave intents), user events, queries.
// Values stay below 2^53; a uint64 LTime from the wire beyond that is clamped by
// the decoder, which is far beyond anything a real cluster reaches.

export class LamportClock {
  private counter = 0;

  time(): number { return this.counter; }

  /** Advances the clock and returns the new value. */
  increment(): number { return ++this.counter; }

  /** Another node talked about time `v`: make sure our next value is after it. */
  witness(v: number): void {
    if (v >= this.counter) this.counter = v + 1;
  }
}
