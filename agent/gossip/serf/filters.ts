// Query filters (SERF-PROTOCOL.md §3.9): a node filter lists the names that
// must process the query; a tag filter is an UNANCHORED regular expression
// (Go RE2) matched against one tag value (a missing tag matches as ""). All
// filters must pass; an unknown or undecodable filter means "do not process".
//
// RE2 vs JavaScript: the common syntax (classes, alternation, anchors, repeats)
// is the same; JS has extras RE2 lacks (backreferences, lookaround) which would
// only make a pattern serf rejects work here. RE2's (?i) style flags are mapped
// when they lead the pattern. Compiled patterns are cached (bounded).

export type QueryFilter =
  | { type: 'node'; nodes: string[] }
  | { type: 'tag'; tag: string; expr: string };

const MAX_CACHED_PATTERNS = 256;
const cache = new Map<string, RegExp | null>();

export function compileRe2(expr: string): RegExp | null {
  if (cache.has(expr)) return cache.get(expr)!;
  // RE2 named groups (?P<name>...) are (?<name>...) in JavaScript; \z (end of text) is $ without the m flag.
  let src = expr.replace(/\(\?P</g, '(?<').replace(/\\z/g, '$');
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]!) if (f === 'i' || f === 'm' || f === 's') flags += f;
    src = src.slice(lead[0].length);
  }
  let re: RegExp | null;
  try { re = new RegExp(src, flags + 'u'); } catch {
    try { re = new RegExp(src, flags); } catch { re = null; }
  }
  if (cache.size >= MAX_CACHED_PATTERNS) cache.delete(cache.keys().next().value as string);
  cache.set(expr, re);
  return re;
}

/** Whether a node called `name` with `tags` must process a query with these filters. */
export function filtersMatch(filters: readonly QueryFilter[], name: string, tags: Record<string, string>): boolean {
  for (const f of filters) {
    if (f.type === 'node') {
      if (!f.nodes.includes(name)) return false;
    } else {
      const re = compileRe2(f.expr);
      if (!re) return false;
      if (!re.test(tags[f.tag] ?? '')) return false;
    }
  }
  return true;
}
