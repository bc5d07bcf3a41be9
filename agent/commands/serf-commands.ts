// serf's own verbs that remote control offers (members, join, leave, tags),
// declared in the registry so that their role comes from the one place every
// transport reads (registry.roleOf). On serf's RPC the real serf verbs keep
// serf's exact behaviour; these travel as cloudy-members, cloudy-join,
// cloudy-leave, tags-set and tags-delete (rpc-verbs.ts) and are what remote
// control and the HTTP API's /api/v1/commands/NAME call.
import { AgentError } from '../errors.ts';
import type { Serf } from '../gossip/serf/types.ts';
import { defineCommand, type CommandSpec } from './registry.ts';

export interface SerfCommandDeps {
  serf: Pick<Serf, 'members' | 'join' | 'leave' | 'localMember'>;
  /** Replaces this node's tags the way serf's RPC `tags` does (tags file, then gossip). */
  setTags(tags: Record<string, string>): Promise<void>;
}

export function serfCommands(d: SerfCommandDeps): CommandSpec[] {
  return [
    defineCommand({
      name: 'members', summary: 'Members this node knows (serf members)', role: 'viewer', args: {},
      handler: async () => ({
        Members: d.serf.members().map((m) => ({ Name: m.name, Addr: m.addr, Port: m.port, Status: m.status, Tags: new Map(Object.entries(m.tags)) })),
      }),
    }),
    defineCommand({
      name: 'join', summary: 'Joins the cluster through the given addresses (serf join)', role: 'admin',
      args: { Existing: { type: 'string[]', required: true, doc: 'host:port of members' }, Replay: { type: 'bool', doc: 'replay old user events' } },
      handler: async (a) => ({ Num: await d.serf.join(a.Existing, !(a.Replay ?? false)) }),
    }),
    defineCommand({
      name: 'leave', summary: 'Leaves the cluster gracefully (serf leave)', role: 'admin', args: {},
      handler: async () => { await d.serf.leave(); return null; },
    }),
    defineCommand({
      name: 'tags.set', summary: 'Sets tags of this node (serf tags -set)', role: 'admin',
      args: { Tags: { type: 'string[]', required: true, doc: 'KEY=VALUE' } },
      handler: async (a) => {
        const next = { ...d.serf.localMember().tags };
        for (const kv of a.Tags) {
          const eq = kv.indexOf('=');
          if (eq <= 0) throw new AgentError('E_INVALID', `Tags: ${JSON.stringify(kv)} is not KEY=VALUE`, { field: 'Tags' });
          next[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
        await d.setTags(next);
        return null;
      },
    }),
    defineCommand({
      name: 'tags.delete', summary: 'Deletes tags of this node (serf tags -delete)', role: 'admin',
      args: { Keys: { type: 'string[]', required: true, doc: 'tag names' } },
      handler: async (a) => {
        const next = { ...d.serf.localMember().tags };
        for (const k of a.Keys) delete next[k];
        await d.setTags(next);
        return null;
      },
    }),
  ];
}
