// Round-trip time estimates from serf's Vivaldi coordinates, so a service
// search can put the nearest providers first (the Cloudy papers' open question
// of choosing services a few hops away). Shared by `search -sort rtt`, the API
// and the GUI. A node without a coordinate sorts last.
import type { Coordinate } from '../gossip/serf/types.ts';
import { distance, isCompatible } from '../gossip/coordinate/vivaldi.ts';
import type { SearchEntry } from './search.ts';

export type RttOf = (node: string) => number | null;

/** Estimated RTT in ms from this node to `node` (0 for itself), or null without compatible coordinates. */
export function rttEstimator(getCoordinate: (node?: string) => Coordinate | null, self: string): RttOf {
  const mine = getCoordinate();
  return (node) => {
    if (node === self) return 0;
    const other = getCoordinate(node);
    if (!mine || !other || !isCompatible(mine, other)) return null;
    return Math.round(distance(mine, other) * 1e5) / 100;
  };
}

export type SearchSort = 'none' | 'rtt' | 'name';

export function parseSearchSort(s: string): SearchSort | undefined {
  return s === '' || s === 'none' ? 'none' : s === 'rtt' || s === 'name' ? s : undefined;
}

/** Stable sort: nearest first (unknown RTT last), or by node name then type. */
export function sortSearchEntries<T extends SearchEntry>(entries: readonly T[], sort: SearchSort, rtt: RttOf): (T & { rtt_ms: number | null })[] {
  const withRtt = entries.map((e) => ({ ...e, rtt_ms: rtt(e.node_id) }));
  if (sort === 'rtt') withRtt.sort((a, b) => (a.rtt_ms === b.rtt_ms ? 0 : a.rtt_ms === null ? 1 : b.rtt_ms === null ? -1 : a.rtt_ms - b.rtt_ms));
  else if (sort === 'name') withRtt.sort((a, b) => a.node_id.localeCompare(b.node_id) || a.s.localeCompare(b.s));
  return withRtt;
}
