// Read-only routes over the federation, open to the guest view: members (with
// serf members' filters), one member's detail, the services search (discovery)
// sorted by Vivaldi RTT, and the tiered history with CSV/JSON export.
import type { Member, Serf } from '../../gossip/serf/types.ts';
import { SERVICES_TAG, type DecodedRecord } from '../../discovery/codec.ts';
import type { SearchEntry, SearchFilter, ServicesTagDecoder } from '../../discovery/search.ts';
import { parseSearchSort, rttEstimator, type SearchSort } from '../../discovery/rtt.ts';
import { HISTORY_RANGES, seriesToCsv, type TieredHistory } from '../../discovery/history-tiers.ts';
import { badField, optRegExp, reply, type Route } from '../router.ts';
import { HttpError } from '../http-error.ts';

export interface FederationDeps {
  serf: Pick<Serf, 'members' | 'localMember' | 'getCoordinate'>;
  decoder: Pick<ServicesTagDecoder, 'decode'>;
  /** The registry's `search`, sorted there; rtt_ms in ms (null: no coordinate). */
  search(filter: SearchFilter, sort: SearchSort): Promise<{ entries: (SearchEntry & { rtt_ms: number | null })[]; undecodable: string[] }>;
  history: TieredHistory | null;
  now?: () => number;
}

const STATUSES = new Set(['alive', 'leaving', 'left', 'failed', 'none']);

/** Types whose services have a web UI, and how to reach it (CLOUDY-FACTS §2). */
const WEB_UI: Partial<Record<string, (r: DecodedRecord) => string>> = {
  syncthing: (r) => `http://${r.i}:8080/`,
  'tahoe-lafs': (r) => `http://${r.i}:8228/`,
  snpservice: (r) => `http://${r.i}:${r.p}/`,
  owp: (r) => `http://${r.i}:${r.p}/`,
  ipfs: (r) => `http://${r.i}:${r.p}/webui`,
  web: (r) => `http://${r.i}:${r.p}/`,
};

export function webUrlOf(r: DecodedRecord): string | null {
  const f = WEB_UI[r.s];
  return f && /^[0-9.]+$/.test(r.i) ? f(r) : null;
}

function services(d: FederationDeps, m: Member): DecodedRecord[] | null {
  const v = m.tags[SERVICES_TAG];
  if (v === undefined) return [];
  const res = d.decoder.decode(v);
  return res.ok ? res.records : null;
}

function memberView(d: FederationDeps, m: Member, rtt: (n: string) => number | null): Record<string, unknown> {
  const svc = services(d, m);
  return {
    name: m.name, addr: m.addr, port: m.port, status: m.status,
    mode: m.tags.mode === 'full' ? 'full' : 'edge',
    tags: m.tags, rtt_ms: rtt(m.name), services: svc === null ? null : svc.length,
  };
}

/** `tag=key=regexp` (repeatable), like `serf members -tag key=regexp`. */
function tagFilters(q: URLSearchParams): [string, RegExp][] {
  return q.getAll('tag').map((t) => {
    const i = t.indexOf('=');
    if (i <= 0) badField('tag', `expected key=regexp, got ${JSON.stringify(t)}`);
    return [t.slice(0, i), optRegExp(t.slice(i + 1), 'tag') ?? /(?:)/];
  });
}

function intParam(q: URLSearchParams, name: string, dflt: number, max: number): number {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > max) badField(name, `must be an integer 0..${max}`);
  return n;
}

export function federationRoutes(d: FederationDeps): Route[] {
  const now = d.now ?? Date.now;
  const rtt = (): ((n: string) => number | null) => rttEstimator((n) => d.serf.getCoordinate(n), d.serf.localMember().name);
  return [
    {
      method: 'GET', path: '/api/v1/members', role: 'guest',
      handle({ req }) {
        const q = req.query;
        const status = q.get('status') ?? '';
        if (status !== '' && !STATUSES.has(status)) badField('status', `one of ${[...STATUSES].join(', ')}`);
        const name = optRegExp(q.get('name'), 'name');
        const tags = tagFilters(q);
        const limit = intParam(q, 'limit', 100_000, 1_000_000);
        const offset = intParam(q, 'offset', 0, 1_000_000);
        const est = rtt();
        const list = d.serf.members().filter((m) =>
          (status === '' || m.status === status) && (!name || name.test(m.name))
          && tags.every(([k, re]) => m.tags[k] !== undefined && re.test(m.tags[k]!)));
        return { total: list.length, members: list.slice(offset, offset + limit).map((m) => memberView(d, m, est)) };
      },
    },
    {
      method: 'GET', path: '/api/v1/members/:name', role: 'guest',
      handle({ params }) {
        const m = d.serf.members().find((x) => x.name === params.name);
        if (!m) throw new HttpError(404, 'E_NOT_FOUND', `no member named ${JSON.stringify(params.name)}`, {}, 'name');
        const svc = services(d, m);
        return {
          ...memberView(d, m, rtt()),
          protocol: { min: m.protocolMin, max: m.protocolMax, cur: m.protocolCur },
          coordinate: d.serf.getCoordinate(m.name),
          services: svc === null ? null : svc.map((r) => ({ ...r, web_url: webUrlOf(r) })),
          services_undecodable: svc === null,
        };
      },
    },
    {
      method: 'GET', path: '/api/v1/services', role: 'guest',
      async handle({ req }) {
        const q = req.query;
        const sort = parseSearchSort(q.get('sort') ?? 'rtt');
        if (!sort) badField('sort', 'one of rtt, name, none');
        const type = q.get('type') ?? '';
        const host = q.get('host') ?? '';
        if (type.length > 64) badField('type', 'at most 64 characters');
        if (host.length > 256) badField('host', 'at most 256 characters');
        const res = await d.search({ type, host }, sort);
        const entries = res.entries.map((e) => ({ ...e, web_url: webUrlOf(e) }));
        const byType: Record<string, number> = {};
        for (const e of entries) byType[e.s] = (byType[e.s] ?? 0) + 1;
        return { total: entries.length, by_type: byType, services: entries, undecodable: res.undecodable };
      },
    },
    {
      method: 'GET', path: '/api/v1/history', role: 'guest',
      handle({ req }) {
        const range = req.query.get('range') ?? '1d';
        if (!(range in HISTORY_RANGES)) badField('range', `one of ${Object.keys(HISTORY_RANGES).join(', ')}`);
        const format = req.query.get('format') ?? 'json';
        if (format !== 'json' && format !== 'csv') badField('format', 'json or csv');
        if (!d.history) throw new HttpError(404, 'E_NOT_FOUND', 'this node keeps no tiered history (full mode only)');
        const s = d.history.series(range, now());
        if (format === 'csv') {
          return reply({ status: 200, headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="federation-${range}.csv"` }, body: seriesToCsv(s) });
        }
        return s;
      },
    },
  ];
}
