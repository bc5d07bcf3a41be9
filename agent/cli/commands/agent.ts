// `agent`: runs the daemon, with serf's agent flags plus Cloudy's (-mode,
// -memory-budget, -limit). Precedence: defaults < -config-file(s) in order
// < flags. A bad flag or value prints ONE line naming it and exits 1.
// Signals: SIGINT leaves gracefully (unless skip_leave_on_interrupt),
// SIGTERM leaves only with leave_on_terminate (like serf), a second signal
// forces the exit; SIGHUP re-reads config files and flags and applies the
// log level and event handlers.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CliCommand, CliIO } from '../../cli-kit/command.ts';
import { Flags, FlagError, HelpRequested, parseFlags, unmarshalTags, type FlagSpecs } from '../../cli-kit/flags.ts';
import {
  checkKey, defaultAgentConfig, mergeLayers, parseLevel, parseLimitOverride, parseSize, validateConfig,
  type AgentConfig, type ConfigLayer, type ProfileName,
} from '../../config/agent-config.ts';
import { readConfigFile } from '../../config/config-file.ts';
import { checkGuifiSettings } from '../../config/guifi-settings.ts';
import { parseHostPort } from '../../config/address.ts';
import { parseAllEventScripts } from '../../event-handlers/scripts.ts';
import type { AgentMode, Limits } from '../../config/limits.ts';
import { AgentError, errorMessage } from '../../errors.ts';
import { startDaemon, type DaemonHandle } from '../../daemon.ts';
import type { DaemonPlugin } from '../../plugin.ts';
import { parseTrustSpec } from '../../remote/trust.ts';
import { startupMark } from '../../obs/startup-trace.ts';

export const AGENT_FLAGS: FlagSpecs = {
  'node': 'string', 'bind': 'string', 'advertise': 'string', 'join': 'list', 'retry-join': 'list',
  'replay': 'bool', 'retry-interval': 'duration', 'retry-max': 'int', 'rejoin': 'bool',
  'encrypt': 'string', 'keyring-file': 'string', 'profile': 'string', 'protocol': 'int',
  'tag': 'list', 'role': 'string', 'tags-file': 'string', 'rpc-addr': 'string', 'rpc-auth': 'string',
  'config-file': 'list', 'config-dir': 'list', 'snapshot': 'string', 'log-level': 'string',
  'event-handler': 'list', 'mode': 'string', 'memory-budget': 'string', 'limit': 'list',
  'data-dir': 'string', 'interface': 'string', 'containers': 'bool', 'discover': 'string', 'iface': 'string', 'microcloud': 'string', 'getinconf-file': 'string', 'trust-operator': 'list',
  'http': 'string', 'http-guest': 'bool',
  'guifi-api': 'string', 'guifi-node-id': 'int', 'guifi-user': 'string', 'guifi-password-file': 'string',
  'guifi-token-file': 'string', 'guifi-declare-services': 'bool',
};

export const AGENT_HELP = `Usage: cloudy-agent agent [options]

  Runs a Cloudy agent: a serf-compatible gossip node (Debian serf 0.9.4 peers
  join it and its RPC port serves the serf CLI) announcing Cloudy services.

Options (serf's names; -flag v, -flag=v and --flag=v are accepted):
  -node=NAME              Node name (default: Cloudy's <HostID>-<ns>-<host>-<ip>:<port>).
  -bind=ADDR[:PORT]       Gossip address (default 0.0.0.0:5000; [::]:5000 for IPv6).
  -advertise=ADDR[:PORT]  Address announced to peers.
  -join=ADDR              Peer to join; repeatable; retried with backoff until it works.
  -retry-join=ADDR        Same as -join.
  -retry-interval=1s      First retry delay (doubles up to 60s).
  -replay                 Replay past user events when joining.
  -encrypt=KEY            Base64 gossip key (16, 24 or 32 bytes).
  -keyring-file=PATH      Keyring file (JSON list of base64 keys), kept up to date.
  -profile=wan            Gossip timings: lan, wan or local.
  -protocol=4             Serf protocol version (2..5).
  -tag KEY=VALUE          Tag; repeatable.
  -tags-file=PATH         Tags file (JSON object), rewritten on tag changes.
  -rpc-addr=127.0.0.1:7373  RPC address (IPv6: [::1]:7373).
  -rpc-auth=TOKEN         Token RPC clients must present.
  -snapshot=PATH          Snapshot file used to rejoin after a restart.
  -event-handler=[FILTER=]SCRIPT  serf event handler; repeatable.
  -log-level=info         trace, debug, info, warn or err.
  -config-file=PATH       JSON config (serf keys + mode, memory_budget, limits); repeatable.
  -config-dir=DIR         Every *.json file of DIR, in name order.
  -mode=edge|full         edge bounds every table for small devices (default).
  -memory-budget=SIZE     Scale member-bound limits to this much memory (e.g. 64MB).
  -limit NAME=VALUE       Override one resource limit; repeatable.
  -data-dir=DIR           State directory (default /var/lib/cloudy-agent when -node is not given).
  -interface=IF           Community interface whose IPv4 is announced (default: default-route interface).
  -containers=false       Do not manage LXC containers.
  -discover=NAME          Find peers on the LAN by mDNS (serf's _serf_NAME._tcp) and be found.
  -iface=IF               The one interface -discover uses (default: every IPv4 interface).
  -microcloud=NAME        The µcloud ("e") of published services (default: NETWORK_NAME of
                          -getinconf-file=FILE, /etc/getinconf-client.conf, as avahi-ps; "demo" without it).
  -trust-operator=KEY[@ROLE]  Obey remote commands signed by this operator key (role admin or viewer); repeatable.
  -http=ADDR[:PORT]       Web GUI and JSON API (default: 0.0.0.0:7000 in full mode, off in edge mode; 'off' disables).
  -http-guest             Public read-only view of the federation (members, services, plots) without login.
  -guifi-node-id=ID       Register this box in guifi.net under node ID (in the background, until it works);
  -guifi-user=NAME          with -guifi-password-file=FILE or -guifi-token-file=FILE (re-read at each try),
  -guifi-api=URL            at URL (default https://guifi.net/api). Config file key: "guifi" (see the README).
  -guifi-declare-services=false  Do not declare guifi services when proxy3/dnsservice/snpservice containers start.`;

/** Config key -> the flag named in error messages. */
const FLAG_OF: Partial<Record<keyof AgentConfig, string>> = {
  nodeName: '-node', profile: '-profile', protocol: '-protocol', mode: '-mode', encryptKey: '-encrypt',
  memoryBudget: '-memory-budget', bind: '-bind', advertise: '-advertise', discover: '-discover',
};

function bad(flag: string, msg: string): never {
  throw new AgentError('E_CONFIG', `${flag}: ${msg}`);
}

/** Flags -> a config layer (values checked here so errors name the flag). */
export function layerFromFlags(f: Flags): ConfigLayer {
  const l: ConfigLayer = {};
  if (f.has('node')) l.nodeName = f.str('node');
  if (f.has('bind')) { l.bind = f.str('bind'); parseHostPort(l.bind, 5000, '-bind'); }
  if (f.has('advertise')) { l.advertise = f.str('advertise'); parseHostPort(l.advertise, 5000, '-advertise'); }
  const joins = [...f.list('join'), ...f.list('retry-join')];
  if (joins.length) l.join = joins;
  if (f.has('replay')) l.replayOnJoin = f.bool('replay');
  if (f.has('retry-interval')) l.retryIntervalMs = f.durationMs('retry-interval');
  if (f.has('retry-max')) l.retryMaxAttempts = f.int('retry-max');
  if (f.has('rejoin')) l.rejoinAfterLeave = f.bool('rejoin');
  if (f.has('encrypt')) { l.encryptKey = f.str('encrypt'); checkKey(l.encryptKey, '-encrypt'); }
  if (f.has('keyring-file')) l.keyringFile = f.str('keyring-file');
  if (f.has('profile')) {
    const p = f.str('profile');
    if (!['lan', 'wan', 'local'].includes(p)) bad('-profile', `unknown profile ${JSON.stringify(p)} (lan, wan or local)`);
    l.profile = p as ProfileName;
  }
  if (f.has('protocol')) l.protocol = f.int('protocol');
  const tags: Record<string, string> = {};
  if (f.has('role')) tags.role = f.str('role');
  try { Object.assign(tags, unmarshalTags(f.list('tag'))); } catch (e) { bad('-tag', errorMessage(e)); }
  if (Object.keys(tags).length) l.tags = tags;
  if (f.has('tags-file')) l.tagsFile = f.str('tags-file');
  if (f.has('rpc-addr')) { l.rpcAddr = f.str('rpc-addr'); parseHostPort(l.rpcAddr, 7373, '-rpc-addr'); }
  if (f.has('rpc-auth')) l.rpcAuth = f.str('rpc-auth');
  if (f.has('snapshot')) l.snapshotPath = f.str('snapshot');
  if (f.has('data-dir')) l.dataDir = f.str('data-dir');
  if (f.has('http')) { l.http = f.str('http'); if (l.http !== 'off' && l.http !== 'false') parseHostPort(l.http, 7000, '-http'); }
  if (f.has('http-guest')) l.httpGuest = f.bool('http-guest');
  if (f.has('interface')) l.communityInterface = f.str('interface');
  if (f.has('containers')) l.containers = f.bool('containers');
  if (f.has('discover')) l.discover = f.str('discover');
  if (f.has('iface')) l.discoverInterface = f.str('iface');
  if (f.has('microcloud')) l.microcloud = f.str('microcloud');
  if (f.has('getinconf-file')) l.getinconfFile = f.str('getinconf-file');
  const trusted = f.list('trust-operator');
  if (trusted.length) {
    for (const t of trusted) { try { parseTrustSpec(t); } catch (e) { bad('-trust-operator', errorMessage(e)); } }
    l.trustedOperators = trusted;
  }
  const guifi: ConfigLayer['guifi'] = {};
  if (f.has('guifi-api')) guifi.api = f.str('guifi-api');
  if (f.has('guifi-node-id')) guifi.nodeId = f.int('guifi-node-id');
  if (f.has('guifi-user')) guifi.user = f.str('guifi-user');
  if (f.has('guifi-password-file')) guifi.passwordFile = f.str('guifi-password-file');
  if (f.has('guifi-token-file')) guifi.tokenFile = f.str('guifi-token-file');
  if (f.has('guifi-declare-services')) guifi.declareServices = f.bool('guifi-declare-services');
  if (Object.keys(guifi).length) {
    if (guifi.nodeId !== undefined && guifi.nodeId < 0) bad('-guifi-node-id', 'must be a positive guifi.net node id');
    l.guifi = checkGuifiSettings(guifi, '-guifi');
  }
  if (f.has('log-level')) l.logLevel = parseLevel(f.str('log-level'), '-log-level');
  const handlers = f.list('event-handler');
  if (handlers.length) { parseAllEventScripts(handlers); l.eventHandlers = handlers; }
  if (f.has('mode')) {
    const m = f.str('mode');
    if (m !== 'edge' && m !== 'full') bad('-mode', `must be edge or full, got ${JSON.stringify(m)}`);
    l.mode = m as AgentMode;
  }
  if (f.has('memory-budget')) {
    const n = parseSize(f.str('memory-budget'));
    if (n === undefined) bad('-memory-budget', `expected a size like 64MB, got ${JSON.stringify(f.str('memory-budget'))}`);
    l.memoryBudget = n;
  }
  const limits = f.list('limit');
  if (limits.length) {
    const over: Partial<Limits> = {};
    for (const s of limits) { const [k, v] = parseLimitOverride(s, '-limit'); over[k] = v; }
    l.limitOverrides = over;
    l.limitFlags = { ...over };
  }
  return l;
}

/** Full config from argv: defaults, config files/dirs in order, then flags. */
export function configFromArgv(argv: readonly string[]): AgentConfig {
  const parsed = parseFlags(argv, AGENT_FLAGS);
  if (parsed.args.length) throw new FlagError(`unexpected argument: ${parsed.args[0]}`);
  const f = new Flags(parsed);
  const layers: ConfigLayer[] = [];
  for (const dir of f.list('config-dir')) {
    let names: string[];
    try { names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort(); } catch (e) {
      bad('-config-dir', `${dir}: ${errorMessage(e)}`);
    }
    for (const n of names) layers.push(readConfigFile(join(dir, n)));
  }
  for (const file of f.list('config-file')) layers.push(readConfigFile(file));
  layers.push(layerFromFlags(f));
  const cfg = mergeLayers(defaultAgentConfig(), ...layers);
  return validateConfig(cfg, (k) => FLAG_OF[k] ?? `-${String(k)}`);
}

export interface AgentCommandOptions {
  /** Plug-ins, or a function of the final config returning them. */
  plugins?: DaemonPlugin[] | ((config: AgentConfig) => DaemonPlugin[]);
  /** Completes the config from the host (data dir, advertise, Cloudy node name) before the daemon starts. */
  prepare?: (config: AgentConfig) => Promise<AgentConfig>;
  /** May replace the process (same PID) to apply V8 heap flags; returns when it does not. */
  reexec?: (config: AgentConfig) => void;
}

/** The `agent` command; `plugins` lets the binary's entry add discovery/containers. */
export function makeAgentCommand(opts: AgentCommandOptions = {}): CliCommand {
  return {
    name: 'agent',
    summary: 'Runs the cloudy agent (serf-compatible gossip node + RPC)',
    async run(argv: string[], io: CliIO): Promise<number> {
      let config: AgentConfig;
      try {
        config = configFromArgv(argv);
      } catch (e) {
        if (e instanceof HelpRequested) { io.stdout(`${AGENT_HELP}\n`); return 1; }
        io.stderr(`${errorMessage(e).split('\n')[0]}\n`);
        return 1;
      }
      startupMark('config parsed');
      if (opts.reexec) opts.reexec(config);
      // Signal handlers go in before the daemon starts: its RPC port answers
      // before startDaemon returns, and a SIGTERM/SIGINT in that window would
      // otherwise kill the process with the default action. A signal that
      // arrives during start-up is acted on as soon as the daemon is up.
      let handle: DaemonHandle | null = null;
      let early: 'SIGINT' | 'SIGTERM' | null = null;
      let signals = 0;
      const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
        if (handle === null) { early ??= sig; return; }
        signals++;
        if (signals > 1) { io.stderr('==> Second signal received, exiting without leaving\n'); process.exit(1); }
        const leave = sig === 'SIGINT' ? !config.skipLeaveOnInterrupt : config.leaveOnTerminate;
        io.stdout(`==> Caught signal: ${sig === 'SIGINT' ? 'interrupt' : 'terminated'}\n`);
        if (leave) io.stdout('==> Gracefully shutting down agent...\n');
        void (leave ? handle.leave() : handle.stop());
      };
      const onInt = () => onSignal('SIGINT');
      const onTerm = () => onSignal('SIGTERM');
      // A SIGHUP while the daemon starts (its RPC answers before the plug-ins,
      // which load their modules then, have started) is applied once it is up.
      let hupEarly = false;
      const onHup = () => {
        if (handle === null) { hupEarly = true; return; }
        try { handle.reload({ ...configFromArgv(argv), nodeName: config.nodeName }); } catch (e) { handle.logger.error(`reload failed: ${errorMessage(e)}`); }
      };
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      process.on('SIGHUP', onHup);
      const removeHandlers = () => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        process.off('SIGHUP', onHup);
      };
      try {
        if (opts.prepare) config = await opts.prepare(config);
        startupMark('host defaults (interfaces, identity)');
        const plugins = typeof opts.plugins === 'function' ? opts.plugins(config) : opts.plugins ?? [];
        handle = await startDaemon({ ...config, plugins });
      } catch (e) {
        removeHandlers();
        io.stderr(`Error starting agent: ${errorMessage(e)}\n`);
        return 1;
      }
      io.stdout(`==> Cloudy agent running! Node name: '${config.nodeName}', bind: ${config.bind}${config.advertise ? `, advertise: ${config.advertise}` : ''}, RPC: ${handle.rpcAddress.host}:${handle.rpcAddress.port}${config.dataDir ? `, data: ${config.dataDir}` : ''}\n`);
      if (early !== null) onSignal(early);
      else if (hupEarly) onHup();
      try {
        await handle.stopped;
      } finally {
        removeHandlers();
      }
      return 0;
    },
  };
}

export const agentCommand = makeAgentCommand();
