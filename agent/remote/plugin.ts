// Remote control as a daemon plug-in: answers signed commands arriving as the
// serf query `cloudy-remote` (executor.ts), and declares the local commands
// operator.trust, operator.untrust, operator.list, remote.log, remote.audit
// (the CLI reports commands it sent) and remote.node-key in the command
// registry (on the agent RPC: operator-trust, remote-log, ...).
//
// State in <data-dir>/remote/: node.key (this node's answer-signing key),
// trust.json (trust changes), sequences.cbor (replay protection), limits.json
// (`config set limit.*`, read by daemon.ts at the next start). Without a
// data dir there is no remote control: replay protection must survive reboots.
import { join } from 'node:path';
import type { DaemonContext, DaemonPlugin, PluginHandle } from '../plugin.ts';
import type { CliCommand } from '../cli-kit/command.ts';
import { AtomicFile } from '../state/atomic-file.ts';
import { AgentError, errorMessage } from '../errors.ts';
import { parseLogLevel } from '../obs/log.ts';
import { REMOTE_QUERY_NAME } from './envelope.ts';
import { formatPublicKey, loadOrCreateKey, rawPublicKey } from './keys.ts';
import { TrustStore, parseRole } from './trust.ts';
import { SequenceStore } from './sequence-store.ts';
import { RateLimiter } from './rate-limit.ts';
import { AuditLog } from './audit.ts';
import { defineCommand } from '../commands/registry.ts';
import { RemoteExecutor } from './executor.ts';
import { remoteCommands, type ConfigAccess } from './commands.ts';
import { pushLargeAnswer } from './large-answer.ts';
import { readPrivateKey } from './keys.ts';
import { NodePins, OperatorSequence, RemoteClient } from './sender.ts';
import { serfTransport } from './transports.ts';
import { compileRe2 } from '../gossip/serf/filters.ts';
import type { RemoteCommand } from './executor.ts';
import { limitsFilePath } from '../config/limit-overrides-file.ts';
import { RemoteLimits } from './remote-limits.ts';

export const NODE_KEY_FILE = 'remote/node.key';

export interface RemotePluginOptions {
  dataDir: string;
  /** -trust-operator flags and trusted_operators config entries (`KEY[@role]`). */
  trustSpecs: readonly string[];
  /** The agent's CLI verbs (passed in: the CLI layer sits above the plug-ins). */
  verbs: () => Readonly<Record<string, CliCommand>>;
  /** Called with the started executor (tests). */
  onStarted?: (r: { executor: RemoteExecutor; trust: TrustStore; audit: AuditLog; sequences: SequenceStore }) => void;
}

/** Serf's response limit minus the queryResponse header around our payload (type, map keys, LTime, ID, Flags, From). */
export function responseBudget(limit: number, nodeName: string): number {
  return limit - 72 - Buffer.byteLength(nodeName);
}

export function remotePlugin(o: RemotePluginOptions): DaemonPlugin {
  return {
    name: 'remote',
    async start(ctx: DaemonContext): Promise<PluginHandle> {
      const log = ctx.logger.child('remote');
      const audit = new AuditLog(ctx.limits.remoteAuditRecords, log);
      const off = (why: string): PluginHandle => {
        log.info(`remote control off: ${why}`);
        ctx.registry.registerUnavailable([...OPERATOR_SPECS, ...senderSpecs(unavailableHandler, unavailableHandler), ...settingsSpecs(null, () => [])], { reason: why, fix: 'give the agent a -data-dir' });
        registerAudit(ctx, audit);
        return { stop() {} };
      };
      if (o.dataDir === '') return off('no -data-dir (replay protection needs persistent state)');
      const dir = join(o.dataDir, 'remote');
      const kp = await loadOrCreateKey(join(o.dataDir, NODE_KEY_FILE), ctx.stateHealth);
      const nodeKey = { privateKey: kp.privateKey, raw: rawPublicKey(kp.publicKey) };
      const trust = await TrustStore.load(o.trustSpecs, new AtomicFile(join(dir, 'trust.json'), ctx.stateHealth));
      const sequences = await SequenceStore.load(new AtomicFile(join(dir, 'sequences.cbor'), ctx.stateHealth, true), ctx.limits.remoteReplayWindow);
      const rate = new RateLimiter({ burst: ctx.limits.remoteRateBurst, perMinute: ctx.limits.remoteRatePerMinute });
      const limitSets = await RemoteLimits.load(ctx.config, new AtomicFile(limitsFilePath(o.dataDir), ctx.stateHealth));
      const config: ConfigAccess = {
        get: () => ({
          node: ctx.config.nodeName, mode: ctx.config.mode, log_level: ctx.logger.level, join: ctx.config.join.join(','),
          trusted_operators: trust.list().map((k) => `${k.key}@${k.role}`).join(','),
          ...Object.fromEntries(Object.entries(ctx.limits).map(([k, v]) => [`limit.${k}`, String(v)])),
          ...limitSets.pendingSettings(),
        }),
        async set(name, value) {
          if (name.startsWith('limit.')) return limitSets.set(name.slice('limit.'.length), value);
          if (name === 'log_level') {
            const l = parseLogLevel(value);
            if (!l) throw new AgentError('E_INVALID', `log_level: ${value} is not a level`);
            ctx.logger.setLevel(l);
            return l;
          }
          if (name === 'join') {
            const seeds = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
            const n = await ctx.serf.join(seeds, true);
            return `${seeds.join(',')} (joined ${n})`;
          }
          if (name === 'trust') {
            const at = value.lastIndexOf('@');
            const k = await trust.trust(at < 0 ? value : value.slice(0, at), at < 0 ? 'admin' : parseRole(value.slice(at + 1)));
            return `${k.key}@${k.role}`;
          }
          if (name === 'untrust') return (await trust.untrust(value)) ? 'removed' : 'was not trusted';
          throw new AgentError('E_INVALID', `${name} cannot be set remotely (settable: log_level, join, trust, untrust, limit.NAME)`);
        },
      };
      const commands = remoteCommands({
        verbs: o.verbs(), rpcAddr: `${ctx.rpcAddress.host}:${ctx.rpcAddress.port}`, rpcAuth: ctx.config.rpcAuth,
        recentLog: () => ctx.logger.recent(), config, maxOutputBytes: ctx.limits.remoteAnswerMaxBytes,
      });
      for (const c of settingsSpecs(config, () => ctx.logger.recent())) ctx.registry.register(c);
      const executor = new RemoteExecutor({
        nodeName: ctx.config.nodeName, tags: () => ctx.serf.localMember().tags, nodeKey, trust, sequences, rate, audit,
        counters: ctx.counters, commands, roleOf: (name) => ctx.registry.roleOf(name), maxAnswerBytes: ctx.limits.remoteAnswerMaxBytes, maxConcurrent: ctx.limits.remoteConcurrent,
      });
      const budget = responseBudget(1024, ctx.config.nodeName);
      const unsubscribe = ctx.serf.onEvent((e) => {
        if (e.type !== 'query' || e.query.name !== REMOTE_QUERY_NAME) return;
        const q = e.query;
        void (async () => {
          const outcome = await executor.handle(q.payload, q.sourceNode);
          const reply = executor.reply(outcome, budget);
          try { await q.respond(reply.inline); } catch (err) {
            ctx.counters.inc('remote.respond_errors');
            log.warn(`answer to ${q.sourceNode}: ${errorMessage(err)}`);
          }
          if (reply.large && outcome.command?.reply) {
            const left = Math.max(1000, q.deadline - Date.now() + 10_000);
            try { await pushLargeAnswer(outcome.command.reply, reply.large, left); ctx.counters.inc('remote.large_answers'); } catch (err) {
              ctx.counters.inc('remote.large_answer_errors');
              log.warn(`large answer to ${q.sourceNode}: ${errorMessage(err)}`);
            }
          }
        })().catch((err) => log.error(`remote command: ${errorMessage(err)}`));
      });
      ctx.registry.register(defineCommand({
        name: 'operator.trust', summary: 'Trusts an operator key for remote control (admin or viewer)', role: 'admin',
        args: { Key: { type: 'string', required: true, doc: 'ed25519:BASE64 public key' }, Role: { type: 'string', doc: 'admin (default) or viewer' } },
        handler: async (a) => {
          const k = await trust.trust(a.Key, parseRole(a.Role === undefined || a.Role === '' ? 'admin' : a.Role));
          log.info(`operator key ${k.id} trusted as ${k.role}`);
          return { ID: k.id, Key: k.key, Role: k.role };
        },
      }));
      ctx.registry.register(defineCommand({
        name: 'operator.untrust', summary: 'Stops trusting an operator key (remembered across restarts)', role: 'admin',
        args: { Key: { type: 'string', required: true, doc: 'public key or its 16-hex-digit id' } },
        handler: async (a) => {
          const had = await trust.untrust(a.Key);
          log.info(`operator key ${a.Key} untrusted`);
          return { Removed: had };
        },
      }));
      if (sequences.lost) log.warn('remote sequence numbers lost (file moved aside): every trusted key is refused until `cloudy-agent operator unlock KEY -floor N` is run here');
      ctx.registry.register(defineCommand({
        name: 'operator.unlock',
        summary: 'After the sequence file was lost: lets a key run commands numbered above FLOOR (its operator\'s counter; 0 for a new key)',
        role: 'admin',
        args: { Key: { type: 'string', required: true, doc: 'public key or its 16-hex-digit id' }, Floor: { type: 'int', required: true, doc: 'numbers up to this one stay refused' } },
        handler: async (a) => {
          const id = /^[0-9a-f]{16}$/.test(a.Key) ? a.Key : trust.list().find((k) => k.key === a.Key)?.id;
          if (!id || !trust.byId(id)) throw new AgentError('E_NOT_FOUND', `key ${a.Key} is not trusted here`);
          await sequences.unlock(id, a.Floor);
          log.info(`operator key ${id} unlocked above sequence ${a.Floor}`);
          return { ID: id, Floor: a.Floor };
        },
      }));
      ctx.registry.register(defineCommand({
        name: 'operator.list', summary: 'Operator keys trusted for remote control', role: 'viewer', args: {},
        handler: async () => ({ Keys: trust.list().map((k) => ({ ID: k.id, Key: k.key, Role: k.role, Source: k.source })) }),
      }));
      ctx.registry.register(defineCommand({
        name: 'remote.node-key', summary: "This node's answer-signing public key (what requesters pin)", role: 'viewer', args: {},
        handler: async () => ({ Node: ctx.config.nodeName, Key: formatPublicKey(nodeKey.raw) }),
      }));
      registerAudit(ctx, audit);
      const closeSender = registerSender(ctx, o.dataDir, audit, commands);
      o.onStarted?.({ executor, trust, audit, sequences });
      if (trust.size === 0) log.info('no trusted operator keys: remote commands are refused');
      return {
        async stop() { unsubscribe(); await closeSender(); },
        stats: () => ({
          trusted_keys: String(trust.size), sequence_writes: String(sequences.writes),
          ...(sequences.lost ? { sequences: 'lost at start (file moved aside): keys refused until `operator unlock KEY -floor N`' } : {}),
        }),
      };
    },
  };
}

const unavailableHandler = async (): Promise<never> => { throw new AgentError('E_UNAVAILABLE', 'remote control is off'); };
/** The operator commands as declared when remote control is off (registerUnavailable). */
const OPERATOR_SPECS = [
  defineCommand({ name: 'operator.trust', summary: 'Trusts an operator key', role: 'admin', args: { Key: { type: 'string', required: true, doc: 'key' } }, handler: unavailableHandler }),
  defineCommand({ name: 'operator.untrust', summary: 'Stops trusting an operator key', role: 'admin', args: { Key: { type: 'string', required: true, doc: 'key' } }, handler: unavailableHandler }),
  defineCommand({ name: 'operator.list', summary: 'Trusted operator keys', role: 'viewer', args: {}, handler: unavailableHandler }),
  defineCommand({ name: 'remote.node-key', summary: "This node's answer-signing key", role: 'viewer', args: {}, handler: unavailableHandler }),
];

/** logs, config.get, config.set: what remote `logs` and `config` amount to (their roles), also on RPC and the HTTP API. */
function settingsSpecs(config: ConfigAccess | null, recent: () => readonly { line: string }[]) {
  const cfg = (): ConfigAccess => { if (!config) throw new AgentError('E_UNAVAILABLE', 'remote control is off'); return config; };
  return [
    defineCommand({
      name: 'logs', summary: "The newest lines of this agent's own log", role: 'viewer',
      args: { Lines: { type: 'int', doc: 'how many (default 100)' } },
      handler: async (a) => ({ Lines: recent().slice(-Math.max(0, a.Lines ?? 100)).map((r) => r.line) }),
    }),
    defineCommand({
      name: 'config.get', summary: 'Settings a remote operator may read (node, mode, log_level, join, trusted_operators, limits and pending limit changes)', role: 'viewer',
      args: { Name: { type: 'string', doc: 'one setting (default: all)' } },
      handler: async (a) => {
        const all = cfg().get();
        if (a.Name !== undefined && a.Name !== '' && !(a.Name in all)) throw new AgentError('E_NOT_FOUND', `unknown setting ${a.Name}`, { field: 'Name' });
        return { Settings: new Map(Object.entries(all).filter(([k]) => a.Name === undefined || a.Name === '' || k === a.Name).sort(([x], [y]) => x.localeCompare(y))) };
      },
    }),
    defineCommand({
      name: 'config.set', summary: 'Changes one allow-listed setting (log_level, join, trust, untrust; limit.NAME VALUE|default at next restart)', role: 'admin',
      args: { Name: { type: 'string', required: true, doc: 'setting' }, Value: { type: 'string', required: true, doc: 'new value' } },
      handler: async (a) => ({ Value: await cfg().set(a.Name, a.Value) }),
    }),
  ];
}

function registerAudit(ctx: DaemonContext, audit: AuditLog): void {
  ctx.registry.register(defineCommand({
    name: 'remote.log', summary: 'Remote commands received and sent (audit log)', role: 'viewer', args: {},
    handler: async () => ({ Records: audit.records().map((r) => ({ Time: r.time, Direction: r.direction, Peer: r.peer, KeyID: r.keyId, Seq: r.seq, Command: r.command, Outcome: r.outcome })) }),
  }));
  ctx.registry.register(defineCommand({
    name: 'remote.audit', summary: 'Records a remote command this node sent (the remote CLI reports here)', role: 'admin',
    args: {
      Peer: { type: 'string', required: true, doc: 'target node' }, KeyID: { type: 'string', doc: 'operator key id' },
      Seq: { type: 'int', doc: 'sequence number' }, Command: { type: 'string', required: true, doc: 'command line' },
      Outcome: { type: 'string', required: true, doc: 'ok, exit N, refused REASON, no answer' },
    },
    handler: async (a) => {
      const cut = (v: string | undefined): string => (v ?? '').slice(0, 512);
      audit.add({ direction: 'out', peer: cut(a.Peer), keyId: cut(a.KeyID), seq: a.Seq ?? 0, command: cut(a.Command), outcome: cut(a.Outcome) });
      return null;
    },
  }));
}

const RUN_ARGS = {
  Node: { type: 'string', doc: 'target node name (or use Tag)' },
  Tag: { type: 'string', doc: 'fan-out: KEY=REGEXP over the members\' tags' },
  Command: { type: 'string', required: true, doc: 'status, members, services, lxc, publish, unpublish, tags, logs, join, leave, config' },
  Args: { type: 'string[]', doc: 'arguments, as on the command line' },
  TimeoutMs: { type: 'int', doc: 'how long to wait for answers (default 30000)' },
} as const;

type Handler = (a: Record<string, unknown>) => Promise<unknown>;

/** remote.view (viewer: only commands a viewer key may run) and remote.run (admin): the full node's GUI/API use these. */
function senderSpecs(view: Handler, run: Handler) {
  return [
    defineCommand({ name: 'remote.view', summary: 'Runs a read-only command on another node (signed with this node\'s operator key)', role: 'viewer', args: RUN_ARGS, handler: (a) => view(a) }),
    defineCommand({ name: 'remote.run', summary: 'Runs a command on another node (signed with this node\'s operator key)', role: 'admin', args: RUN_ARGS, handler: (a) => run(a) }),
  ];
}

/** Returns the function that closes the client (its TCP listener for large answers). */
function registerSender(ctx: DaemonContext, dataDir: string, audit: AuditLog, commands: ReadonlyMap<string, RemoteCommand>): () => Promise<void> {
  let client: Promise<RemoteClient> | null = null;
  const keyPath = join(dataDir, 'operator.key');
  const open = (): Promise<RemoteClient> => {
    client ??= (async () => {
      let kp;
      try { kp = await readPrivateKey(keyPath); } catch (e) {
        client = null;
        throw new AgentError('E_UNAVAILABLE', `no operator key at ${keyPath}: ${errorMessage(e)}`, { reason: 'no operator key', fix: `cloudy-agent operator keygen -out ${keyPath}` });
      }
      return new RemoteClient({
        transport: serfTransport(ctx.serf), key: { privateKey: kp.privateKey, raw: rawPublicKey(kp.publicKey) },
        sequence: new OperatorSequence(new AtomicFile(`${keyPath}.seq`), Date.now, `${keyPath}.seq.lock`), pins: await NodePins.load(new AtomicFile(join(dataDir, 'known-nodes.json'))),
        replyHost: ctx.serf.localMember().addr, maxAnswerBytes: ctx.limits.remoteAnswerMaxBytes, audit,
      });
    })();
    return client;
  };
  const runWith = (viewerOnly: boolean): Handler => async (a) => {
    const command = a.Command as string;
    const args = (a.Args as string[] | undefined) ?? [];
    if (viewerOnly) {
      const spec = commands.get(command);
      if (!spec) throw new AgentError('E_INVALID', `${command} is not a remote command`, { field: 'Command' });
      // The registry's role of what the command amounts to (as the target checks it).
      if (ctx.registry.roleOf(spec.registryName(args)) !== 'viewer') throw new AgentError('E_FORBIDDEN', `${command} ${args[0] ?? ''} changes the node: it needs remote.run (admin)`.trim());
    }
    const tag = a.Tag as string | undefined;
    const node = a.Node as string | undefined;
    if ((tag === undefined) === (node === undefined)) throw new AgentError('E_INVALID', 'give Node or Tag', { field: 'Node' });
    let target: { node: string } | { tag: string; expr: string };
    if (tag !== undefined) {
      const eq = tag.indexOf('=');
      if (eq <= 0) throw new AgentError('E_INVALID', 'Tag: KEY=REGEXP', { field: 'Tag' });
      target = { tag: tag.slice(0, eq), expr: tag.slice(eq + 1) };
    } else target = { node: node! };
    const c = await open();
    const expected = 'tag' in target ? ctx.serf.members().filter((m) => m.status === 'alive' && (compileRe2((target as { expr: string }).expr)?.test(m.tags[(target as { tag: string }).tag] ?? '') ?? false)).map((m) => m.name) : undefined;
    const r = await c.run(target, command, args, { timeoutMs: (a.TimeoutMs as number | undefined) ?? 30_000, ...(expected ? { expected } : {}) });
    return {
      Results: r.results.map((x) => ({ Node: x.node, Status: x.status, Reason: x.reason ?? '', Exit: x.exit, Stdout: x.stdout, Stderr: x.stderr })),
      Missing: r.missing, Rejected: r.rejected.map((x) => ({ Node: x.node, Reason: x.reason })),
    };
  };
  for (const spec of senderSpecs(runWith(true), runWith(false))) ctx.registry.register(spec);
  return async () => { const c = client; client = null; if (c) await (await c.catch(() => null))?.close(); };
}
