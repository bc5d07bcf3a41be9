// De-duplication buffers for user events and queries (SERF-PROTOCOL.md §3.7, §3.9).
//
// Serf keeps a ring of `size` slots indexed by LTime mod size. A slot holds the
// LTime it describes and what was seen at that LTime (events: name+payload,
// queries: IDs). A slot describing another LTime is simply overwritten, which is
// how old entries age out; anything older than `clock - size` is refused.

export interface BufferedEvent { name: string; payload: Uint8Array }
export interface EventSlot { ltime: number; events: BufferedEvent[] }

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `ltime` falls outside the window kept by a buffer of `size` slots at clock `now`. */
export function tooOld(ltime: number, now: number, size: number): boolean {
  return now > size && ltime < now - size;
}

// Unlike serf, a slot holds at most `perSlot` entries: distinct events (or
// query IDs) that share one LTime would otherwise grow a slot without bound
// (and its scan quadratically) under a flood; beyond it they are refused and
// `onFull` is called so the drop is counted.
export class EventBuffer {
  private readonly slots: (EventSlot | null)[];
  constructor(readonly size: number, readonly perSlot = Number.POSITIVE_INFINITY, private readonly onFull: () => void = () => {}) {
    this.slots = new Array<EventSlot | null>(size).fill(null);
  }

  /** Records an event; returns false when it was already seen (a duplicate) or its slot is full. */
  add(ltime: number, ev: BufferedEvent): boolean {
    const idx = ltime % this.size;
    let slot = this.slots[idx] ?? null;
    if (slot && slot.ltime === ltime) {
      for (const prev of slot.events) {
        if (prev.name === ev.name && sameBytes(prev.payload, ev.payload)) return false;
      }
      if (slot.events.length >= this.perSlot) { this.onFull(); return false; }
    } else {
      slot = { ltime, events: [] };
      this.slots[idx] = slot;
    }
    slot.events.push({ name: ev.name, payload: ev.payload });
    return true;
  }

  /** All slots in index order (null = empty), as sent in push/pull `Events`. */
  snapshot(): (EventSlot | null)[] {
    return this.slots.map((s) => (s ? { ltime: s.ltime, events: s.events.slice() } : null));
  }
}

export class QueryBuffer {
  private readonly slots: ({ ltime: number; ids: number[] } | null)[];
  constructor(readonly size: number, readonly perSlot = Number.POSITIVE_INFINITY, private readonly onFull: () => void = () => {}) {
    this.slots = new Array(size).fill(null);
  }

  /** Records a query; returns false when (ltime, id) was already seen or its slot is full. */
  add(ltime: number, id: number): boolean {
    const idx = ltime % this.size;
    const slot = this.slots[idx];
    if (slot && slot.ltime === ltime) {
      if (slot.ids.includes(id)) return false;
      if (slot.ids.length >= this.perSlot) { this.onFull(); return false; }
      slot.ids.push(id);
      return true;
    }
    this.slots[idx] = { ltime, ids: [id] };
    return true;
  }
}
