// The swarm: many light gossip members in ONE process, each with its own UDP
// socket and TCP listener on its own loopback address 127.x.y.z (Linux routes
// all of 127.0.0.0/8 to lo). Toward the agents under test every member behaves
// like a real serf member on the wire: it answers pings (with serf's ack payload),
// indirect pings (pinging the target itself and forwarding the ack, or a nack),
// TCP pings and push/pulls (replying with the FULL member list it knows plus a
// serf push/pull user state), refutes suspicion about itself, and announces itself
// with an alive message. It also probes the agents it knows and push/pulls with
// them on memberlist's schedule, so the agent sees the load of a real federation.
//
// How members differ from real ones (documented in bench/README.md): they never
// probe each other (that traffic would only load this process, not the agent),
// they do not suspect the agents, do not gossip other nodes' messages onward and
// do not run serf's event/query machinery (serf user messages are counted, not
// processed) - except, with the `remote` option, remote-control queries, which
// they re-gossip and answer through agent/remote's executor (remote.ts).
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../agent/obs/log.ts';
import type { Counters } from '../../agent/obs/counters.ts';
import {
  SERF_VSN, STATE, MAX_STREAM_BYTES, type NodeState, type IndirectPing, decodePacket, encodeAck, encodeAlive, encodeNack, encodePing,
  encodePushPull, encodeSerfPushPullState, encodeTags, gossipPacket, parseStream, serfAckPayload,
} from './codec.ts';
import { memberAddress, ipBytes, ipString } from './addresses.ts';
import { SwarmRemote, type SwarmRemoteOptions } from './remote.ts';

export interface SwarmOptions {
  /** Second octet of the first member address (127.<base>.0.1); members take consecutive addresses. */
  baseOctet: number;
  /** Port every member binds (UDP and TCP) on its own address. */
  port: number;
  /** Member names are `<prefix>-<index>`. */
  namePrefix: string;
  /** Agents to join (host:port); the first reachable one receives the join push/pull. */
  seeds: { host: string; port: number }[];
  /** Tags announced by every member (serf protocol >= 3 Meta). */
  tags?: Record<string, string>;
  /** Probe of each known agent, like memberlist's ProbeInterval (ms). */
  probeIntervalMs?: number;
  /** Base push/pull interval toward the agents (memberlist PushPullInterval, scaled by cluster size). */
  pushPullIntervalMs?: number;
  /** Alive announcements sent per second when members are added (bounded burst); 0 = none (members known by push/pull only). */
  aliveRatePerSec?: number;
  /** Upper bound on members (sockets: 2 file descriptors per member). */
  maxMembers?: number;
  /**
   * Members (the first ones) that get a TCP listener. When the descriptor limit
   * cannot fit two sockets per member, the rest are UDP-only: a push/pull or TCP
   * ping an agent starts toward one of them is refused, as with a member whose
   * TCP port is unreachable. Default: every member.
   */
  maxTcpListeners?: number;
  /** Members answer remote-control queries through agent/remote's executor (remote.ts). */
  remote?: SwarmRemoteOptions;
  log: Logger;
  counters: Counters;
}

interface Member {
  index: number;
  name: string;
  addr: string;
  addrBytes: Uint8Array;
  incarnation: number;
  udp: dgram.Socket;
  tcp: net.Server | null;
}

interface PendingIndirect {
  replyTo: { addr: string; port: number };
  via: Member;
  origSeq: number;
  nack: boolean;
  timer: NodeJS.Timeout;
}

/** memberlist's push/pull interval scaling for clusters larger than 32 (§2.12). */
export function pushPullScale(n: number): number {
  if (n <= 32) return 1;
  return Math.ceil(Math.log2(n) - Math.log2(32)) + 1;
}

/** memberlist TCPTimeout (LAN): bound on one stream exchange. */
const TCP_TIMEOUT_MS = 10_000;
/** memberlist ProbeTimeout (LAN): how long an indirect probe waits before a nack. */
const PROBE_TIMEOUT_MS = 500;
/** Concurrent outstanding indirect probes (each holds a timer); beyond, requests are counted and dropped. */
const MAX_PENDING_INDIRECT = 4096;
/** Known non-swarm nodes (the agents and anything they report); beyond, new ones are counted and ignored. */
const MAX_EXTERNAL_NODES = 100_000;
/** Default member cap: 2 descriptors each, so 20,000 members need a 40k+ descriptor limit. */
const DEFAULT_MAX_MEMBERS = 20_000;

export class Swarm {
  readonly members: Member[] = [];
  private readonly byName = new Map<string, Member>();
  /** Nodes that are not swarm members (the agents under test and what they report), by name. */
  readonly external = new Map<string, NodeState>();
  private readonly pendingIndirect = new Map<number, PendingIndirect>();
  private readonly pendingProbes = new Map<number, number>(); // seq -> sent time
  private readonly meta: Uint8Array;
  private readonly ackPayload = serfAckPayload();
  private seq = 1;
  private serfClock = 1;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private aliveQueue: Member[] = [];
  private readonly probeIntervalMs: number;
  private readonly pushPullIntervalMs: number;
  private readonly aliveRatePerSec: number;
  private readonly maxMembers: number;
  private nextPushPullAt = 0;
  private readonly remote: SwarmRemote | null;

  constructor(private readonly o: SwarmOptions) {
    this.meta = encodeTags(o.tags ?? { role: 'swarm' });
    this.probeIntervalMs = o.probeIntervalMs ?? 1000;
    this.pushPullIntervalMs = o.pushPullIntervalMs ?? 30_000;
    this.aliveRatePerSec = o.aliveRatePerSec ?? 2000;
    this.maxMembers = o.maxMembers ?? DEFAULT_MAX_MEMBERS;
    this.remote = o.remote ? new SwarmRemote(o.remote, {
      members: () => this.members, tags: o.tags ?? { role: 'swarm' }, port: o.port, counters: o.counters,
      send: (from, buf, addr, port) => this.send(from as Member, buf, addr, port),
    }) : null;
  }

  /** Starts the periodic probe / push-pull / alive pacing loops (and remote control, when on). */
  async start(): Promise<void> {
    await this.remote?.start();
    this.timers.push(setInterval(() => this.probeRound(), this.probeIntervalMs));
    this.timers.push(setInterval(() => this.pushPullRound(), 1000));
    // Alive announcements are paced in 100 ms slices.
    if (this.aliveRatePerSec > 0) this.timers.push(setInterval(() => this.drainAlive(Math.max(1, Math.round(this.aliveRatePerSec / 10))), 100));
    this.nextPushPullAt = Date.now() + Math.random() * this.pushPullIntervalMs;
  }

  /** Grows the swarm to `total` members (binding sockets in batches), then joins the seeds. Returns members added. */
  async grow(total: number): Promise<number> {
    const target = Math.min(total, this.maxMembers);
    if (target < total) this.o.counters.inc('swarm.drop.member_cap', total - target);
    const added: Member[] = [];
    const BATCH = 256;
    while (this.members.length < target && !this.stopped) {
      const batch: Promise<Member>[] = [];
      for (let i = 0; i < BATCH && this.members.length + batch.length < target; i++) {
        batch.push(this.createMember(this.members.length + batch.length));
      }
      const made = await Promise.all(batch);
      for (const m of made) { this.members.push(m); this.byName.set(m.name, m); added.push(m); }
    }
    if (this.aliveRatePerSec > 0) this.aliveQueue.push(...added);
    if (added.length > 0) await this.joinSeeds(added[0]!);
    return added.length;
  }

  stats(): Record<string, number> {
    return {
      members: this.members.length,
      external: this.external.size,
      pendingIndirect: this.pendingIndirect.size,
      aliveQueued: this.aliveQueue.length,
      ...(this.remote?.stats() ?? {}),
      ...this.o.counters.snapshot('swarm.'),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.remote?.stop();
    for (const p of this.pendingIndirect.values()) clearTimeout(p.timer);
    this.pendingIndirect.clear();
    await Promise.all(this.members.map((m) => new Promise<void>((resolve) => {
      try { m.udp.close(); } catch { /* already closed */ }
      if (m.tcp) m.tcp.close(() => resolve()); else resolve();
    })));
  }

  // --- members ----------------------------------------------------------------

  private async createMember(index: number): Promise<Member> {
    const addr = memberAddress(this.o.baseOctet, index);
    const udp = dgram.createSocket({ type: 'udp4', recvBufferSize: 256 * 1024 });
    const tcp = index < (this.o.maxTcpListeners ?? Infinity) ? net.createServer({ pauseOnConnect: false }) : null;
    const m: Member = { index, name: `${this.o.namePrefix}-${index}`, addr, addrBytes: ipBytes(addr), incarnation: 1, udp, tcp };
    udp.on('message', (buf, rinfo) => this.onPacket(m, buf, rinfo));
    udp.on('error', (e) => { this.o.counters.inc('swarm.udp.error'); this.o.log.debug(`${m.name} udp: ${e.message}`); });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.o.port, addr, () => { udp.off('error', reject); resolve(); });
    });
    if (!tcp) {
      this.o.counters.inc('swarm.member.udp_only');
      return m;
    }
    tcp.on('connection', (sock) => this.onStream(m, sock));
    tcp.on('error', (e) => { this.o.counters.inc('swarm.tcp.error'); this.o.log.warn(`${m.name} tcp: ${e.message}`); });
    tcp.maxConnections = 8;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ port: this.o.port, host: addr, backlog: 16 }, () => { tcp.off('error', reject); resolve(); });
    });
    return m;
  }

  private state(m: Member): NodeState {
    return { name: m.name, addr: m.addrBytes, port: this.o.port, incarnation: m.incarnation, meta: this.meta, state: STATE.alive, vsn: SERF_VSN };
  }

  /** The full member list this swarm knows: its members plus every external node. */
  private allStates(): NodeState[] {
    const out: NodeState[] = this.members.map((m) => this.state(m));
    for (const n of this.external.values()) out.push(n);
    return out;
  }

  private pushPullPayload(join: boolean): Uint8Array {
    const states = this.allStates();
    const user = encodeSerfPushPullState(this.serfClock, states.map((s) => s.name));
    return encodePushPull(join, states, user);
  }

  private send(m: Member, buf: Uint8Array, addr: string, port: number): void {
    if (this.stopped) return;
    m.udp.send(buf, port, addr, (err) => { if (err) this.o.counters.inc('swarm.udp.send_error'); });
    this.o.counters.inc('swarm.udp.sent');
  }

  private randomMember(): Member | undefined {
    return this.members[Math.floor(Math.random() * this.members.length)];
  }

  private agents(): NodeState[] {
    return [...this.external.values()].filter((n) => n.state === STATE.alive || n.state === STATE.suspect);
  }

  // --- UDP --------------------------------------------------------------------

  private onPacket(m: Member, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    this.o.counters.inc('swarm.udp.received');
    const { messages, errors } = decodePacket(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    if (errors > 0) this.o.counters.inc('swarm.udp.decode_error', errors);
    for (const msg of messages) {
      switch (msg.type) {
        case 'ping': {
          if (msg.node && msg.node !== m.name) { this.o.counters.inc('swarm.ping.wrong_node'); break; }
          const to = msg.sourceAddr && msg.sourceAddr.length && msg.sourcePort ? { addr: ipString(msg.sourceAddr), port: msg.sourcePort } : { addr: rinfo.address, port: rinfo.port };
          this.send(m, encodeAck(msg.seqNo, this.ackPayload), to.addr, to.port);
          this.o.counters.inc('swarm.ping.answered');
          break;
        }
        case 'indirectPing': this.onIndirect(m, msg, rinfo); break;
        case 'ack': this.onAck(msg.seqNo); break;
        case 'nack': this.o.counters.inc('swarm.nack.received'); break;
        case 'alive': this.learn({ name: msg.node, addr: msg.addr, port: msg.port, incarnation: msg.incarnation, meta: msg.meta, state: STATE.alive, vsn: msg.vsn }); break;
        case 'suspect':
        case 'dead': this.onAccusation(msg.node, msg.incarnation, msg.type === 'dead', msg.from, rinfo); break;
        case 'user': this.o.counters.inc('swarm.serf.user_msg'); this.remote?.onUserMessage(m, msg.payload); break;
        default: this.o.counters.inc('swarm.udp.other_type');
      }
    }
  }

  private onIndirect(m: Member, p: IndirectPing, rinfo: dgram.RemoteInfo): void {
    this.o.counters.inc('swarm.indirect.received');
    const replyTo = p.sourceAddr && p.sourceAddr.length && p.sourcePort ? { addr: ipString(p.sourceAddr), port: p.sourcePort } : { addr: rinfo.address, port: rinfo.port };
    if (this.pendingIndirect.size >= MAX_PENDING_INDIRECT) { this.o.counters.inc('swarm.drop.indirect_pending'); return; }
    // Probe the target for real (it may be another swarm member or an agent) and forward the outcome.
    const seq = this.seq++;
    const timer = setTimeout(() => {
      const pend = this.pendingIndirect.get(seq);
      if (!pend) return;
      this.pendingIndirect.delete(seq);
      this.o.counters.inc('swarm.indirect.timeout');
      if (pend.nack) this.send(pend.via, encodeNack(pend.origSeq), pend.replyTo.addr, pend.replyTo.port);
    }, PROBE_TIMEOUT_MS);
    this.pendingIndirect.set(seq, { replyTo, via: m, origSeq: p.seqNo, nack: p.nack, timer });
    this.send(m, encodePing({ seqNo: seq, node: p.node, sourceAddr: m.addrBytes, sourcePort: this.o.port, sourceNode: m.name }), ipString(p.target), p.port);
  }

  private onAck(seqNo: number): void {
    const pend = this.pendingIndirect.get(seqNo);
    if (pend) {
      clearTimeout(pend.timer);
      this.pendingIndirect.delete(seqNo);
      // Forwarded acks carry no payload (memberlist sends ackResp{SeqNo, nil}).
      this.send(pend.via, encodeAck(pend.origSeq, null), pend.replyTo.addr, pend.replyTo.port);
      this.o.counters.inc('swarm.indirect.forwarded');
      return;
    }
    if (this.pendingProbes.delete(seqNo)) this.o.counters.inc('swarm.probe.acked');
    else this.o.counters.inc('swarm.ack.unexpected');
  }

  /** Suspicion or death of one of our members: refute like memberlist does (incarnation above the accusation). */
  private onAccusation(node: string, incarnation: number, dead: boolean, from: string, rinfo: dgram.RemoteInfo): void {
    const m = this.byName.get(node);
    if (!m) {
      const ext = this.external.get(node);
      if (ext && incarnation >= ext.incarnation) {
        ext.state = dead ? (from === node ? STATE.left : STATE.dead) : STATE.suspect;
        ext.incarnation = incarnation;
      }
      return;
    }
    if (incarnation < m.incarnation) return;
    m.incarnation = incarnation + 1;
    this.o.counters.inc(dead ? 'swarm.refute.dead' : 'swarm.refute.suspect');
    const alive = gossipPacket([encodeAlive(this.state(m))]);
    this.send(m, alive, rinfo.address, rinfo.port);
    for (const a of this.agents()) {
      const addr = ipString(a.addr);
      if (addr !== rinfo.address || a.port !== rinfo.port) this.send(m, alive, addr, a.port);
    }
  }

  /** Records a node that is not a swarm member (an agent under test, or one it reports). */
  private learn(n: NodeState): void {
    if (this.byName.has(n.name)) return;
    const known = this.external.get(n.name);
    if (!known) {
      if (this.external.size >= MAX_EXTERNAL_NODES) { this.o.counters.inc('swarm.drop.external_cap'); return; }
      this.external.set(n.name, { ...n, state: n.state === STATE.suspect ? STATE.alive : n.state });
      this.o.log.debug(`learned ${n.name} ${ipString(n.addr)}:${n.port}`);
      return;
    }
    if (n.incarnation > known.incarnation || (n.incarnation === known.incarnation && n.state === STATE.alive && known.state !== STATE.alive && known.state !== STATE.suspect)) {
      Object.assign(known, n, { state: n.state === STATE.suspect ? STATE.alive : n.state });
    }
  }

  // --- periodic work ------------------------------------------------------------

  /** Each agent gets one ping per probe interval from a random member (what a real federation's round-robin probing averages to). */
  private probeRound(): void {
    if (this.stopped || this.members.length === 0) return;
    const now = Date.now();
    for (const [seq, sent] of this.pendingProbes) {
      if (now - sent > this.probeIntervalMs * 5) { this.pendingProbes.delete(seq); this.o.counters.inc('swarm.probe.timeout'); }
    }
    for (const a of this.agents()) {
      const m = this.randomMember()!;
      const seq = this.seq++;
      this.pendingProbes.set(seq, now);
      this.send(m, encodePing({ seqNo: seq, node: a.name, sourceAddr: m.addrBytes, sourcePort: this.o.port, sourceNode: m.name }), ipString(a.addr), a.port);
      this.o.counters.inc('swarm.probe.sent');
    }
  }

  private pushPullRound(): void {
    if (this.stopped || this.members.length === 0 || Date.now() < this.nextPushPullAt) return;
    const n = this.members.length + this.external.size;
    this.nextPushPullAt = Date.now() + this.pushPullIntervalMs * pushPullScale(n);
    for (const a of this.agents()) {
      void this.pushPull(this.randomMember()!, ipString(a.addr), a.port, false).catch((e: Error) => {
        this.o.counters.inc('swarm.pushpull.error');
        this.o.log.debug(`push/pull with ${a.name}: ${e.message}`);
      });
    }
  }

  private drainAlive(budget: number): void {
    if (this.stopped || this.aliveQueue.length === 0) return;
    const targets = this.o.seeds.map((s) => ({ addr: s.host, port: s.port }));
    for (const a of this.agents()) {
      const addr = ipString(a.addr);
      if (!targets.some((t) => t.addr === addr && t.port === a.port)) targets.push({ addr, port: a.port });
    }
    const batch = this.aliveQueue.splice(0, budget);
    for (const m of batch) {
      // As memberlist gossips: CRC-wrapped (peers have PMax 5), compound of one.
      const pkt = gossipPacket([encodeAlive(this.state(m))]);
      for (const t of targets) this.send(m, pkt, t.addr, t.port);
      this.o.counters.inc('swarm.alive.sent');
    }
  }

  /** One push/pull (Join=false) from a random member with every known agent, now. Returns how many succeeded. */
  async pushPullNow(): Promise<number> {
    let ok = 0;
    await Promise.all(this.agents().map(async (a) => {
      const m = this.randomMember();
      if (!m) return;
      try { await this.pushPull(m, ipString(a.addr), a.port, false); ok++; } catch (e) {
        this.o.counters.inc('swarm.pushpull.error');
        this.o.log.warn(`push/pull with ${a.name}: ${(e as Error).message}`);
      }
    }));
    return ok;
  }

  private async joinSeeds(via: Member): Promise<void> {
    for (const s of this.o.seeds) {
      try {
        await this.pushPull(via, s.host, s.port, true);
        this.o.counters.inc('swarm.join.ok');
        return;
      } catch (e) {
        this.o.counters.inc('swarm.join.error');
        this.o.log.warn(`join ${s.host}:${s.port} via ${via.name}: ${(e as Error).message}`);
      }
    }
  }

  /** One push/pull as initiator from member `m`: send our full state, read and merge the reply. */
  pushPull(m: Member, host: string, port: number, join: boolean): Promise<number> {
    const payload = this.pushPullPayload(join);
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, localAddress: m.addr });
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (err: Error | null, n = 0): void => {
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err); else resolve(n);
      };
      const timer = setTimeout(() => done(new Error('push/pull timed out')), TCP_TIMEOUT_MS);
      sock.on('connect', () => { sock.write(payload); this.o.counters.inc('swarm.pushpull.sent'); });
      sock.on('error', (e) => done(e));
      // Each arrival re-reads the reply so far, one read at a time.
      let reading: Promise<void> = Promise.resolve();
      let finished = false;
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        size += d.length;
        if (size > MAX_STREAM_BYTES) { finished = true; return done(new Error('push/pull reply too large')); }
        reading = reading.then(async () => {
          if (finished) return;
          try {
            const r = await parseStream(new Uint8Array(Buffer.concat(chunks, size)));
            if (r === null) return;
            finished = true;
            if (r.type === 'err') return done(new Error(`remote error: ${r.error}`));
            if (r.type !== 'pushPull') return done(new Error(`unexpected reply ${r.type}`));
            for (const n of r.nodes) this.learn(n);
            this.o.counters.inc('swarm.pushpull.ok');
            done(null, r.nodes.length);
          } catch (e) {
            finished = true;
            done(e as Error);
          }
        });
      });
      sock.on('end', () => done(new Error('connection closed before a complete reply')));
    });
  }

  // --- TCP ----------------------------------------------------------------------

  private onStream(m: Member, sock: net.Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let answered = false;
    const timer = setTimeout(() => { this.o.counters.inc('swarm.tcp.timeout'); sock.destroy(); }, TCP_TIMEOUT_MS);
    sock.on('error', () => { this.o.counters.inc('swarm.tcp.conn_error'); });
    sock.on('close', () => clearTimeout(timer));
    // Each arrival re-reads the request so far, one read at a time.
    let reading: Promise<void> = Promise.resolve();
    const attempt = async (): Promise<void> => {
      if (answered) return;
      let req;
      try {
        req = await parseStream(new Uint8Array(Buffer.concat(chunks, size)));
      } catch {
        answered = true;
        this.o.counters.inc('swarm.tcp.decode_error');
        sock.destroy();
        return;
      }
      if (req === null) return;
      answered = true;
      if (req.type === 'pushPull') {
        for (const n of req.nodes) this.learn(n);
        this.o.counters.inc(req.join ? 'swarm.pushpull.join_served' : 'swarm.pushpull.served');
        sock.end(this.pushPullPayload(req.join));
      } else if (req.type === 'ping') {
        this.o.counters.inc('swarm.tcp.ping_answered');
        sock.end(encodeAck(req.seqNo, null));
      } else {
        this.o.counters.inc('swarm.tcp.other_type');
        sock.destroy();
      }
    };
    sock.on('data', (d: Buffer) => {
      if (answered) return;
      chunks.push(d);
      size += d.length;
      if (size > MAX_STREAM_BYTES) { answered = true; this.o.counters.inc('swarm.drop.stream_too_large'); sock.destroy(); return; }
      reading = reading.then(attempt);
    });
  }
}
