// One call to build a serf node: transport + memberlist + serf (+ snapshot and
// rejoiner), wired together. Used by the daemon and by tests, so a node is
// configured the same way everywhere.
//
//   const node = await createSerf({ nodeName: 'n1', bindAddr: '127.0.0.1', bindPort: 7946, profile: 'wan',
//                                  protocolVersion: 4, tags: {...}, snapshotPath, seeds }, { logger, counters });
//   await node.start();     // loads the snapshot, starts the rejoiner
//   node.serf.members(); ...; await node.serf.leave(); await node.stop();
import type { Logger } from '../../obs/log.ts';
import type { Counters } from '../../obs/counters.ts';
import { defaultLimits, type AgentMode, type Limits } from '../../config/limits.ts';
import { AgentError, errorMessage } from '../../errors.ts';
import { profile as makeProfile, type GossipProfile, type ProfileName } from '../profiles.ts';
import type { Transport } from '../transport/types.ts';
import { NetTransport } from '../transport/net-transport.ts';
import { Keyring, keyToBase64 } from '../wire/keyring.ts';
import type { Memberlist } from '../memberlist/types.ts';
import { MemberlistNode } from '../memberlist/memberlist.ts';
import { AtomicFile } from '../../state/atomic-file.ts';
import { KeyringFile } from '../../state/keyring-file.ts';
import type { StateHealth } from '../../state/state-health.ts';
import { Snapshotter } from '../../state/snapshot.ts';
import { realClock, type Clock } from '../clock.ts';
import { SerfNode } from './serf.ts';
import { defaultSerfOptions, type SerfOptions } from './config.ts';
import { Rejoiner, type RejoinBackoff } from './rejoin.ts';

export interface CreateSerfConfig {
  nodeName: string;
  /** Where to listen (UDP+TCP on one port). Ignored when `transport` is given. */
  bindAddr?: string;
  bindPort?: number;
  /** Address/port announced to peers (default: the bound ones). */
  advertiseAddr?: string;
  advertisePort?: number;
  /** memberlist timing profile (Cloudy: wan) or a tuned copy. */
  profile: ProfileName | GossipProfile;
  /** Serf protocol 2..5 (Cloudy: 4). */
  protocolVersion?: number;
  tags?: Record<string, string>;
  /** Encryption keys (null/empty = no encryption). */
  keyring?: Keyring | null;
  /** Keyring file rewritten (JSON array of base64, primary first) after key queries. */
  keyringFile?: string;
  /** The running agent's storage health: a full or read-only disk is retried, not thrown (state/state-health.ts). */
  stateHealth?: StateHealth | null;
  /** Rejoin snapshot file; null = none. */
  snapshotPath?: string | null;
  snapshotIntervalMs?: number;
  /** edge (bounded memory, default) or full; full also sets tag mode=full. */
  mode?: AgentMode;
  limits?: Limits;
  /** -join addresses; joined at start and used by the rejoiner. */
  seeds?: string[];
  /** Replay old user events on joins (serf -replay). */
  replay?: boolean;
  /** Keep retrying to join (snapshot peers + seeds) while alone. Default true. */
  rejoin?: boolean;
  /** serf -rejoin: use the snapshot peers even after a graceful leave. */
  rejoinAfterLeave?: boolean;
  rejoinBackoff?: RejoinBackoff;
  /** While joined, period of the pass that tries snapshot peers not currently alive (merges split groups). Default 30 s; 0 = off. */
  rejoinReconcileMs?: number;
  compression?: boolean;
  /** Overrides of serf timings (coalescing, reap, ...). */
  serf?: Partial<SerfOptions>;
  /** Use this transport (tests: MemoryTransport) instead of binding sockets. */
  transport?: Transport;
  /** Burst heap pacing (system/heap-pacer.ts), handed to memberlist. */
  pace?: () => void;
}

export interface CreateSerfDeps {
  logger: Logger;
  counters: Counters;
  clock?: Clock;
  random?: () => number;
}

export interface SerfInstance {
  serf: SerfNode;
  memberlist: Memberlist;
  transport: Transport;
  snapshotter: Snapshotter | null;
  rejoiner: Rejoiner | null;
  limits: Limits;
  /** Loads the snapshot, witnesses its clocks, joins the seeds / starts the rejoiner. */
  start(): Promise<void>;
  /** After start(): settles once the first join attempt is over (joined or not; at once with nothing to join). */
  firstJoin(): Promise<void>;
  /** Shuts everything down (without a graceful leave: call serf.leave() first for that). */
  stop(): Promise<void>;
}

export async function createSerf(cfg: CreateSerfConfig, deps: CreateSerfDeps): Promise<SerfInstance> {
  const mode = cfg.mode ?? 'edge';
  const limits = cfg.limits ?? defaultLimits(mode);
  const prof = typeof cfg.profile === 'string' ? makeProfile(cfg.profile) : cfg.profile;
  const clock = deps.clock ?? realClock;
  const logger = deps.logger;
  const counters = deps.counters;
  const protocolVersion = cfg.protocolVersion ?? 4;
  const tags = { ...(cfg.tags ?? {}) };
  if (mode === 'full') tags['mode'] = 'full';
  // An empty keyring means no encryption (serf: no -encrypt); key queries then answer "No keyring to modify".
  const keyring = cfg.keyring ?? null;

  const snapshotter = cfg.snapshotPath
    ? new Snapshotter({
      store: new AtomicFile(cfg.snapshotPath, cfg.stateHealth ?? null), node: cfg.nodeName, maxPeers: limits.snapshotPeers,
      ...(cfg.snapshotIntervalMs !== undefined ? { minIntervalMs: cfg.snapshotIntervalMs } : {}),
      now: () => clock.now(), logger: logger.child('snapshot'), counters,
    })
    : null;

  const keyringFile = cfg.keyringFile ? new KeyringFile(cfg.keyringFile, cfg.stateHealth ?? null) : null;
  const serf = new SerfNode(
    defaultSerfOptions(cfg.nodeName, {
      protocolVersion, tags, gossipIntervalMs: prof.gossipIntervalMs, retransmitMult: prof.retransmitMult,
      seeds: cfg.seeds ?? [], ...cfg.serf,
    }),
    {
      clock, logger, counters, limits, keyring, snapshotter,
      ...(deps.random ? { random: deps.random } : {}),
      ...(keyringFile ? {
        onKeyringChange: async (kr: Keyring) => {
          await keyringFile.write(kr.keys().map(keyToBase64));
        },
      } : {}),
    },
  );

  const transport = cfg.transport ?? await NetTransport.start({
    bindAddr: cfg.bindAddr ?? '0.0.0.0', bindPort: cfg.bindPort ?? 7946, maxTcpStreams: limits.maxTcpStreams,
    counters, logger: logger.child('transport'),
  });

  let ml: Memberlist;
  try {
    ml = MemberlistNode.create({
      name: cfg.nodeName, transport, profile: prof, keyring, compression: cfg.compression ?? true,
      delegateVersions: { min: 2, max: 5, cur: protocolVersion }, limits, counters, logger: logger.child('memberlist'),
      clock, ...serf.delegates(),
      ...(cfg.advertiseAddr ? { advertiseAddr: cfg.advertiseAddr } : {}),
      ...(cfg.advertisePort ? { advertisePort: cfg.advertisePort } : {}),
      ...(cfg.pace ? { pace: cfg.pace } : {}),
    });
  } catch (e) {
    await transport.shutdown().catch(() => {});
    throw e instanceof AgentError ? e : new AgentError('E_CONFIG', `memberlist: ${errorMessage(e)}`);
  }
  serf.start(ml);

  const seeds = cfg.seeds ?? [];
  const rejoiner = cfg.rejoin === false ? null : new Rejoiner({
    host: {
      join: (addrs) => serf.join(addrs, !(cfg.replay ?? false)),
      aliveOthers: () => serf.aliveOthers(),
      aliveNames: () => new Set(serf.members().filter((m) => m.status === 'alive').map((m) => m.name)),
    },
    peers: () => (snapshotter && (cfg.rejoinAfterLeave || !snapshotter.current().left) ? snapshotter.peerAddresses() : []),
    seeds, clock, logger: logger.child('rejoin'), counters,
    ...(deps.random ? { random: deps.random } : {}),
    ...(cfg.rejoinBackoff ? { backoff: cfg.rejoinBackoff } : {}),
    ...(cfg.rejoinReconcileMs !== undefined ? { reconcileMs: cfg.rejoinReconcileMs } : {}),
  });
  let unsub: (() => void) | null = null;

  return {
    serf, memberlist: ml, transport, snapshotter, rejoiner, limits,
    async start() {
      if (snapshotter) {
        const snap = await snapshotter.load();
        if (snap) {
          serf.restoreClocks(snap.clock, snap.eventClock, snap.queryClock);
          logger.info(`snapshot: ${snap.peers.length} known peers${snap.left ? ' (left gracefully: not rejoining them)' : ''}`);
        }
      }
      if (rejoiner) {
        unsub = serf.onMemberChange(() => rejoiner.membershipChanged());
        rejoiner.start();
      } else if (seeds.length > 0) {
        await serf.join(seeds, !(cfg.replay ?? false));
      }
    },
    firstJoin: () => rejoiner?.firstRound ?? Promise.resolve(),
    async stop() {
      unsub?.();
      rejoiner?.stop();
      await serf.shutdown();
    },
  };
}
