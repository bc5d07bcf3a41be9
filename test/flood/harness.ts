// Shared pieces of the flood tests: a small cluster on loopback made of real
// Debian `serf agent`s plus OUR node in-process (edge mode, default limits),
// a memory sampler, a watcher that polls the serf nodes for our status, and a
// raw UDP sender that paces datagrams to our gossip port.
import * as assert from 'uvu/assert';
import { createSocket, type Socket } from 'node:dgram';
import { createSerf, type SerfInstance } from '../../agent/gossip/serf/create.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { exposedGc } from '../../agent/system/memory-governor.ts';
import { encodeMessage } from '../../agent/gossip/wire/memberlist-messages.ts';
import { decodePacket, encodePacket } from '../../agent/gossip/wire/packet.ts';
import { SerfAgent } from '../support/real-serf.ts';
import { HeapPacer } from '../../agent/system/heap-pacer.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { waitFor, sleep } from '../support/wait.ts';

export const MB = 1024 * 1024;

/**
 * Memory budgets of every flood test. The edge limits hold 512 members and
 * 1024-entry queues: nothing may scale with the size of the flood.
 */
export const FLOOD_BUDGET = {
  /** peak heapUsed above the baseline, garbage included */
  heapMB: 48,
  /** heapUsed after a full GC, above the baseline after a full GC */
  retainedMB: 16,
  rssMB: 128,
} as const;

/** Asserts the three memory budgets (throws with the measured figure). */
export function assertWithinBudget(mem: { heapDeltaMB: number; rssDeltaMB: number }, retainedMB: number): void {
  const check = (ok: boolean, what: string, v: number, budget: number) => {
    if (!ok) throw new Error(`${what} grew ${v.toFixed(1)} MB (budget ${budget} MB)`);
  };
  check(mem.heapDeltaMB < FLOOD_BUDGET.heapMB, 'heap', mem.heapDeltaMB, FLOOD_BUDGET.heapMB);
  check(retainedMB < FLOOD_BUDGET.retainedMB, 'retained heap', retainedMB, FLOOD_BUDGET.retainedMB);
  check(mem.rssDeltaMB < FLOOD_BUDGET.rssMB, 'RSS', mem.rssDeltaMB, FLOOD_BUDGET.rssMB);
}

export interface OurNode extends SerfInstance { name: string; counters: Counters }

/** OUR node over the real net transport, edge mode with the default limits. */
export async function startOurs(name: string, ip: string, port: number): Promise<OurNode> {
  const counters = new Counters();
  const logger = process.env.TEST_VERBOSE ? Logger.root({ level: 'INFO' }).child(name) : Logger.silent();
  const inst = await createSerf({
    nodeName: name, bindAddr: ip, bindPort: port, profile: 'lan', protocolVersion: 4, mode: 'edge',
    tags: { role: 'flood-target' }, rejoin: false,
    // As the daemon does in edge mode.
    pace: new HeapPacer({ stepBytes: defaultLimits('edge').memoryPaceStepBytes, counters }).pace,
  }, { logger, counters });
  await inst.start();
  return Object.assign(inst, { name, counters });
}

/** Samples heap and RSS every `everyMs`; peaks are relative to the baseline taken at construction. */
export class MemSampler {
  readonly baseHeap: number;
  readonly baseRss: number;
  peakHeap: number;
  peakRss: number;
  samples = 0;
  private timer: NodeJS.Timeout;

  constructor(everyMs = 250) {
    const m = process.memoryUsage();
    this.baseHeap = m.heapUsed; this.baseRss = m.rss;
    this.peakHeap = m.heapUsed; this.peakRss = m.rss;
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const m = process.memoryUsage();
    this.samples++;
    if (m.heapUsed > this.peakHeap) this.peakHeap = m.heapUsed;
    if (m.rss > this.peakRss) this.peakRss = m.rss;
  }

  stop(): void { clearInterval(this.timer); this.sample(); }

  get heapDeltaMB(): number { return (this.peakHeap - this.baseHeap) / MB; }
  get rssDeltaMB(): number { return (this.peakRss - this.baseRss) / MB; }
}

/** Polls every serf agent once a second (bounded) and records every status it reports for `node`. */
export class StatusWatcher {
  readonly seen = new Map<string, Map<string, number>>(); // agent -> status -> count
  private stopped = false;
  private done: Promise<void>;

  constructor(agents: SerfAgent[], node: string, maxPolls = 600) {
    for (const a of agents) this.seen.set(a.name, new Map());
    this.done = (async () => {
      for (let i = 0; i < maxPolls && !this.stopped; i++) {
        const t0 = Date.now();
        const st = await Promise.all(agents.map((a) => a.statusOf(node)));
        st.forEach((s, k) => { const m = this.seen.get(agents[k]!.name)!; m.set(s, (m.get(s) ?? 0) + 1); });
        await sleep(Math.max(0, 1000 - (Date.now() - t0)));
      }
    })();
  }

  async stop(): Promise<void> { this.stopped = true; await this.done; }

  /** Statuses other than alive (CLI errors under load are reported separately). */
  notAlive(): string[] {
    const out: string[] = [];
    for (const [a, m] of this.seen) for (const [s, n] of m) if (s !== 'alive' && s !== 'error') out.push(`${a}:${s}x${n}`);
    return out;
  }

  summary(): string {
    return [...this.seen].map(([a, m]) => `${a}{${[...m].map(([s, n]) => `${s}:${n}`).join(',')}}`).join(' ');
  }
}

/** A raw UDP socket that sends paced datagrams to one destination. */
export class RawSender {
  private constructor(readonly sock: Socket, readonly ip: string, readonly port: number) {}

  static async open(ip: string, port: number): Promise<RawSender> {
    const sock = createSocket('udp4');
    await new Promise<void>((res, rej) => { sock.once('error', rej); sock.bind(port, ip, () => { sock.off('error', rej); res(); }); });
    sock.on('error', () => {});
    return new RawSender(sock, ip, port);
  }

  send(buf: Uint8Array, toIp: string, toPort: number): Promise<void> {
    return new Promise((res) => this.sock.send(buf, toPort, toIp, () => res()));
  }

  /**
   * Sends `packets` (built lazily by `build(i)`) at `perSecond`, in 10 ms ticks,
   * giving up at `deadlineMs`. Returns how many were sent.
   */
  async paced(packets: number, perSecond: number, deadlineMs: number, toIp: string, toPort: number, build: (i: number) => Uint8Array): Promise<number> {
    const t0 = Date.now();
    let sent = 0;
    for (let tick = 0; sent < packets && tick < 1_000_000 && Date.now() - t0 < deadlineMs; tick++) {
      const due = Math.min(packets, Math.floor(((Date.now() - t0) / 1000) * perSecond) + 1);
      for (; sent < due; sent++) await this.send(build(sent), toIp, toPort);
      await sleep(10);
    }
    return sent;
  }

  close(): void { try { this.sock.close(); } catch { /* already closed */ } }
}

/** Sum of counters whose names start with one of the prefixes. */
export function sumCounters(c: Record<string, number>, prefixes: string[]): number {
  let n = 0;
  for (const [k, v] of Object.entries(c)) if (prefixes.some((p) => k.startsWith(p))) n += v;
  return n;
}

/** A full GC (tests are not started with --expose-gc): lets us measure retained, not transient, heap. */
export function forceGc(): void {
  exposedGc()();
}

/** heapUsed after a full GC. */
export function retainedHeap(): number {
  forceGc();
  return process.memoryUsage().heapUsed;
}

/** Sends one memberlist ping addressed to `node` from the raw socket and waits for the ack (true) or `timeoutMs` (false). */
export async function pingAnswered(s: RawSender, toIp: string, toPort: number, node: string, seqNo: number, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { s.sock.off('message', onMsg); resolve(false); }, timeoutMs);
    const onMsg = (buf: Buffer) => {
      const { messages } = decodePacket(new Uint8Array(buf));
      if (messages.some((m) => m.type === 'ack' && m.seqNo === seqNo)) { clearTimeout(timer); s.sock.off('message', onMsg); resolve(true); }
    };
    s.sock.on('message', onMsg);
    void s.send(encodePacket([encodeMessage({ type: 'ping', seqNo, node })], { compress: false, crc: false }), toIp, toPort);
  });
}

/**
 * The flood tests' cluster: two real serf agents (`<prefix>-s1`, `<prefix>-s2` on
 * 127.0.8.<firstOctet>, .<firstOctet+1>, ports 24000+octet, RPC +100) joined to
 * our node; resolves once all three see three alive members.
 */
export async function startSerfPair(prefix: string, firstOctet: number, ours: OurNode, oursAddr: string, agents: SerfAgent[]): Promise<[SerfAgent, SerfAgent]> {
  const make = (i: number): SerfAgent => new SerfAgent({
    name: `${prefix}-s${i + 1}`, ip: `127.0.8.${firstOctet + i}`, port: 24000 + firstOctet + i, rpcPort: 24100 + firstOctet + i,
    eventHandler: false, logLevel: 'info',
  });
  const s1 = make(0);
  const s2 = make(1);
  agents.push(s1, s2);
  s1.start({ join: [oursAddr] });
  s2.start({ join: [oursAddr, s1.addr] });
  for (const a of [s1, s2]) await waitFor(`${a.name} sees 3 alive`, async () => (await a.aliveCount()) === 3, 30_000);
  await waitFor('ours sees 3 alive', () => ours.serf.members().filter((m) => m.status === 'alive').length === 3, 30_000);
  return [s1, s2];
}

/** No serf node ever reported `node` failed: not in the watcher's polls, not in their logs, and alive now. */
export async function assertNeverFailed(watcher: StatusWatcher, agents: SerfAgent[], node: string): Promise<void> {
  assert.equal(watcher.notAlive(), [], `serf saw us not alive: ${watcher.summary()}`);
  for (const a of agents) {
    assert.equal(a.failedLines(node), [], `${a.name} marked us failed`);
    assert.is(await a.statusOf(node), 'alive', `${a.name}: our status after the flood`);
  }
}
