// Remote control in the swarm: members answer `cloudy-remote` serf queries
// through the REAL receiving side of agent/remote (RemoteExecutor: envelope
// decode, version, target/tag filter, trust, Ed25519 signature, role from a
// command registry, sliding-window replay check, rate limit, write-ahead
// sequence store (in memory here), signed answer, large answers over TCP
// back to the requester). Only what a command prints is the swarm's own: a
// member's `status` is a few lines about it, not a whole agent's `info`.
//
// Queries reach every member the way serf spreads them: a member that sees a
// query for the first time re-gossips it (memberlist's retransmit budget:
// `rounds` gossip intervals, `fanout` random members each), so the fan-out
// time includes the epidemic spread, not a shortcut.
//
// Bounded memory: one executor per member, made on the first query that
// targets it (an Ed25519 node key, a replay window per operator key, a
// token bucket, an 8-record audit ring); queries remembered for de-duplication
// are capped (`maxQueries`, one bit per member each); the re-gossip queue is
// capped (`maxQueued`, more is counted and dropped).
import { generateKeyPairSync } from 'node:crypto';
import type { Counters } from '../../agent/obs/counters.ts';
import { decodeFilter, decodeSerfMessage, encodeSerfMessage, type SerfMessage } from '../../agent/gossip/wire/serf-messages.ts';
import { encodeMessage } from '../../agent/gossip/wire/memberlist-messages.ts';
import { filtersMatch } from '../../agent/gossip/serf/filters.ts';
import { CommandRegistry, defineCommand } from '../../agent/commands/registry.ts';
import { serfCommands } from '../../agent/commands/serf-commands.ts';
import { MemoryFile } from '../../agent/state/atomic-file.ts';
import { REMOTE_QUERY_NAME } from '../../agent/remote/envelope.ts';
import { RemoteExecutor, type RemoteCommand } from '../../agent/remote/executor.ts';
import { registryNameOf } from '../../agent/remote/commands.ts';
import { TrustStore } from '../../agent/remote/trust.ts';
import { SequenceStore } from '../../agent/remote/sequence-store.ts';
import { RateLimiter } from '../../agent/remote/rate-limit.ts';
import { AuditLog } from '../../agent/remote/audit.ts';
import { rawPublicKey } from '../../agent/remote/keys.ts';
import { pushLargeAnswer } from '../../agent/remote/large-answer.ts';
import { responseBudget } from '../../agent/remote/plugin.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { gossipPacket } from './codec.ts';
import { ipString } from './addresses.ts';

export interface SwarmRemoteOptions {
  /** `KEY[@role]` operator keys every member trusts (as -trust-operator). */
  trustSpecs: string[];
  fanout?: number;
  rounds?: number;
  gossipIntervalMs?: number;
  maxQueries?: number;
  maxQueued?: number;
}

export interface RemoteMember { index: number; name: string; addr: string }

export interface SwarmRemoteDeps {
  members: () => readonly RemoteMember[];
  tags: Record<string, string>;
  port: number;
  send(from: RemoteMember, buf: Uint8Array, addr: string, port: number): void;
  counters: Counters;
}

const QUERY_TYPE = 4; // serf messageQueryType: the first byte of a query

export class SwarmRemote {
  private trust: TrustStore | null = null;
  private readonly registry = new CommandRegistry();
  private readonly executors = new Map<number, Promise<RemoteExecutor>>();
  private readonly seen = new Map<string, Uint8Array>();
  private queue: { from: RemoteMember; packet: Uint8Array; left: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly limits = defaultLimits('edge');

  constructor(private readonly o: SwarmRemoteOptions, private readonly d: SwarmRemoteDeps) {
    // The roles come from a registry, as on a node: `status` amounts to `info` (viewer); serf's verbs are
    // declared as the agent declares them (commands/serf-commands.ts), their handlers never run here.
    this.registry.register(defineCommand({ name: 'info', summary: 'member facts', role: 'viewer', args: {}, handler: async () => null }));
    const unsupported = async (): Promise<never> => { throw new Error('not on a swarm member'); };
    for (const c of serfCommands({ serf: { members: () => [], join: unsupported, leave: unsupported, localMember: () => { throw new Error('not on a swarm member'); } }, setTags: unsupported })) this.registry.register(c);
  }

  async start(): Promise<void> {
    this.trust = await TrustStore.load(this.o.trustSpecs, null);
    this.timer = setInterval(() => this.gossipRound(), this.o.gossipIntervalMs ?? 200);
  }

  stop(): void { if (this.timer) clearInterval(this.timer); this.timer = null; }

  stats(): Record<string, number> {
    return { remote_executors: this.executors.size, remote_queries_tracked: this.seen.size, remote_gossip_queued: this.queue.length };
  }

  /** A serf user message received by member `m`. */
  onUserMessage(m: RemoteMember, payload: Uint8Array): void {
    if (payload[0] !== QUERY_TYPE) return;
    let msg: SerfMessage;
    try { msg = decodeSerfMessage(payload); } catch { this.d.counters.inc('swarm.remote.decode_error'); return; }
    if (msg.type !== 'query') return;
    const key = `${msg.ltime}:${msg.id}:${msg.sourceNode}`;
    let bits = this.seen.get(key);
    if (!bits) {
      if (this.seen.size >= (this.o.maxQueries ?? 64)) this.seen.delete(this.seen.keys().next().value!);
      bits = new Uint8Array(Math.ceil(Math.max(1, this.d.members().length) / 8) + 1);
      this.seen.set(key, bits);
    }
    const byte = m.index >> 3, bit = 1 << (m.index & 7);
    if (byte >= bits.length || bits[byte]! & bit) return;
    bits[byte]! |= bit;
    this.d.counters.inc('swarm.remote.query_seen');
    // Serf relays every new query (relay factor aside): gossip it on.
    if (this.queue.length < (this.o.maxQueued ?? 100_000)) this.queue.push({ from: m, packet: gossipPacket([encodeMessage({ type: 'user', payload })]), left: this.o.rounds ?? 4 });
    else this.d.counters.inc('swarm.remote.gossip_dropped');
    let filters;
    try { filters = msg.filters.map(decodeFilter).map((f) => (f.kind === 'node' ? { type: 'node' as const, nodes: f.names } : { type: 'tag' as const, tag: f.tag, expr: f.expr })); } catch { this.d.counters.inc('swarm.remote.decode_error'); return; }
    if (!filtersMatch(filters, m.name, this.d.tags) || msg.name !== REMOTE_QUERY_NAME) return;
    void this.answer(m, msg).catch(() => this.d.counters.inc('swarm.remote.answer_error'));
  }

  private gossipRound(): void {
    const members = this.d.members();
    if (members.length < 2 || this.queue.length === 0) return;
    const now = this.queue;
    this.queue = [];
    for (const q of now) {
      for (let i = 0; i < (this.o.fanout ?? 3); i++) {
        const to = members[Math.floor(Math.random() * members.length)]!;
        if (to.index !== q.from.index) this.d.send(q.from, q.packet, to.addr, this.d.port);
      }
      if (--q.left > 0) this.queue.push(q);
    }
  }

  private executorFor(m: RemoteMember): Promise<RemoteExecutor> {
    let e = this.executors.get(m.index);
    if (!e) {
      e = (async () => {
        const kp = generateKeyPairSync('ed25519');
        const status: RemoteCommand = {
          name: 'status', registryName: (args) => registryNameOf('status', args),
          run: async () => ({ exit: 0, stdout: `agent:\n\tname = ${m.name}\n\tmode = swarm\nserf:\n\tmembers = ${this.d.members().length}\n`, stderr: '' }),
        };
        // Offered, with the agent's argument checks and registry roles; a swarm member does not act on them.
        const noop = (name: string): RemoteCommand => ({ name, registryName: (args) => registryNameOf(name, args), run: async () => ({ exit: 1, stdout: '', stderr: `${name}: not on a swarm member\n` }) });
        return new RemoteExecutor({
          nodeName: m.name, tags: () => this.d.tags, nodeKey: { privateKey: kp.privateKey, raw: rawPublicKey(kp.publicKey) },
          trust: this.trust!, sequences: await SequenceStore.load(new MemoryFile(), this.limits.remoteReplayWindow),
          rate: new RateLimiter({ burst: this.limits.remoteRateBurst, perMinute: this.limits.remoteRatePerMinute }),
          audit: new AuditLog(8), counters: this.d.counters, commands: new Map([['status', status], ...['members', 'join', 'leave', 'tags'].map((n) => [n, noop(n)] as const)]),
          roleOf: (n) => this.registry.roleOf(n), maxAnswerBytes: this.limits.remoteAnswerMaxBytes, maxConcurrent: this.limits.remoteConcurrent,
        });
      })();
      this.executors.set(m.index, e);
    }
    return e;
  }

  private async answer(m: RemoteMember, q: Extract<SerfMessage, { type: 'query' }>): Promise<void> {
    const ex = await this.executorFor(m);
    const outcome = await ex.handle(q.payload, q.sourceNode);
    const reply = ex.reply(outcome, responseBudget(1024, m.name));
    const resp = encodeSerfMessage({ type: 'queryResponse', ltime: q.ltime, id: q.id, from: m.name, flags: 0, payload: reply.inline });
    this.d.send(m, gossipPacket([encodeMessage({ type: 'user', payload: resp })]), ipString(q.addr), q.port);
    this.d.counters.inc(`swarm.remote.answered.${outcome.status}`);
    if (reply.large && outcome.command?.reply) await pushLargeAnswer(outcome.command.reply, reply.large, 10_000);
  }
}
