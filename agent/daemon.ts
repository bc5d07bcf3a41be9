// Composition root of the agent: builds logger, counters, limits (mode,
// memory budget, overrides), keyring, the serf node, event handlers, the RPC
// server with its command registry, and the plugins (discovery, containers),
// then starts them in that order and stops them in reverse. The join is sent
// before the plug-ins start (start-up: agent/obs/startup-trace.ts).
//
// `startDaemon(config, deps)` runs a whole agent in-process (tests run
// several); the `agent` CLI command adds signals and exit codes around it.
// The plug-in contract is plugin.ts; the real agent's plug-ins are listed in
// plugins.ts. Plugins get the command registry (agent/commands/) to add their
// commands:
//
//   startDaemon({ ...config, plugins: [
//     async (ctx) => { for (const c of discoveryCommands(...)) ctx.registry.register(c); return { stop() {} }; },
//   ] }, {})
import { StateHealth } from './state/state-health.ts';
import { AtomicFile } from './state/atomic-file.ts';
import { Logger, type LogLevel } from './obs/log.ts';
import { Counters } from './obs/counters.ts';
import { createExec, type Exec } from './system/exec.ts';
import type { Limits } from './config/limits.ts';
import { LIMITS_FILE_INSTEAD, readLimitsFile } from './config/limit-overrides-file.ts';
import { effectiveLimits, type AgentConfig } from './config/agent-config.ts';
import { AgentError, errorMessage } from './errors.ts';
import type { Serf } from './gossip/serf/types.ts';
import { createSerf, type CreateSerfConfig, type SerfInstance } from './gossip/serf/create.ts';
import { HeapPacer } from './system/heap-pacer.ts';
import { Keyring, keyToBase64 } from './gossip/wire/keyring.ts';
import { CommandRegistry, defineCommand } from './commands/registry.ts';
import { serfCommands } from './commands/serf-commands.ts';
import { rpcVerbs } from './commands/rpc-verbs.ts';
import { RpcServer, defaultStats } from './rpc/server.ts';
import { parseHostPort, type HostPort } from './config/address.ts';
import { EventHandlerRunner } from './event-handlers/runner.ts';
import { eventHandlerStats, parseAllEventScripts } from './event-handlers/scripts.ts';
import { readNetFacts } from './system/net-info.ts';
import { decideHost } from './config/host-defaults.ts';
import { KeyringFile } from './state/keyring-file.ts';
import { TagsFile } from './state/tags-file.ts';
import type { DaemonContext, DaemonPlugin, PluginHandle } from './plugin.ts';
import { startupMark } from './obs/startup-trace.ts';

export interface DaemonConfig extends AgentConfig {
  plugins?: DaemonPlugin[];
}

export interface DaemonDeps {
  logger?: Logger;
  counters?: Counters;
  exec?: Exec;
  /** Where log lines go when the daemon builds its own logger (default stderr). */
  writeLog?: ((line: string) => void) | null;
  /** Extra serf factory settings (tests: transport, rejoin backoff, timings). */
  serfOverrides?: Partial<CreateSerfConfig>;
}

export interface DaemonHandle {
  readonly config: AgentConfig;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly counters: Counters;
  readonly serf: Serf;
  readonly registry: CommandRegistry;
  /** Bound RPC address. */
  readonly rpcAddress: HostPort;
  /** Graceful leave, then stop. */
  leave(): Promise<void>;
  /** Stops everything in reverse start order (no leave). Idempotent. */
  stop(): Promise<void>;
  /** SIGHUP: applies the log level and event handlers of a re-read config. */
  reload(next: AgentConfig): void;
  /** Resolves once the daemon has stopped (e.g. after an RPC `leave`). */
  readonly stopped: Promise<void>;
}

/** Keys from -keyring-file (JSON array of base64, primary first) and -encrypt. */
export async function loadKeyring(c: AgentConfig, log: Logger, health: StateHealth | null = null): Promise<Keyring | null> {
  const file = c.keyringFile !== '' ? new KeyringFile(c.keyringFile, health) : null;
  const fromFile = file ? await file.readOrMoveAside((m) => log.warn(m)) : null;
  let keys: string[] = fromFile ?? [];
  if (c.encryptKey !== '') {
    if (keys.length === 0) keys = [c.encryptKey];
    else if (!keys.includes(c.encryptKey)) {
      // The keyring file is authoritative (it follows `keys -use`); the -encrypt key is added for decryption.
      log.warn('-encrypt key not in the keyring file: installed as a secondary key');
      keys.push(c.encryptKey);
    }
  }
  if (keys.length === 0) return null;
  let ring: Keyring;
  try {
    ring = Keyring.fromBase64(keys);
  } catch (e) {
    throw new AgentError('E_CONFIG', `keyring: ${errorMessage(e)}`);
  }
  if (file && fromFile === null) await file.write(ring.keys().map(keyToBase64));
  return ring;
}

/** Tags from -tags-file (JSON object) when it exists, else the configured tags (then written to it). */
async function loadTags(c: AgentConfig, log: Logger, file: TagsFile | null): Promise<Record<string, string>> {
  if (!file) return { ...c.tags };
  const saved = await file.readOrMoveAside((m) => log.warn(m));
  if (saved !== null) return { ...saved, ...c.tags };
  await file.write(c.tags);
  return { ...c.tags };
}

/** Resolves when `p` settles or after `ms`, whichever comes first. */
async function settledOrAfter(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => { timer = setTimeout(r, ms); timer.unref(); });
  try { await Promise.race([p.then(() => {}, () => {}), late]); } finally { clearTimeout(timer); }
}

export async function startDaemon(config: DaemonConfig, deps: DaemonDeps = {}): Promise<DaemonHandle> {
  // Remote `config set limit.*` changes (config/limit-overrides-file.ts): read before anything is sized.
  const remoteLimits = config.dataDir !== '' ? await readLimitsFile(config.dataDir) : { overrides: {}, aside: null };
  const limits = effectiveLimits(config, remoteLimits.overrides);
  const logger = deps.logger ?? Logger.root({ level: config.logLevel, ringSize: limits.logRing, ...(deps.writeLog !== undefined ? { write: deps.writeLog } : {}) });
  const log = logger.child('agent');
  const counters = deps.counters ?? new Counters();
  const exec = deps.exec ?? createExec({ maxOutputBytes: limits.execOutputBytes });
  const scripts = parseAllEventScripts(config.eventHandlers);
  const stops: { name: string; stop: () => Promise<void> | void }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) {
      try { await s.stop(); } catch (e) { log.error(`stopping ${s.name}: ${errorMessage(e)}`); }
    }
    stops.length = 0;
  };

  log.info('Serf agent starting');
  // A full or read-only data filesystem is logged, counted and retried, never fatal (state/state-health.ts).
  const stateHealth = new StateHealth({ log: logger.child('state'), retryMs: limits.stateRetryMs });
  stops.push({ name: 'state health', stop: () => stateHealth.stop() });
  // The identity was decided before StateHealth existed: report what it moved aside, and hand it the writes the disk refused.
  for (const n of config.host?.identityNotes ?? []) {
    if (n.kind === 'aside') stateHealth.movedAside(n.path, n.to, n.why, n.instead);
    else await new AtomicFile(n.path, stateHealth).write(n.bytes);
  }
  if (remoteLimits.aside) stateHealth.movedAside(remoteLimits.aside.path, remoteLimits.aside.to, remoteLimits.aside.why, LIMITS_FILE_INSTEAD);
  // serf options this agent accepts (so serf configs load) but does not apply.
  if (config.retryMaxAttempts > 0) log.warn(`retry_max_attempts=${config.retryMaxAttempts} ignored: joins are retried until one succeeds`);
  const tagsFile = config.tagsFile !== '' ? new TagsFile(config.tagsFile, stateHealth) : null;
  let node: SerfInstance;
  try {
    const keyring = await loadKeyring(config, log, stateHealth);
    const tags = await loadTags(config, log, tagsFile);
    const bind = parseHostPort(config.bind, 5000, '-bind');
    const adv = config.advertise !== '' ? parseHostPort(config.advertise, bind.port, '-advertise') : null;
    node = await createSerf({
      nodeName: config.nodeName,
      bindAddr: bind.host,
      bindPort: bind.port,
      ...(adv ? { advertiseAddr: adv.host, advertisePort: adv.port } : {}),
      profile: config.profile,
      protocolVersion: config.protocol,
      tags,
      keyring,
      ...(config.keyringFile !== '' ? { keyringFile: config.keyringFile } : {}),
      stateHealth,
      snapshotPath: config.snapshotPath !== '' ? config.snapshotPath : null,
      mode: config.mode,
      limits,
      seeds: config.join,
      replay: config.replayOnJoin,
      rejoinAfterLeave: config.rejoinAfterLeave,
      rejoinBackoff: { baseMs: config.retryIntervalMs, capMs: config.retryMaxIntervalMs },
      compression: config.enableCompression,
      ...(limits.memoryPaceStepBytes > 0 ? { pace: new HeapPacer({ stepBytes: limits.memoryPaceStepBytes, counters }).pace } : {}),
      ...deps.serfOverrides,
    }, { logger, counters });
  } catch (e) {
    throw e instanceof AgentError ? e : new AgentError('E_CONFIG', `cannot start serf: ${errorMessage(e)}`);
  }
  startupMark('gossip bound (keyring, tags, transport)');
  stops.push({ name: 'serf', stop: () => node.stop() });
  const serf: Serf = node.serf;

  let stoppedResolve: () => void = () => {};
  const stopped = new Promise<void>((r) => { stoppedResolve = r; });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= stopAll().then(() => { log.info('agent stopped'); stoppedResolve(); });
    return stopping;
  };

  try {
    // Event handlers
    const runner = new EventHandlerRunner({ scripts, self: () => serf.localMember(), exec, logger, counters, limits });
    const unsubscribe = serf.onEvent((e) => {
      if (e.type !== 'query') log.info(`Received event: ${e.type === 'user' ? `user-event: ${e.name}` : e.type}`);
      runner.handle(e);
    });
    stops.push({ name: 'event handlers', stop: async () => { unsubscribe(); await runner.stop(); } });

    // RPC
    const registry = new CommandRegistry();
    const pluginHandles: { name: string; h: PluginHandle }[] = [];
    const agentStats = (): Record<string, Record<string, string>> => {
      const extra: Record<string, Record<string, string>> = {
        counters: Object.fromEntries(Object.entries(counters.snapshot()).map(([k, v]) => [k, String(v)])),
        state: stateHealth.stats(),
      };
      for (const { name, h } of pluginHandles) if (h.stats) extra[name] = h.stats();
      return defaultStats(serf, eventHandlerStats(runner.currentScripts()), extra);
    };
    const setTags = async (t: Record<string, string>): Promise<void> => {
      await tagsFile?.write(t);
      await serf.setTags(t);
    };
    const rpc = new RpcServer({
      serf, extensions: rpcVerbs(registry), logger, counters, limits, addr: config.rpcAddr,
      ...(config.rpcAuth !== '' ? { authKey: config.rpcAuth } : {}),
      hooks: {
        leave: () => serf.leave(),
        shutdown: () => { void stop(); },
        setTags,
        stats: () => agentStats(),
      },
    });
    registry.register(defineCommand({
      name: 'info',
      summary: 'Agent, runtime, serf, memory, tags, event handlers, counters and plug-in sections (serf info)',
      role: 'viewer',
      args: {},
      handler: async () => new Map(Object.entries(agentStats()).map(([k, v]) => [k, new Map(Object.entries(v))])),
    }));
    for (const c of serfCommands({ serf, setTags })) registry.register(c);
    const rpcAddress = await rpc.listen();
    startupMark('RPC listening');
    stops.push({ name: 'rpc', stop: () => rpc.close() });

    // The join goes out before the plug-ins start: only gossip and RPC are on
    // the critical path of a (re)start. Snapshot, seeds, rejoin loop; the
    // plug-ins then wait (bounded) for the first attempt's answer, so their
    // start-up work does not hold up its push/pull on this one thread.
    await node.start();
    await settledOrAfter(node.firstJoin(), limits.startupJoinWaitMs);
    startupMark('first join attempt over');

    // Plugins (discovery, containers...)
    // Host facts: decided by the caller's host defaults, else here, once.
    const host = config.host ?? decideHost(config, await readNetFacts());
    startupMark('host facts');
    const ctx: DaemonContext = { config, host, limits, logger, counters, exec, serf, registry, rpcAddress, stateHealth };
    for (const [i, p] of (config.plugins ?? []).entries()) {
      const name = typeof p === 'function' ? (p.name || `plugin${i}`) : p.name;
      const h = typeof p === 'function' ? await p(ctx) : await p.start(ctx);
      pluginHandles.push({ name, h });
      startupMark(`plug-in ${name} started`);
      stops.push({ name, stop: () => h.stop() });
    }

    startupMark('daemon started');
    log.info(`Serf agent running: node ${config.nodeName}, gossip ${config.bind}, RPC ${rpcAddress.host}:${rpcAddress.port}`);

    return {
      config, limits, logger, counters, serf, registry, rpcAddress, stopped,
      stop,
      async leave() {
        log.info('Gracefully leaving the cluster');
        try { await serf.leave(); } catch (e) { log.error(`leave failed: ${errorMessage(e)}`); }
        await stop();
      },
      reload(next: AgentConfig) {
        logger.setLevel(next.logLevel as LogLevel);
        try {
          runner.update(parseAllEventScripts(next.eventHandlers));
          log.info(`reloaded: log level ${next.logLevel}, ${next.eventHandlers.length} event handler(s)`);
        } catch (e) {
          log.error(`reload: ${errorMessage(e)} (keeping the previous event handlers)`);
        }
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
