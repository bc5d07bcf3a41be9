// This node: identity, mode, federation size, HTTP address, memory, counters
// and effective limits (what `info`/`stats` show, as JSON).
import type { Serf } from '../../gossip/serf/types.ts';
import type { Counters } from '../../obs/counters.ts';
import type { Limits } from '../../config/limits.ts';
import type { Route } from '../router.ts';

export interface InfoDeps {
  serf: Pick<Serf, 'localMember' | 'members' | 'stats'>;
  counters: Counters;
  limits: Limits;
  mode: string;
  version: string;
  startedAt: number;
  /** Extra stats sections of the plug-ins (discovery, containers). */
  pluginStats?: () => Record<string, Record<string, string>>;
}

export function memoryNow(): Record<string, number> {
  const m = process.memoryUsage();
  return { rss: m.rss, heap_total: m.heapTotal, heap_used: m.heapUsed, external: m.external, array_buffers: m.arrayBuffers };
}

export function infoRoutes(d: InfoDeps): Route[] {
  return [
    {
      method: 'GET', path: '/api/v1/info', role: 'guest',
      handle({ principal }) {
        const self = d.serf.localMember();
        let alive = 0;
        const members = d.serf.members();
        for (const m of members) if (m.status === 'alive') alive++;
        const base = {
          name: self.name, addr: `${self.addr}:${self.port}`, mode: d.mode, version: d.version,
          members: members.length, alive_members: alive, uptime_s: Math.round((Date.now() - d.startedAt) / 1000),
        };
        if (principal?.role === 'guest') return base;
        return { ...base, tags: self.tags, serf: d.serf.stats(), memory: memoryNow(), plugins: d.pluginStats?.() ?? {} };
      },
    },
    { method: 'GET', path: '/api/v1/counters', role: 'viewer', handle: () => d.counters.snapshot() },
    { method: 'GET', path: '/api/v1/limits', role: 'viewer', handle: () => d.limits },
    { method: 'GET', path: '/api/v1/memory', role: 'viewer', handle: () => memoryNow() },
  ];
}
