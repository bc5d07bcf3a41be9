// `-discover NAME`: serf's mDNS peer discovery over UDP (IPv4), wire-compatible
// with `serf agent -discover NAME` (hashicorp/mdns 1.0.3):
//   responder  listens on 0.0.0.0:5353 (shared, SO_REUSEADDR) in 224.0.0.251 on every
//              IPv4 interface and answers questions about our service/instance to the
//              querier's address (as hashicorp/mdns does, whatever the QU bit);
//   poller     at start and every mdnsPollIntervalMs sends the service PTR question to
//              224.0.0.251:5353 from an ephemeral port on each IPv4 interface, collects
//              answers for 1 s, and joins every new complete entry after 100 ms of quiet.
// Unlike serf, an address whose join failed is tried again at the next poll.
// The multicast route matters: with no route covering 224.0.0.251 (no default route)
// the kernel refuses to send; we pin the interface per send so that does not bite.
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Logger } from '../../obs/log.ts';
import { errorMessage } from '../../errors.ts';
import { decodeMessage, encodeMessage } from './dns-message.ts';
import { EntryCollector, joinAddress, pollQuery, SerfZone, MDNS_GROUP_V4, MDNS_PORT, type ZoneParams } from './serf-zone.ts';

/** serf's agent/mdns.go timings (wire-visible behaviour). */
export const MDNS_COLLECT_MS = 1000;
export const MDNS_QUIET_MS = 100;

export interface MdnsDiscoveryOptions {
  discover: string;
  /** Current zone parameters (the advertised address can change, e.g. after DHCP). */
  zone: () => ZoneParams;
  join: (addrs: string[]) => Promise<number>;
  logger: Logger;
  pollIntervalMs: number;
  entriesPerPoll: number;
  /** Only this interface (serf's -iface); default every non-loopback IPv4 interface. */
  iface?: string;
  /** Test hook: the IPv4 interface addresses to use (default os.networkInterfaces()). */
  interfaceAddrs?: () => string[];
}

export function ipv4InterfaceAddrs(iface?: string): string[] {
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (iface !== undefined && name !== iface) continue;
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out;
}

export class MdnsDiscovery {
  private responder: dgram.Socket | null = null;
  private readonly joinedGroups = new Set<string>();
  private readonly seen = new Set<string>();
  private pollTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly log: Logger;
  polls = 0;
  answered = 0;

  constructor(private readonly o: MdnsDiscoveryOptions) {
    this.log = o.logger.child('mdns');
  }

  private addrs(): string[] {
    return this.o.interfaceAddrs ? this.o.interfaceAddrs() : ipv4InterfaceAddrs(this.o.iface);
  }

  async start(): Promise<void> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    s.on('error', (e) => this.log.warn(`responder: ${errorMessage(e)}`));
    s.on('message', (buf, rinfo) => this.onQuery(buf, rinfo));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ port: MDNS_PORT, address: '0.0.0.0', exclusive: false }, () => { s.off('error', reject); resolve(); });
    });
    s.setMulticastLoopback(true);
    this.responder = s;
    this.joinGroups();
    this.log.info(`discovering peers by mDNS as _serf_${this.o.discover}._tcp`);
    this.schedule(0);
  }

  /** Joins 224.0.0.251 on interfaces that appeared since the last call (DHCP may come late). */
  private joinGroups(): void {
    if (!this.responder) return;
    for (const a of this.addrs()) {
      if (this.joinedGroups.has(a)) continue;
      try { this.responder.addMembership(MDNS_GROUP_V4, a); this.joinedGroups.add(a); } catch (e) {
        this.log.debug(`multicast membership on ${a}: ${errorMessage(e)}`);
      }
    }
  }

  private onQuery(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    let reply: Buffer | null = null;
    try {
      const q = decodeMessage(buf);
      if (q.response) return;
      const r = new SerfZone(this.o.zone()).answer(q);
      if (r) reply = encodeMessage(r);
    } catch {
      return; // LAN garbage: not ours to answer
    }
    if (reply && this.responder) {
      this.answered++;
      this.responder.send(reply, rinfo.port, rinfo.address, (e) => { if (e) this.log.debug(`answer to ${rinfo.address}: ${errorMessage(e)}`); });
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => { void this.pollOnce().finally(() => this.schedule(this.o.pollIntervalMs)); }, ms);
  }

  /** One poll: question out on each interface, answers for 1 s, joins after 100 ms of quiet. */
  async pollOnce(): Promise<number> {
    this.polls++;
    this.joinGroups();
    const z = this.o.zone();
    const self = `${z.addr}:${z.port}`;
    const collector = new EntryCollector();
    const pending: string[] = [];
    let joined = 0;
    let quiet: NodeJS.Timeout | null = null;
    let joining: Promise<void> = Promise.resolve();
    const flush = () => {
      quiet = null;
      const batch = pending.splice(0);
      if (!batch.length) return;
      joining = joining.then(async () => {
        try {
          const n = await this.o.join(batch);
          if (n > 0) { this.log.info(`joined ${n} host(s) found by mDNS: ${batch.join(', ')}`); joined += n; for (const a of batch) this.seen.add(a); }
        } catch (e) {
          this.log.warn(`failed to join ${batch.join(', ')}: ${errorMessage(e)}`);
        }
      });
    };
    const sock = dgram.createSocket({ type: 'udp4' });
    let entries = 0;
    sock.on('error', (e) => this.log.debug(`poll socket: ${errorMessage(e)}`));
    sock.on('message', (buf) => {
      let found;
      try { found = collector.add(decodeMessage(buf)); } catch { return; }
      for (const e of found) {
        const a = joinAddress(e);
        if (a === self || this.seen.has(a) || pending.includes(a) || entries >= this.o.entriesPerPoll) continue;
        entries++;
        pending.push(a);
        if (quiet) clearTimeout(quiet);
        quiet = setTimeout(flush, MDNS_QUIET_MS);
      }
    });
    try {
      await new Promise<void>((resolve) => sock.bind(0, '0.0.0.0', () => resolve()));
      const q = encodeMessage(pollQuery(this.o.discover, Math.floor(Math.random() * 0x10000)));
      const addrs = this.addrs();
      for (const a of addrs.length ? addrs : [null]) {
        try {
          if (a !== null) sock.setMulticastInterface(a);
          await new Promise<void>((resolve) => sock.send(q, MDNS_PORT, MDNS_GROUP_V4, (e) => {
            if (e) this.log.debug(`poll via ${a ?? 'default'}: ${errorMessage(e)}`);
            resolve();
          }));
        } catch (e) {
          this.log.debug(`poll via ${a ?? 'default'}: ${errorMessage(e)}`);
        }
      }
      await new Promise((r) => setTimeout(r, MDNS_COLLECT_MS));
    } finally {
      sock.close();
    }
    if (quiet) { clearTimeout(quiet); flush(); }
    await joining;
    return joined;
  }

  stop(): void {
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.responder?.close();
    this.responder = null;
  }

  stats(): Record<string, string> {
    return { discover: this.o.discover, polls: String(this.polls), answered: String(this.answered), joined_addresses: String(this.seen.size) };
  }
}
