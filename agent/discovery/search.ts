// `avahi-ps search` over serf (CLOUDY-FACTS §1.4): the records of every alive
// member (self included), each prefixed with "node_id": <member name>, as one
// JSON array on one line. Unlike avahi-ps, the [type] [host] filters work.
// A member whose tag does not decode is skipped and counted, never fatal.
import type { Counters } from '../obs/counters.ts';
import type { Member } from '../gossip/serf/types.ts';
import { decodeServicesTag, RECORD_KEYS, RECORD_LABELS, SERVICES_TAG, type DecodedRecord } from './codec.ts';
import { CLOUDY_HOST_SUFFIX } from './record.ts';

export interface SearchEntry extends DecodedRecord {
  node_id: string;
}

export interface SearchFilter {
  /** Exact service type (`s`). */
  type?: string;
  /** Host as announced (`x.guifi.local`), its short form (`x`), the IP, or the member name. */
  host?: string;
}

type DecodeResult = { ok: true; records: DecodedRecord[]; skipped: number } | { ok: false; error: string };

/**
 * Decodes `services` tags with a bounded cache keyed by the tag text: tags
 * change rarely and decoding bzip2 costs a few MB of buffers, so a search or a
 * stats sample over hundreds of members decodes each distinct value once.
 */
export class ServicesTagDecoder {
  private readonly cache = new Map<string, DecodeResult>();

  constructor(
    private readonly opts: { counters: Counters; maxDecodedBytes: number; cacheEntries: number },
  ) {}

  decode(value: string): DecodeResult {
    const hit = this.cache.get(value);
    if (hit) {
      this.cache.delete(value); // LRU: move to the back
      this.cache.set(value, hit);
      return hit;
    }
    let res: DecodeResult;
    try {
      const skipped = { records: 0 };
      res = { ok: true, records: decodeServicesTag(value, this.opts.maxDecodedBytes, skipped), skipped: skipped.records };
      if (skipped.records > 0) this.opts.counters.inc('discovery.record_skipped', skipped.records);
    } catch (e) {
      this.opts.counters.inc('discovery.tag_decode_error');
      res = { ok: false, error: (e as Error).message };
    }
    if (this.opts.cacheEntries > 0) {
      if (this.cache.size >= this.opts.cacheEntries) {
        this.cache.delete(this.cache.keys().next().value!);
        this.opts.counters.inc('evict.discovery_decode_cache');
      }
      this.cache.set(value, res);
    }
    return res;
  }
}

export interface SearchResult {
  entries: SearchEntry[];
  /** Alive members whose tag could not be decoded (skipped). */
  undecodable: string[];
  /** Records skipped inside otherwise readable tags (poisoned by another node's tool). */
  skippedRecords: number;
}

/** Alive members first-to-last as given; self is expected among `members`. */
export function searchServices(members: readonly Member[], decoder: ServicesTagDecoder, filter: SearchFilter = {}): SearchResult {
  const entries: SearchEntry[] = [];
  const undecodable: string[] = [];
  let skippedRecords = 0;
  for (const m of members) {
    if (m.status !== 'alive') continue;
    const value = m.tags[SERVICES_TAG];
    if (value === undefined) continue;
    const res = decoder.decode(value);
    if (!res.ok) {
      undecodable.push(m.name);
      continue;
    }
    skippedRecords += res.skipped;
    for (const r of res.records) {
      if (filter.type !== undefined && filter.type !== '' && r.s !== filter.type) continue;
      if (filter.host !== undefined && filter.host !== '' && !hostMatches(filter.host, r, m.name)) continue;
      entries.push({ node_id: m.name, ...r });
    }
  }
  return { entries, undecodable, skippedRecords };
}

function hostMatches(host: string, r: DecodedRecord, nodeId: string): boolean {
  const h = host.toLowerCase();
  const m = r.m.toLowerCase();
  return h === m || (m.endsWith(CLOUDY_HOST_SUFFIX) && h === m.slice(0, -CLOUDY_HOST_SUFFIX.length)) || h === r.i || host === nodeId;
}

/** avahi-ps output: `[{"node_id":…,"s":…,"d":…,"m":…,"i":…,"p":…,"e":…,"t":…},…]` on one line (no newline). */
export function formatSearchJson(entries: readonly SearchEntry[]): string {
  return '[' + entries.map(entryJson).join(',') + ']';
}

function entryJson(e: SearchEntry): string {
  const parts = [`"node_id":${JSON.stringify(e.node_id)}`];
  for (const k of RECORD_KEYS) parts.push(`${JSON.stringify(k)}:${JSON.stringify(e[k])}`);
  for (const [k, v] of Object.entries(e.extra ?? {})) {
    if (k !== 'node_id') parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  }
  return '{' + parts.join(',') + '}';
}

/**
 * A readable table grouped by type, like the Cloudy GUI's tabs (Description/Host/IP/Port/µcloud).
 * With `rttMs` (parallel to entries, null = unknown) an RTT column is added and
 * types keep the entries' order (nearest first when sorted by RTT).
 */
export function formatSearchTable(entries: readonly SearchEntry[], rttMs?: readonly (number | null)[]): string {
  if (entries.length === 0) return 'No services found.\n';
  const byType = new Map<string, number[]>();
  entries.forEach((e, i) => {
    const list = byType.get(e.s);
    if (list) list.push(i);
    else byType.set(e.s, [i]);
  });
  const cols = ['d', 'm', 'i', 'p', 'e', 't'] as const;
  const header = cols.map((c) => RECORD_LABELS[c].toUpperCase());
  if (rttMs) header.push('RTT');
  header.push('NODE');
  let out = '';
  for (const type of [...byType.keys()].sort((a, b) => a.localeCompare(b))) {
    const list = byType.get(type)!;
    const rows = list.map((i) => {
      const e = entries[i]!;
      const r: string[] = cols.map((c) => e[c]);
      if (rttMs) { const v = rttMs[i]; r.push(v === null || v === undefined ? '?' : `${v.toFixed(1)}ms`); }
      r.push(e.node_id);
      return r;
    });
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]): string => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
    out += `${out ? '\n' : ''}${type} (${list.length})\n`;
    out += '  ' + line(header) + '\n';
    for (const r of rows) out += '  ' + line(r) + '\n';
  }
  return out;
}
