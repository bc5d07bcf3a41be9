// Serf's event filter syntax, shared by RPC `stream` and event handlers:
// a comma-separated list of `member-join`, `member-leave`, `member-failed`,
// `member-update`, `member-reap`, `user`, `user:NAME`, `query`, `query:NAME`
// or `*`; the empty string means `*` (serf agent/event_handler.go semantics).
import type { SerfEvent } from './types.ts';

export interface EventFilter {
  /** `*`, `user`, `query` or a member event type. */
  event: string;
  /** user/query name to match exactly ('' = any). */
  name: string;
}

const VALID_EVENTS = new Set([
  'member-join', 'member-leave', 'member-failed', 'member-update', 'member-reap', 'user', 'query', '*',
]);

export function parseEventFilters(spec: string): EventFilter[] {
  const v = spec === '' ? '*' : spec;
  return v.split(',').map((part) => {
    if (part.startsWith('user:')) return { event: 'user', name: part.slice(5) };
    if (part.startsWith('query:')) return { event: 'query', name: part.slice(6) };
    return { event: part, name: '' };
  });
}

export function isValidFilter(f: EventFilter): boolean {
  return VALID_EVENTS.has(f.event);
}

export function filterMatches(f: EventFilter, e: SerfEvent): boolean {
  if (f.event === '*') return true;
  if (e.type !== f.event) return false;
  if (f.name === '') return true;
  if (e.type === 'user') return e.name === f.name;
  if (e.type === 'query') return e.query.name === f.name;
  return true;
}

export function anyFilterMatches(filters: readonly EventFilter[], e: SerfEvent): boolean {
  return filters.some((f) => filterMatches(f, e));
}

/** Serf's stats key of a handler filter: `<event>:<name>`. */
export function filterKey(f: EventFilter): string {
  return `${f.event}:${f.name}`;
}
