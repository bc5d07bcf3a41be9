// CLI verbs of remote control:
//   operator keygen [-out FILE]          a new operator key (default <data-dir>/operator.key)
//   operator show [-key FILE] [-node]    its public key on one line (-node: this agent's node key, over RPC)
//   operator trust KEY [-role admin|viewer] | operator untrust KEY | operator list     (running agent, RPC)
//   remote [-key FILE] [-tag KEY=REGEXP] [-timeout 30s] [-relay-factor N] [-format text|json] [-pin NODE=KEY]
//          NODE COMMAND [ARGS...]        (with -tag there is no NODE)
//   remote-log [-format text|json]
// Built on the one CLI scaffold (cli-kit/rpc-command.ts, our verbs' style: flags anywhere,
// except after `remote NODE COMMAND`, one error line on stderr).
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { rpcCommand, rpcCommandGroup, type RpcCommandDef, type RpcCommandEnv } from '../cli-kit/rpc-command.ts';
import type { CliIO } from '../cli-kit/command.ts';
import type { Flags, FlagSpecs } from '../cli-kit/flags.ts';
import { defaultDataDir } from '../config/host-defaults.ts';
import { AtomicFile } from '../state/atomic-file.ts';
import { compileRe2 } from '../gossip/serf/filters.ts';
import { formatPublicKey, generateKeyPair, keyIdHex, rawPublicKey, readPrivateKey, writePrivateKey } from './keys.ts';
import { NodePins, OperatorSequence, RemoteClient, type RemoteResult, type RemoteTarget } from './sender.ts';
import { rpcTransport } from './transports.ts';

const DEFAULT_TIMEOUT_MS = 30_000;
/** Largest answer the CLI accepts (the edge's own cap is limits.remoteAnswerMaxBytes). */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

function defaultKeyPath(f: Flags, io: CliIO): string {
  const dir = f.str('data-dir', '') || io.env.CLOUDY_DATA_DIR || defaultDataDir({ isRoot: process.getuid?.() === 0, home: io.env.HOME || homedir() });
  return join(dir, 'operator.key');
}

const s = (v: unknown): string => (typeof v === 'string' ? v : v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v ?? ''));
const rec = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? v as Record<string, unknown> : {});

const OPERATOR_HELP = `Usage: cloudy-agent operator <keygen|show|trust|untrust|list|unlock> [options]

    keygen [-out FILE]              make an Ed25519 operator key (default <data-dir>/operator.key)
    show [-key FILE]                print its public key (one line, for -trust-operator)
    show -node                      print the running agent's node key (what requesters pin)
    trust KEY [-role admin|viewer]  trust an operator key on the running agent (local RPC)
    untrust KEY|ID                  stop trusting it
    list                            the trusted keys
    unlock KEY|ID -floor N          after a lost sequence file: let KEY run numbers above N
                                    (N = the operator's counter, in its <key>.seq; 0 for a new key)
Options: -data-dir DIR, -rpc-addr, -rpc-auth
`;

const DATA_DIR: FlagSpecs = { 'data-dir': 'string' };

/** An `operator` subcommand: flags anywhere, usage = OPERATOR_HELP. */
function operatorSub(name: string, def: Pick<RpcCommandDef, 'flags' | 'rpc' | 'run'>): RpcCommandDef {
  return { name, summary: '', help: OPERATOR_HELP, ...def, flags: { ...DATA_DIR, ...def.flags } };
}

/** A trust-store subcommand with `want` positional arguments. */
const wants = (env: RpcCommandEnv, want: number): boolean => env.flags.args.length === want;

export const operatorCommand = rpcCommandGroup({
  name: 'operator',
  summary: 'Operator keys for remote control: keygen, show, trust, untrust, list',
  usage: OPERATOR_HELP,
  subcommands: [
    operatorSub('keygen', {
      flags: { out: 'string' },
      rpc: false,
      async run(env) {
        const out = env.flags.str('out', '') || defaultKeyPath(env.flags, env.io);
        const kp = generateKeyPair();
        await writePrivateKey(out, kp.privateKey);
        const raw = rawPublicKey(kp.publicKey);
        env.out(`Operator key written to ${out} (id ${keyIdHex(raw)})\nPublic key: ${formatPublicKey(raw)}`);
        return 0;
      },
    }),
    operatorSub('show', {
      flags: { key: 'string', node: 'bool' },
      async run(env) {
        if (env.flags.bool('node')) {
          env.out(s(rec(await env.call('remote.node-key', undefined, true)).Key));
          return 0;
        }
        const kp = await readPrivateKey(env.flags.str('key', '') || defaultKeyPath(env.flags, env.io));
        env.out(formatPublicKey(rawPublicKey(kp.publicKey)));
        return 0;
      },
    }),
    operatorSub('trust', {
      flags: { role: 'string' },
      async run(env) {
        if (!wants(env, 1)) return env.usage(OPERATOR_HELP);
        const r = rec(await env.call('operator.trust', { Key: env.flags.args[0]!, Role: env.flags.str('role', 'admin') }, true));
        env.out(`Trusted ${s(r.ID)} as ${s(r.Role)}`);
        return 0;
      },
    }),
    operatorSub('untrust', {
      flags: {},
      async run(env) {
        if (!wants(env, 1)) return env.usage(OPERATOR_HELP);
        const r = rec(await env.call('operator.untrust', { Key: env.flags.args[0]! }, true));
        env.out(r.Removed ? 'Removed' : 'Was not trusted (now refused even if a flag or the config names it)');
        return 0;
      },
    }),
    operatorSub('unlock', {
      flags: { floor: 'string' },
      async run(env) {
        const floor = Number(env.flags.str('floor', ''));
        if (!wants(env, 1) || !Number.isSafeInteger(floor) || floor < 0) return env.usage(OPERATOR_HELP);
        const r = rec(await env.call('operator.unlock', { Key: env.flags.args[0]!, Floor: floor }, true));
        env.out(`Unlocked ${s(r.ID)} above ${s(r.Floor)}`);
        return 0;
      },
    }),
    operatorSub('list', {
      flags: {},
      async run(env) {
        const keys = (rec(await env.call('operator.list', undefined, true)).Keys ?? []) as unknown[];
        for (const k of keys.map(rec)) env.out(`${s(k.ID)}  ${s(k.Role).padEnd(6)}  ${s(k.Key)}  (${s(k.Source)})`);
        return 0;
      },
    }),
  ],
});

const REMOTE_HELP = `Usage: cloudy-agent remote [options] NODE COMMAND [ARGS...]
       cloudy-agent remote [options] -tag KEY=REGEXP COMMAND [ARGS...]

Runs a command on another node, signed with an operator key, carried by a serf
query. Prints what the command prints there and exits with its status.
Commands: status, members, services, lxc list|info|create|start|stop|restart|destroy|config,
publish, unpublish, tags set|delete, logs [-lines N], join ADDR, leave, config get|set.

Options:
  -key FILE            operator key (default <data-dir>/operator.key)
  -tag KEY=REGEXP      every node whose tag matches (unanchored, like serf query -tag)
  -timeout 30s         how long to wait for answers (-tag: stops early once every
                       alive member that matches has answered)
  -relay-factor N      serf relay factor for the answers (0..5)
  -format text|json
  -pin NODE=KEY        pin a node's key (else the first answer pins it, like ssh)
  -rpc-addr, -rpc-auth, -data-dir
`;

export const remoteCommand = rpcCommand({
  name: 'remote',
  summary: 'Run a command on another node (signed, over serf queries)',
  style: 'cloudy',
  // The arguments after NODE COMMAND are the remote command's own (`logs -lines 50`), as with ssh.
  flagsAnywhere: false,
  help: REMOTE_HELP,
  flags: { key: 'string', tag: 'string', timeout: 'duration', 'relay-factor': 'int', format: 'string', pin: 'list', 'data-dir': 'string' },
  async run(env) {
    const f = env.flags;
    const io = env.io;
    const format = f.str('format', 'text');
    if (format !== 'text' && format !== 'json') return env.usage(`Invalid format: ${format}`);
    const tag = f.str('tag', '');
    const pos = f.args;
    let target: RemoteTarget;
    let command: string | undefined;
    let args: string[];
    if (tag !== '') {
      const eq = tag.indexOf('=');
      if (eq <= 0) return env.usage('-tag must be KEY=REGEXP');
      if (compileRe2(tag.slice(eq + 1)) === null) return env.usage(`-tag: bad regular expression ${tag.slice(eq + 1)}`);
      target = { tag: tag.slice(0, eq), expr: tag.slice(eq + 1) };
      [command, ...args] = pos;
    } else {
      const [node, c, ...a] = pos;
      if (node === undefined) return env.usage(REMOTE_HELP);
      target = { node };
      command = c; args = a;
    }
    if (command === undefined) return env.usage(REMOTE_HELP);
    const keyPath = f.str('key', '') || defaultKeyPath(f, io);
    const timeoutMs = f.durationMs('timeout', DEFAULT_TIMEOUT_MS);
    let client: RemoteClient | null = null;
    try {
      const kp = await readPrivateKey(keyPath);
      const raw = rawPublicKey(kp.publicKey);
      const pins = await NodePins.load(new AtomicFile(join(dirname(keyPath), 'known-nodes.json')));
      for (const p of f.list('pin')) {
        const eq = p.indexOf('=');
        if (eq <= 0) return env.usage('-pin must be NODE=KEY');
        await pins.pin(p.slice(0, eq), p.slice(eq + 1));
      }
      const c = await env.connect();
      if (!c) return 1;
      const selfName = (await c.stats()).agent?.name ?? '';
      const members = await c.members();
      const self = members.find((m) => m.name === selfName);
      const expected = 'tag' in target
        ? members.filter((m) => m.status === 'alive' && compileRe2((target as { expr: string }).expr)!.test(m.tags[(target as { tag: string }).tag] ?? '')).map((m) => m.name)
        : undefined;
      client = new RemoteClient({
        transport: rpcTransport(c), key: { privateKey: kp.privateKey, raw }, sequence: new OperatorSequence(new AtomicFile(`${keyPath}.seq`)),
        pins, replyHost: self?.addr ?? '', maxAnswerBytes: MAX_ANSWER_BYTES,
      });
      const r = await client.run(target, command, args, { timeoutMs, relayFactor: f.int('relay-factor', 0), ...(expected ? { expected } : {}) });
      const audit = (peer: string, outcome: string) =>
        env.call('remote.audit', { Peer: peer, KeyID: keyIdHex(raw), Seq: 0, Command: [command, ...args].join(' '), Outcome: outcome }, true).catch(() => {});
      for (const x of r.results) await audit(x.node, outcomeOf(x));
      for (const m of r.missing) await audit(m, 'no answer');
      for (const x of r.rejected) io.stderr(`Warning: rejected an answer claiming to come from ${x.node}: ${x.reason}\n`);
      return print(io, format, 'node' in target, r.results, r.missing, timeoutMs);
    } finally {
      await client?.close();
    }
  },
});

function outcomeOf(r: RemoteResult): string {
  return r.status === 'ok' ? (r.exit === 0 ? 'ok' : `exit ${r.exit}`) : `${r.status} ${r.reason ?? ''}`.trim();
}

function print(io: CliIO, format: string, single: boolean, results: RemoteResult[], missing: string[], timeoutMs: number): number {
  if (format === 'json') {
    io.stdout(JSON.stringify(single && results.length === 1 ? results[0] : { results, missing }, null, 2) + '\n');
  } else if (single) {
    for (const r of results) { io.stdout(r.stdout); io.stderr(r.stderr); }
    if (missing.length > 0) io.stderr(`No answer from ${missing[0]} within ${timeoutMs / 1000}s\n`);
  } else {
    for (const r of results) {
      io.stdout(`==> ${r.node}: ${outcomeOf(r)}\n${r.stdout}${r.stderr}`);
      if (!(r.stdout + r.stderr).endsWith('\n') && (r.stdout + r.stderr) !== '') io.stdout('\n');
    }
    io.stdout(`${results.length} answered${missing.length > 0 ? `, no answer from: ${missing.join(', ')}` : ''}\n`);
  }
  if (single) return results[0]?.status === 'ok' ? results[0].exit : 1;
  return missing.length === 0 && results.every((r) => r.status === 'ok' && r.exit === 0) ? 0 : 1;
}

export const remoteLogCommand = rpcCommand({
  name: 'remote-log',
  summary: 'Remote commands this node received and sent (audit log)',
  style: 'cloudy',
  help: 'Usage: cloudy-agent remote-log [-format text|json] [-rpc-addr ADDR]',
  flags: { format: 'string' },
  async run(env) {
    const recs = ((rec(await env.call('remote.log', undefined, true)).Records ?? []) as unknown[]).map(rec);
    const rows = recs.map((r) => ({ time: s(r.Time), direction: s(r.Direction), peer: s(r.Peer), keyId: s(r.KeyID), seq: Number(r.Seq ?? 0), command: s(r.Command), outcome: s(r.Outcome) }));
    if (env.flags.str('format', 'text') === 'json') env.out(JSON.stringify(rows, null, 2));
    else for (const r of rows) env.out(`${r.time}  ${r.direction === 'in' ? 'from' : 'to  '} ${r.peer}  key ${r.keyId}  ${r.command}  -> ${r.outcome}`);
    return 0;
  },
});
