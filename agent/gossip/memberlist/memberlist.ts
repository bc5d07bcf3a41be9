// The memberlist node: public API (types.ts `Memberlist`) and the three
// periodic loops (probe, gossip, push/pull) over the Core. Byte-compatible with
// hashicorp/memberlist 0.2.2 as used by serf 0.9.4 (SERF-PROTOCOL.md §2).

import { AgentError, errorMessage } from '../../errors.ts';
import type { Addr } from '../transport/types.ts';
import { parseHostPort } from '../../config/address.ts';
import { ipToBytes } from '../wire/memberlist-messages.ts';
import type { TimerHandle } from '../clock.ts';
import { randInt } from './node-table.ts';
import type { MemberlistConfig } from './config.ts';
import { Core } from './core.ts';
import { gossipOnce } from './gossip.ts';
import { publicView } from './node-table.ts';
import { handleGossip, handlePacket } from './packet-handler.ts';
import { nextProbeTarget, probeNode } from './probe.ts';
import { pushPullScale } from './push-pull.ts';
import { aliveNode, deadNode } from './state.ts';
import { pushPullWith, sendUserStream } from './stream-client.ts';
import { handleStream } from './stream-handler.ts';
import type { Memberlist, MemberNode, UdpTarget } from './types.ts';

const USER_MSG = 8;

function isIpLiteral(s: string): boolean {
  try { ipToBytes(s); return true; } catch { return false; }
}

export class MemberlistNode implements Memberlist {
  private readonly core: Core;
  private readonly timers = new Set<TimerHandle>();

  private constructor(cfg: MemberlistConfig) {
    this.core = new Core(cfg, (g) => handleGossip(this.core, g));
  }

  /** Creates the node on its (already bound) transport: alive(self, inc 1), then starts the loops. */
  static create(cfg: MemberlistConfig): MemberlistNode {
    if (!cfg.name) throw new AgentError('E_CONFIG', 'memberlist: node name required');
    const m = new MemberlistNode(cfg);
    const core = m.core;
    cfg.transport.setHandlers(
      (buf, from, at) => handlePacket(core, buf, from, at),
      (stream) => handleStream(core, stream),
    );
    const self = core.advertise();
    aliveNode(core, {
      type: 'alive', incarnation: core.nextIncarnation(), node: core.name, addr: self.addrBytes, port: self.port,
      meta: core.localMeta(), vsn: core.vsn(),
    }, undefined, true);
    m.startLoops();
    // Only now: a wake-up before startLoops picked this node's random gossip
    // phase would align the ticker on the wall clock's interval boundaries —
    // every one of our nodes would then gossip in the same millisecond.
    core.onBroadcastQueued = () => m.wakeGossip();
    core.log.info(`memberlist ${core.name} started on ${self.addr}:${self.port} (profile ${core.profile.name})`);
    return m;
  }

  // ------------------------------------------------------------------ loops

  private every(firstDelayMs: number, run: () => Promise<number> | number): void {
    const tick = async (): Promise<void> => {
      if (this.core.stopped) return;
      const started = this.core.clock.now();
      let next = 0;
      try { next = await run(); } catch (e) {
        this.core.counters.inc('error.loop');
        this.core.log.error(`loop failed: ${errorMessage(e)}`);
      }
      if (this.core.stopped) return;
      const delay = Math.max(0, next - (this.core.clock.now() - started));
      this.schedule(delay, tick);
    };
    this.schedule(firstDelayMs, tick);
  }

  private schedule(ms: number, fn: () => void): void {
    const h = this.core.clock.after(ms, () => { this.timers.delete(h); fn(); });
    this.timers.add(h);
  }

  private startLoops(): void {
    const p = this.core.profile;
    if (p.probeIntervalMs > 0) {
      this.every(randInt(p.probeIntervalMs), async () => {
        const target = nextProbeTarget(this.core);
        if (target) await probeNode(this.core, target);
        return p.probeIntervalMs;
      });
    }
    if (p.gossipIntervalMs > 0) {
      this.gossipPhase = this.core.clock.now() + randInt(p.gossipIntervalMs);
      this.scheduleGossip(this.gossipPhase);
    }
    if (p.pushPullIntervalMs > 0) {
      this.every(randInt(p.pushPullIntervalMs), async () => {
        await this.periodicPushPull();
        return pushPullScale(p.pushPullIntervalMs, this.core.estimateNumNodes());
      });
    }
  }

  // The gossip loop ticks every GossipInterval like memberlist's ticker, but
  // only while something is queued: an idle tick sends nothing in memberlist
  // either, and on a small device every wake-up of the event loop costs CPU
  // (in a steady cluster the queues are empty nearly all the time). A queued
  // broadcast wakes the loop on the ticker's original phase, so a message
  // waits for the next tick exactly as it would with a free-running ticker.

  /** Time of one tick of the (virtual) free-running ticker. */
  private gossipPhase = 0;
  private gossipTimer: TimerHandle | null = null;

  /** At most one gossip timer: a wake-up during a tick (a broadcast's onDone queueing another) must not start a second chain. */
  private scheduleGossip(at: number): void {
    if (this.gossipTimer) return;
    const h = this.core.clock.after(Math.max(0, at - this.core.clock.now()), () => {
      this.timers.delete(h);
      this.gossipTimer = null;
      this.gossipTick(at);
    });
    this.gossipTimer = h;
    this.timers.add(h);
  }

  private gossipTick(at: number): void {
    const core = this.core;
    if (core.stopped) return;
    try { gossipOnce(core); } catch (e) {
      core.counters.inc('error.loop');
      core.log.error(`gossip failed: ${errorMessage(e)}`);
    }
    this.gossipPhase = at;
    if (core.hasPendingBroadcasts()) this.scheduleGossip(this.nextGossipTick());
  }

  private nextGossipTick(): number {
    const interval = this.core.profile.gossipIntervalMs;
    const now = this.core.clock.now();
    const behind = Math.max(0, now - this.gossipPhase);
    return this.gossipPhase + (Math.floor(behind / interval) + 1) * interval;
  }

  wakeGossip(): void {
    if (this.gossipTimer || this.core.stopped || this.core.profile.gossipIntervalMs <= 0) return;
    this.scheduleGossip(this.nextGossipTick());
  }

  private async periodicPushPull(): Promise<void> {
    const core = this.core;
    const [peer] = core.table.randomNodes(1, (n) => n.name !== core.name && n.state === 'alive');
    if (!peer) return;
    try {
      await pushPullWith(core, { addr: peer.addr, port: peer.port }, false);
    } catch (e) {
      core.counters.inc('pushpull.failed');
      core.log.warn(`push/pull with ${peer.name} failed: ${errorMessage(e)}`);
    }
  }

  // ------------------------------------------------------------------ API

  async join(addrs: string[]): Promise<number> {
    const core = this.core;
    const defaultPort = core.transport.localAddr().port;
    let ok = 0;
    const errors: string[] = [];
    for (const a of addrs) {
      let targets: Addr[];
      try {
        // memberlist accepts "name/addr" (the name is for TLS peers; we ignore it).
        const slash = a.indexOf('/');
        const addr = slash >= 0 && !a.slice(0, slash).includes(':') ? a.slice(slash + 1) : a;
        const { host, port } = parseHostPort(addr, defaultPort, 'join address');
        let ips: string[];
        if (isIpLiteral(host)) ips = [host];
        else if (core.cfg.resolve) ips = await core.cfg.resolve(host);
        else if (core.transport.resolve) ips = await core.transport.resolve(host);
        else throw new AgentError('E_INVALID', `cannot resolve ${host}`);
        targets = ips.map((ip) => ({ addr: ip, port }));
      } catch (e) {
        errors.push(`${a}: ${errorMessage(e)}`);
        continue;
      }
      for (const t of targets) {
        try {
          await pushPullWith(core, t, true);
          ok++;
          break;
        } catch (e) {
          errors.push(`${t.addr}:${t.port}: ${errorMessage(e)}`);
        }
      }
    }
    if (ok === 0) throw new AgentError('E_IO', `failed to join any node: ${errors.join('; ')}`, { errors });
    if (errors.length) core.log.warn(`join: ${errors.join('; ')}`);
    return ok;
  }

  leave(timeoutMs: number): Promise<void> {
    const core = this.core;
    if (core.stopped || core.leaving) return Promise.resolve();
    core.leaving = true;
    const me = core.table.get(core.name);
    if (!me) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let done = false;
      let timer: TimerHandle | null = null;
      core.leaveBroadcastDone = () => {
        if (done) return;
        done = true;
        timer?.cancel();
        resolve();
      };
      deadNode(core, { type: 'dead', incarnation: me.incarnation, node: me.name, from: me.name });
      if (!core.anyAlive()) { core.leaveBroadcastDone(); return; }
      timer = core.clock.after(timeoutMs, () => {
        if (done) return;
        done = true;
        reject(new AgentError('E_TIMEOUT', 'timeout waiting for leave broadcast'));
      });
    });
  }

  async shutdown(): Promise<void> {
    const core = this.core;
    if (core.stopped) return;
    core.stopped = true;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    for (const s of core.suspicions.values()) s.cancel();
    core.suspicions.clear();
    for (const h of core.ackHandlers.values()) h.timer.cancel();
    core.ackHandlers.clear();
    core.handoff.stop();
    await core.transport.shutdown();
  }

  /** Every node in the table, including dead/left ones not yet forgotten. */
  members(): MemberNode[] {
    return [...this.core.table.values()].map(publicView);
  }

  numMembers(): number {
    let n = 0;
    for (const m of this.core.table.values()) if (m.state === 'alive' || m.state === 'suspect') n++;
    return n;
  }

  localNode(): MemberNode {
    const me = this.core.table.get(this.core.name);
    if (!me) throw new AgentError('E_STATE', 'local node missing');
    return publicView(me);
  }

  updateNode(timeoutMs: number): Promise<void> {
    const core = this.core;
    if (core.stopped) return Promise.reject(new AgentError('E_STATE', 'memberlist stopped'));
    const me = core.table.get(core.name)!;
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const timer = core.anyAlive()
        ? core.clock.after(timeoutMs, () => {
          if (!done) { done = true; reject(new AgentError('E_TIMEOUT', 'timeout waiting for update broadcast')); }
        })
        : null;
      aliveNode(core, {
        type: 'alive', incarnation: core.nextIncarnation(), node: me.name, addr: me.addrBytes, port: me.port,
        meta: core.localMeta(), vsn: core.vsn(),
      }, () => { if (!done) { done = true; timer?.cancel(); resolve(); } }, true);
      if (!timer && !done) { done = true; resolve(); }
    });
  }

  sendToAddress(to: UdpTarget, msg: Uint8Array): void {
    this.core.rawSend(to, [withUserType(msg)], undefined);
  }

  sendBestEffort(node: MemberNode, msg: Uint8Array): void {
    const known = this.core.table.get(node.name);
    const target = known ?? { ...node, addrBytes: ipToBytes(node.addr) };
    this.core.rawSend({ addr: target.addr, port: target.port }, [withUserType(msg)], target);
  }

  sendReliable(node: MemberNode, msg: Uint8Array): Promise<void> {
    return sendUserStream(this.core, { addr: node.addr, port: node.port }, msg);
  }

  healthScore(): number { return this.core.awareness.getHealthScore(); }

  estimateNumNodes(): number { return this.core.estimateNumNodes(); }

  stats(): Record<string, number> {
    const core = this.core;
    return {
      ...core.counters.snapshot(),
      'memberlist.members': core.table.size(),
      'memberlist.alive': this.numMembers(),
      'memberlist.broadcast-queue': core.broadcasts.numQueued(),
      'memberlist.handoff-queue': core.handoff.size(),
      'memberlist.pushpull-peak-held-bytes': core.pushPullPeakHeld,
      'memberlist.health': core.awareness.getHealthScore(),
      'memberlist.incarnation': core.currentIncarnation(),
    };
  }
}

function withUserType(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + msg.length);
  out[0] = USER_MSG;
  out.set(msg, 1);
  return out;
}
