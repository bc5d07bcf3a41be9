// CLI verbs of remote control:
//   operator keygen [-out FILE]          a new operator key (default <data-dir>/operator.key)
//   operator show [-key FILE] [-node]    its public key on one line (-node: this agent's node key, over RPC)
//   operator trust KEY [-role admin|viewer] | operator untrust KEY | operator list     (running agent, RPC)
//   remote [-key FILE] [-tag KEY=REGEXP] [-timeout 30s] [-relay-factor N] [-format text|json] [-pin NODE=KEY]
//          NODE COMMAND [ARGS...]        (with -tag there is no NODE)
//   remote-log [-format text|json]
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { CliCommand, CliIO } from '../cli-kit/command.ts';
import { FlagError, Flags, HelpRequested, parseFlags, type FlagSpecs } from '../cli-kit/flags.ts';
import { RpcClient } from '../rpc/client.ts';
import { DEFAULT_RPC_ADDR } from '../config/agent-config.ts';
import { defaultDataDir } from '../config/host-defaults.ts';
import { AtomicFile } from '../state/atomic-file.ts';
import { compileRe2 } from '../gossip/serf/filters.ts';
import { errorMessage } from '../errors.ts';
import { formatPublicKey, generateKeyPair, keyIdHex, rawPublicKey, readPrivateKey, writePrivateKey } from './keys.ts';
import { NodePins, OperatorSequence, RemoteClient, type RemoteResult, type RemoteTarget } from './sender.ts';
import { rpcTransport } from './transports.ts';

const RPC: FlagSpecs = { 'rpc-addr': 'string', 'rpc-auth': 'string' };
const DEFAULT_TIMEOUT_MS = 30_000;
/** Largest answer the CLI accepts (the edge's own cap is limits.remoteAnswerMaxBytes). */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

function defaultKeyPath(f: Flags, io: CliIO): string {
  const dir = f.str('data-dir', '') || io.env.CLOUDY_DATA_DIR || defaultDataDir({ isRoot: process.getuid?.() === 0, home: io.env.HOME || homedir() });
  return join(dir, 'operator.key');
}

/** Flags before or after the positional arguments (operator verbs); `interleaved` false stops at the first positional (remote). */
function parse(argv: string[], specs: FlagSpecs, io: CliIO, help: string, interleaved = true): Flags | number {
  try {
    if (!interleaved) return new Flags(parseFlags(argv, specs));
    const values = new Map<string, string | boolean | string[]>();
    const args: string[] = [];
    let rest = argv;
    for (let guard = 0; guard <= argv.length; guard++) {
      const p = parseFlags(rest, specs);
      for (const [k, v] of p.values) values.set(k, Array.isArray(v) ? [...((values.get(k) as string[] | undefined) ?? []), ...v] : v);
      if (p.args.length === 0) break;
      args.push(p.args[0]!);
      rest = p.args.slice(1);
    }
    return new Flags({ values, args });
  } catch (e) {
    if (e instanceof HelpRequested) { io.stdout(help); return 1; }
    if (e instanceof FlagError) { io.stderr(`${e.message}\n`); return 1; }
    throw e;
  }
}

async function connect(f: Flags, io: CliIO): Promise<RpcClient> {
  const addr = f.str('rpc-addr', io.env.SERF_RPC_ADDR || DEFAULT_RPC_ADDR);
  const auth = f.str('rpc-auth', io.env.SERF_RPC_AUTH || '');
  return RpcClient.connect(addr, auth ? { authKey: auth } : {});
}

const s = (v: unknown): string => (typeof v === 'string' ? v : v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v ?? ''));
const rec = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? v as Record<string, unknown> : {});

const OPERATOR_HELP = `Usage: cloudy-agent operator <keygen|show|trust|untrust|list> [options]

    keygen [-out FILE]              make an Ed25519 operator key (default <data-dir>/operator.key)
    show [-key FILE]                print its public key (one line, for -trust-operator)
    show -node                      print the running agent's node key (what requesters pin)
    trust KEY [-role admin|viewer]  trust an operator key on the running agent (local RPC)
    untrust KEY|ID                  stop trusting it
    list                            the trusted keys
Options: -data-dir DIR, -rpc-addr, -rpc-auth
`;

export const operatorCommand: CliCommand = {
  name: 'operator',
  summary: 'Operator keys for remote control: keygen, show, trust, untrust, list',
  async run(argv, io) {
    const [sub, ...rest] = argv;
    const f = parse(rest, { ...RPC, out: 'string', key: 'string', 'data-dir': 'string', role: 'string', node: 'bool' }, io, OPERATOR_HELP);
    if (typeof f === 'number') return f;
    try {
      switch (sub) {
        case 'keygen': {
          const out = f.str('out', '') || defaultKeyPath(f, io);
          const kp = generateKeyPair();
          await writePrivateKey(out, kp.privateKey);
          const raw = rawPublicKey(kp.publicKey);
          io.stdout(`Operator key written to ${out} (id ${keyIdHex(raw)})\nPublic key: ${formatPublicKey(raw)}\n`);
          return 0;
        }
        case 'show': {
          if (f.bool('node')) {
            const c = await connect(f, io);
            try { io.stdout(`${s(rec(await c.call('remote-node-key', undefined, 'on-success')).Key)}\n`); } finally { c.close(); }
            return 0;
          }
          const kp = await readPrivateKey(f.str('key', '') || defaultKeyPath(f, io));
          io.stdout(`${formatPublicKey(rawPublicKey(kp.publicKey))}\n`);
          return 0;
        }
        case 'trust': case 'untrust': case 'list': {
          if (sub !== 'list' && f.args.length !== 1) { io.stderr(OPERATOR_HELP); return 1; }
          const c = await connect(f, io);
          try {
            if (sub === 'trust') {
              const r = rec(await c.call('operator-trust', { Key: f.args[0]!, Role: f.str('role', 'admin') }, 'on-success'));
              io.stdout(`Trusted ${s(r.ID)} as ${s(r.Role)}\n`);
            } else if (sub === 'untrust') {
              const r = rec(await c.call('operator-untrust', { Key: f.args[0]! }, 'on-success'));
              io.stdout(r.Removed ? 'Removed\n' : 'Was not trusted (now refused even if a flag or the config names it)\n');
            } else {
              const keys = (rec(await c.call('operator-list', undefined, 'on-success')).Keys ?? []) as unknown[];
              for (const k of keys.map(rec)) io.stdout(`${s(k.ID)}  ${s(k.Role).padEnd(6)}  ${s(k.Key)}  (${s(k.Source)})\n`);
            }
          } finally { c.close(); }
          return 0;
        }
        default:
          io.stderr(OPERATOR_HELP);
          return 1;
      }
    } catch (e) {
      io.stderr(`Error: ${errorMessage(e)}\n`);
      return 1;
    }
  },
};

const REMOTE_HELP = `Usage: cloudy-agent remote [options] NODE COMMAND [ARGS...]
       cloudy-agent remote [options] -tag KEY=REGEXP COMMAND [ARGS...]

Runs a command on another node, signed with an operator key, carried by a serf
query. Prints what the command prints there and exits with its status.
Commands: status, members, services, lxc list|info|create|start|stop|restart|destroy|config,
publish, unpublish, tags set|delete, logs [-lines N], join ADDR, leave, config get|set.

Options:
  -key FILE            operator key (default <data-dir>/operator.key)
  -tag KEY=REGEXP      every node whose tag matches (unanchored, like serf query -tag)
  -timeout 30s         how long to wait for answers
  -relay-factor N      serf relay factor for the answers (0..5)
  -format text|json
  -pin NODE=KEY        pin a node's key (else the first answer pins it, like ssh)
  -rpc-addr, -rpc-auth, -data-dir
`;

export const remoteCommand: CliCommand = {
  name: 'remote',
  summary: 'Run a command on another node (signed, over serf queries)',
  async run(argv, io) {
    const f = parse(argv, { ...RPC, key: 'string', tag: 'string', timeout: 'duration', 'relay-factor': 'int', format: 'string', pin: 'list', 'data-dir': 'string' }, io, REMOTE_HELP, false);
    if (typeof f === 'number') return f;
    const format = f.str('format', 'text');
    if (format !== 'text' && format !== 'json') { io.stderr(`Invalid format: ${format}\n`); return 1; }
    const tag = f.str('tag', '');
    const pos = f.args;
    let target: RemoteTarget;
    let command: string | undefined;
    let args: string[];
    if (tag !== '') {
      const eq = tag.indexOf('=');
      if (eq <= 0) { io.stderr('-tag must be KEY=REGEXP\n'); return 1; }
      if (compileRe2(tag.slice(eq + 1)) === null) { io.stderr(`-tag: bad regular expression ${tag.slice(eq + 1)}\n`); return 1; }
      target = { tag: tag.slice(0, eq), expr: tag.slice(eq + 1) };
      [command, ...args] = pos;
    } else {
      const [node, c, ...a] = pos;
      if (node === undefined) { io.stderr(REMOTE_HELP); return 1; }
      target = { node };
      command = c; args = a;
    }
    if (command === undefined) { io.stderr(REMOTE_HELP); return 1; }
    const keyPath = f.str('key', '') || defaultKeyPath(f, io);
    const timeoutMs = f.durationMs('timeout', DEFAULT_TIMEOUT_MS);
    let c: RpcClient | null = null;
    let client: RemoteClient | null = null;
    try {
      const kp = await readPrivateKey(keyPath);
      const raw = rawPublicKey(kp.publicKey);
      const pins = await NodePins.load(new AtomicFile(join(dirname(keyPath), 'known-nodes.json')));
      for (const p of f.list('pin')) {
        const eq = p.indexOf('=');
        if (eq <= 0) { io.stderr('-pin must be NODE=KEY\n'); return 1; }
        await pins.pin(p.slice(0, eq), p.slice(eq + 1));
      }
      c = await connect(f, io);
      const selfName = (await c.stats()).agent?.name ?? '';
      const members = await c.members();
      const self = members.find((m) => m.name === selfName);
      const expected = 'tag' in target
        ? members.filter((m) => m.status === 'alive' && compileRe2((target as { expr: string }).expr)!.test(m.tags[(target as { tag: string }).tag] ?? '')).map((m) => m.name)
        : undefined;
      client = new RemoteClient({
        transport: rpcTransport(c), key: { privateKey: kp.privateKey, raw }, sequence: new OperatorSequence(new AtomicFile(`${keyPath}.seq`), Date.now, `${keyPath}.seq.lock`),
        pins, replyHost: self?.addr ?? '', maxAnswerBytes: MAX_ANSWER_BYTES,
      });
      const r = await client.run(target, command, args, { timeoutMs, relayFactor: f.int('relay-factor', 0), ...(expected ? { expected } : {}) });
      for (const x of r.results) {
        await c.call('remote-audit', { Peer: x.node, KeyID: keyIdHex(raw), Seq: 0, Command: [command, ...args].join(' '), Outcome: outcomeOf(x) }, 'on-success').catch(() => {});
      }
      for (const m of r.missing) await c.call('remote-audit', { Peer: m, KeyID: keyIdHex(raw), Seq: 0, Command: [command, ...args].join(' '), Outcome: 'no answer' }, 'on-success').catch(() => {});
      for (const x of r.rejected) io.stderr(`Warning: rejected an answer claiming to come from ${x.node}: ${x.reason}\n`);
      return print(io, format, 'node' in target, r.results, r.missing, timeoutMs);
    } catch (e) {
      io.stderr(`Error: ${errorMessage(e)}\n`);
      return 1;
    } finally {
      await client?.close();
      c?.close();
    }
  },
};

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

export const remoteLogCommand: CliCommand = {
  name: 'remote-log',
  summary: 'Remote commands this node received and sent (audit log)',
  async run(argv, io) {
    const f = parse(argv, { ...RPC, format: 'string' }, io, 'Usage: cloudy-agent remote-log [-format text|json] [-rpc-addr ADDR]\n');
    if (typeof f === 'number') return f;
    try {
      const c = await connect(f, io);
      try {
        const recs = ((rec(await c.call('remote-log', undefined, 'on-success')).Records ?? []) as unknown[]).map(rec);
        const rows = recs.map((r) => ({ time: s(r.Time), direction: s(r.Direction), peer: s(r.Peer), keyId: s(r.KeyID), seq: Number(r.Seq ?? 0), command: s(r.Command), outcome: s(r.Outcome) }));
        if (f.str('format', 'text') === 'json') io.stdout(JSON.stringify(rows, null, 2) + '\n');
        else for (const r of rows) io.stdout(`${r.time}  ${r.direction === 'in' ? 'from' : 'to  '} ${r.peer}  key ${r.keyId}  ${r.command}  -> ${r.outcome}\n`);
      } finally { c.close(); }
      return 0;
    } catch (e) {
      io.stderr(`Error: ${errorMessage(e)}\n`);
      return 1;
    }
  },
};
