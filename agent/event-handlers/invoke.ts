// How one event is handed to a handler script, exactly as serf's invoke.go:
// environment variables (SERF_EVENT, SERF_SELF_NAME, SERF_SELF_ROLE,
// SERF_TAG_<NAME>, SERF_USER_EVENT/LTIME, SERF_QUERY_NAME/LTIME) and stdin
// (one `name\taddr\trole\ttags` line per member, or the payload with a
// trailing newline added when missing).
import type { Member, SerfEvent } from '../gossip/serf/types.ts';

/** Tag name -> env suffix: upper case, every char outside [A-Z0-9_] becomes '_'. */
export function tagEnvName(tag: string): string {
  return `SERF_TAG_${tag.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

export function handlerEnv(self: Member, e: SerfEvent): Record<string, string> {
  const env: Record<string, string> = {
    SERF_EVENT: e.type,
    SERF_SELF_NAME: self.name,
    SERF_SELF_ROLE: self.tags.role ?? '',
  };
  for (const [k, v] of Object.entries(self.tags)) env[tagEnvName(k)] = v;
  if (e.type === 'user') {
    env.SERF_USER_EVENT = e.name;
    env.SERF_USER_LTIME = String(e.ltime);
  } else if (e.type === 'query') {
    env.SERF_QUERY_NAME = e.query.name;
    env.SERF_QUERY_LTIME = String(e.query.ltime);
  }
  return env;
}

/** Tabs and newlines escaped so each member stays on one line. */
function clean(v: string): string {
  return v.replace(/\t/g, '\\t').replace(/\n/g, '\\n');
}

export function handlerStdin(e: SerfEvent): Uint8Array {
  if (e.type === 'user' || e.type === 'query') {
    const p = e.type === 'user' ? e.payload : e.query.payload;
    if (p.length > 0 && p[p.length - 1] !== 0x0a) {
      const out = new Uint8Array(p.length + 1);
      out.set(p);
      out[p.length] = 0x0a;
      return out;
    }
    return p;
  }
  const lines = e.members.map((m) => {
    const tags = Object.keys(m.tags).sort().map((k) => `${k}=${m.tags[k]}`).join(',');
    return `${clean(m.name)}\t${m.addr}\t${clean(m.tags.role ?? '')}\t${clean(tags)}\n`;
  });
  return new TextEncoder().encode(lines.join(''));
}
