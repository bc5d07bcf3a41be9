// publish / unpublish / services / search when the agent on the RPC address is
// the real `serf agent` (it answers our discovery verbs with "Unsupported
// command"): the same thing avahi-ps's serf plug does, over serf's standard RPC
// only. The services tag is read from `stats` (serf info), changed, encoded
// with our bzip2 and written back with `tags` (serf tags -set / -delete); the
// whole cluster's services come from `members`. So cloudy-agent's CLI replaces
// avahi-ps on a node that still runs serf (issue 13 point 5).
//
// Like avahi-ps it is a read-modify-write of the tag without a lock: a writer
// racing between our read and our write loses its change, as with avahi-ps.
// Health checks (-check-*) need cloudy-agent's daemon and are refused here.
import { hostname as osHostname } from 'node:os';
import { AgentError, errorMessage } from '../errors.ts';
import type { RpcClient, RpcMember } from '../rpc/client.ts';
import { decodeServicesTag, encodeServicesTag, SERVICES_TAG, type ServiceRecord } from './codec.ts';
import { resolveMicrocloud, type MicrocloudChoice } from './getinconf.ts';
import { toRecord, validateAnnouncement, type NodeFacts } from './record.ts';
import type { ServiceAnnouncement } from './publisher.ts';
import { encodedTagsSize } from './tag-size.ts';

/** serf's memberlist MetaMaxSize: a tag map over this is refused by serf itself. */
const SERF_META_MAX = 512;
/** Cap on a decoded services tag (a tag of a few hundred bytes; bzip2 bombs stop here). */
export const FALLBACK_MAX_DECODED = 64 * 1024;

/** What every line on stderr says in this mode. */
export const SERF_RPC_MODE = 'mode: serf standard RPC - the agent is not cloudy-agent';

/** True when the RPC peer does not know the verb: a real serf agent. */
export function isUnsupportedCommand(e: unknown): boolean {
  return errorMessage(e).includes('Unsupported command');
}

type SerfRpc = Pick<RpcClient, 'stats' | 'members' | 'updateTags'>;

/** This node's records as the services tag holds them now. */
export async function ownRecords(c: SerfRpc): Promise<{ records: ServiceRecord[]; tags: Record<string, string>; name: string }> {
  const stats = await c.stats();
  const tags = { ...(stats.tags ?? {}) };
  const value = tags[SERVICES_TAG] ?? '';
  return { records: value.trim() === '' ? [] : decodeServicesTag(value, FALLBACK_MAX_DECODED), tags, name: stats.agent?.name ?? '' };
}

export interface FallbackFactsOptions {
  /** -microcloud; null: getinconf's file as avahi-ps reads it. */
  microcloud: string | null;
  getinconfFile?: string;
  hostname?: string;
}

/**
 * The facts avahi-ps puts in every record: `uname -n`, the IPv4 serf
 * advertises for this node (its own member entry: the community address on a
 * Cloudy node), getinconf's NETWORK_NAME.
 */
export async function fallbackFacts(c: SerfRpc, self: string, o: FallbackFactsOptions): Promise<{ facts: NodeFacts; microcloud: MicrocloudChoice }> {
  const members: RpcMember[] = await c.members();
  const me = members.find((m) => m.name === self);
  if (!me) throw new AgentError('E_UNAVAILABLE', `serf's members list has no entry for this agent (${self})`);
  const microcloud = await resolveMicrocloud({ configured: o.microcloud, ...(o.getinconfFile ? { file: o.getinconfFile } : {}) });
  return { facts: { hostname: o.hostname ?? osHostname(), communityIp: me.addr, microcloud: microcloud.name }, microcloud };
}

/** Writes the list back: `tags -set services=...`, or `-delete services` when empty (avahi-ps's remMyService). */
async function writeRecords(c: SerfRpc, tags: Record<string, string>, records: ServiceRecord[]): Promise<void> {
  if (records.length === 0) {
    if (tags[SERVICES_TAG] !== undefined) await c.updateTags({}, [SERVICES_TAG]);
    return;
  }
  const value = encodeServicesTag(records);
  const size = encodedTagsSize({ ...tags, [SERVICES_TAG]: value });
  if (size > SERF_META_MAX) {
    throw new AgentError('E_TOO_LARGE', `the tags would take ${size} bytes, serf allows ${SERF_META_MAX} (${records.length} services); nothing changed`, { size });
  }
  await c.updateTags({ [SERVICES_TAG]: value }, []);
}

/** avahi-ps publish: the (type, port) entry replaced or appended. */
export async function publishViaSerf(c: SerfRpc, svc: ServiceAnnouncement, o: FallbackFactsOptions): Promise<{ record: ServiceRecord; microcloud: MicrocloudChoice }> {
  if (svc.check) throw new AgentError('E_UNAVAILABLE', 'health checks (-check-*) need cloudy-agent running; against a real serf agent publish without them');
  validateAnnouncement(svc);
  const { records, tags, name } = await ownRecords(c);
  const { facts, microcloud } = await fallbackFacts(c, name, o);
  const record = toRecord(svc, facts);
  const rest = records.filter((r) => !(r.s === record.s && r.p === record.p));
  await writeRecords(c, tags, [...rest, record]);
  return { record, microcloud };
}

/** avahi-ps unpublish: every (type, port) entry removed; false when there was none. */
export async function unpublishViaSerf(c: SerfRpc, type: string, port: number): Promise<boolean> {
  const { records, tags } = await ownRecords(c);
  const rest = records.filter((r) => !(r.s === type && r.p === String(port)));
  if (rest.length === records.length) return false;
  await writeRecords(c, tags, rest);
  return true;
}
