// Serf's mDNS peer discovery, the pure part (SERF-PROTOCOL.md §5; hashicorp/mdns
// 1.0.3 as Debian's serf 0.9.4 uses it):
//   service   _serf_<NAME>._tcp.local.
//   instance  <node name>._serf_<NAME>._tcp.local.   host  <os hostname>.
//   a PTR question for the service is answered with PTR + SRV (priority 10,
//   weight 1, gossip port, target = host) + A/AAAA (host) + TXT "Serf '<NAME>' cluster",
//   all TTL 120; an instance question with SRV/TXT/ANY gets those records.
// The collector mirrors hashicorp/mdns's client: an entry is complete with an
// address, a port and a TXT record; an SRV whose target differs from its name
// aliases the target to the same entry (so the host's A record lands there).
import {
  canonicalName, emptyMessage, CLASS_IN, CLASS_TOP_BIT, TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_PTR, TYPE_SRV, TYPE_TXT,
  type DnsMessage, type DnsQuestion, type DnsRecord,
} from './dns-message.ts';

/** hashicorp/mdns defaultTTL (wire-visible). */
export const MDNS_TTL = 120;
export const MDNS_PORT = 5353;
export const MDNS_GROUP_V4 = '224.0.0.251';

export function serviceName(discover: string): string {
  return `_serf_${discover}._tcp.local.`;
}

export function txtInfo(discover: string): string {
  return `Serf '${discover}' cluster`;
}

export interface ZoneParams {
  discover: string;
  nodeName: string;
  /** OS host name (without a trailing dot). */
  hostname: string;
  /** Advertised gossip address (IPv4 or IPv6) and port. */
  addr: string;
  port: number;
}

/** DNS labels hold at most 63 bytes: longer node-name pieces are cut (the name is informative only). */
function dnsSafe(name: string): string {
  return name.replace(/\.+$/, '').split('.').map((l) => (l === '' ? '-' : Buffer.from(l).subarray(0, 63).toString())).join('.');
}

export class SerfZone {
  readonly service: string;
  readonly instance: string;
  readonly host: string;
  constructor(readonly p: ZoneParams) {
    this.service = serviceName(p.discover);
    this.instance = `${dnsSafe(p.nodeName)}.${this.service}`;
    this.host = `${dnsSafe(p.hostname)}.`;
  }

  private addrRecords(): DnsRecord[] {
    return this.p.addr.includes(':')
      ? [{ name: this.host, type: TYPE_AAAA, cls: CLASS_IN, ttl: MDNS_TTL, address: this.p.addr }]
      : [{ name: this.host, type: TYPE_A, cls: CLASS_IN, ttl: MDNS_TTL, address: this.p.addr }];
  }

  private instanceRecords(type: number): DnsRecord[] {
    const srv: DnsRecord = { name: this.instance, type: TYPE_SRV, cls: CLASS_IN, ttl: MDNS_TTL, priority: 10, weight: 1, port: this.p.port, target: this.host };
    const txt: DnsRecord = { name: this.instance, type: TYPE_TXT, cls: CLASS_IN, ttl: MDNS_TTL, txt: [txtInfo(this.p.discover)] };
    if (type === TYPE_SRV) return [srv, ...this.addrRecords()];
    if (type === TYPE_TXT) return [txt];
    if (type === TYPE_ANY) return [srv, ...this.addrRecords(), txt];
    return [];
  }

  /** Records answering one question (empty when it is not about us). */
  records(q: DnsQuestion): DnsRecord[] {
    const name = canonicalName(q.name);
    if (name === canonicalName(this.service) && (q.type === TYPE_PTR || q.type === TYPE_ANY)) {
      return [{ name: this.service, type: TYPE_PTR, cls: CLASS_IN, ttl: MDNS_TTL, ptr: this.instance }, ...this.instanceRecords(TYPE_ANY)];
    }
    if (name === canonicalName(this.instance)) return this.instanceRecords(q.type);
    return [];
  }

  /**
   * The response to a received message, or null (not a plain query, or not about us).
   * Like hashicorp/mdns: opcode and rcode must be 0; id 0 unless a question asked for
   * a unicast answer (QU bit); the caller sends it back to the querier's address.
   */
  answer(query: DnsMessage): DnsMessage | null {
    if (query.response || query.opcode !== 0 || query.rcode !== 0) return null;
    const answers: DnsRecord[] = [];
    let unicast = false;
    for (const q of query.questions) {
      const r = this.records(q);
      if (r.length && (q.cls & CLASS_TOP_BIT)) unicast = true;
      answers.push(...r);
    }
    if (!answers.length) return null;
    return emptyMessage({ id: unicast ? query.id : 0, response: true, authoritative: true, answers });
  }
}

/** The PTR question serf's poll sends (RD clear, QU clear, random id). */
export function pollQuery(discover: string, id: number): DnsMessage {
  return emptyMessage({ id, questions: [{ name: serviceName(discover), type: TYPE_PTR, cls: CLASS_IN }] });
}

export interface ServiceEntry {
  name: string;
  host: string;
  addrV4: string | null;
  addrV6: string | null;
  port: number;
  info: string;
}

interface Progress extends ServiceEntry { hasTxt: boolean; sent: boolean }

/** Collects the records of one poll into complete service entries (hashicorp/mdns client.query). */
export class EntryCollector {
  private readonly inProgress = new Map<string, Progress>();
  private ensure(name: string): Progress {
    const k = canonicalName(name);
    let e = this.inProgress.get(k);
    if (!e) {
      e = { name, host: '', addrV4: null, addrV6: null, port: 0, info: '', hasTxt: false, sent: false };
      this.inProgress.set(k, e);
    }
    return e;
  }

  /** Feeds one received message; returns entries that became complete now. */
  add(m: DnsMessage): ServiceEntry[] {
    const done: ServiceEntry[] = [];
    for (const r of [...m.answers, ...m.additionals]) {
      let e: Progress;
      if ('ptr' in r) e = this.ensure(r.ptr);
      else if ('target' in r) {
        e = this.ensure(r.name);
        if (canonicalName(r.target) !== canonicalName(r.name)) this.inProgress.set(canonicalName(r.target), e);
        e.host = r.target;
        e.port = r.port;
      } else if ('txt' in r) { e = this.ensure(r.name); e.info = r.txt.join('|'); e.hasTxt = true; }
      else if ('address' in r) { e = this.ensure(r.name); if (r.type === TYPE_A) e.addrV4 = r.address; else e.addrV6 = r.address; }
      else continue;
      if (!e.sent && (e.addrV4 !== null || e.addrV6 !== null) && e.port !== 0 && e.hasTxt) {
        e.sent = true;
        const { hasTxt: _h, sent: _s, ...entry } = e;
        done.push(entry);
      }
    }
    return done;
  }
}

/** `ip:port` as Go's net.TCPAddr prints it (IPv6 in brackets). */
export function joinAddress(e: ServiceEntry): string {
  return e.addrV4 !== null ? `${e.addrV4}:${e.port}` : `[${e.addrV6}]:${e.port}`;
}
