// serf's `-event-handler` specs: `[filter=]script`, where filter is an event
// filter list (see gossip/serf/event-filter.ts); the script runs under `/bin/sh -c`.
// Like serf, the spec is split at its first '='.
import { AgentError } from '../errors.ts';
import { filterKey, isValidFilter, parseEventFilters, type EventFilter } from '../gossip/serf/event-filter.ts';

export interface EventScript {
  filter: EventFilter;
  script: string;
}

export function parseEventScripts(spec: string): EventScript[] {
  const i = spec.indexOf('=');
  const filter = i >= 0 ? spec.slice(0, i) : '';
  const script = i >= 0 ? spec.slice(i + 1) : spec;
  const filters = parseEventFilters(filter);
  for (const f of filters) {
    if (!isValidFilter(f)) throw new AgentError('E_CONFIG', `-event-handler: invalid event filter ${JSON.stringify(f.event)} in ${JSON.stringify(spec)}`);
  }
  if (script.trim() === '') throw new AgentError('E_CONFIG', `-event-handler: empty script in ${JSON.stringify(spec)}`);
  return filters.map((filter) => ({ filter, script }));
}

export function parseAllEventScripts(specs: readonly string[]): EventScript[] {
  return specs.flatMap(parseEventScripts);
}

/** serf's stats `event_handlers` section: "<event>:<name>" -> script. */
export function eventHandlerStats(scripts: readonly EventScript[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of scripts) out[filterKey(s.filter)] = s.script;
  return out;
}
