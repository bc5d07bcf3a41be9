// The one scaffold of every CLI subcommand that talks to the running agent over
// RPC: serf's `-rpc-addr` / `-rpc-auth` flags with SERF_RPC_ADDR /
// SERF_RPC_AUTH defaults, Go-style flag parsing, the connection, and errors.
//
// Two styles, chosen per command:
//   'serf'   (default) serf's own verbs (members, join, event...): flags end at
//            the first argument, like Go's flag package, and every line goes to
//            stdout exactly as serf's CLI prints it (its Ui has no error writer).
//   'cloudy' our own verbs (publish, search, lxc ...): flags anywhere among the
//            arguments ("--" ends them; what follows is env.rest), usage and
//            errors as one line on stderr, status 1:
//              Error connecting to the agent: <why>
//              Error: <CODE>: <message>          (the agent's AgentError)
//            and env.call() runs a registry command by its name (`lxc.create`).
//
// A family of subcommands (`lxc list|create|...`) is rpcCommandGroup(): each
// subcommand is an RpcCommandDef of its own. A verb that works on local files
// only (operator keygen, passwd, token, guifi) says `rpc: false` and gets no
// RPC flags; one whose trailing arguments belong to something else (`remote
// NODE COMMAND ARGS...`) says `flagsAnywhere: false`: its flags end at the
// first argument, with the 'cloudy' error style.
import type { CliCommand, CliIO } from './command.ts';
import { FlagError, Flags, HelpRequested, parseFlagsAnywhere, parseFlags, type FlagSpecs, type ParsedFlags } from './flags.ts';
import { RpcClient } from '../rpc/client.ts';
import { rpcNameOf } from '../commands/rpc-verbs.ts';
import { DEFAULT_RPC_ADDR } from '../config/agent-config.ts';
import { errorMessage } from '../errors.ts';
import type { GoValue } from '../gossip/wire/msgpack.ts';

export interface RpcCommandEnv {
  flags: Flags;
  /** 'cloudy' style: the arguments after "--" (e.g. the command of `lxc exec`). */
  rest: string[];
  io: CliIO;
  /** Opens the RPC connection; on failure prints the style's message and returns null. */
  connect(): Promise<RpcClient | null>;
  /**
   * 'cloudy' style: runs a registry command (`lxc.create`) with its arguments;
   * `reply`: whether it answers with a body. Failures are thrown and printed
   * by the scaffold in the one error style.
   */
  call(command: string, args?: Record<string, GoValue | undefined>, reply?: boolean): Promise<unknown>;
  out(line: string): void;
  err(line: string): void;
  /** Prints a usage or argument error line on stderr; returns the status (1). */
  usage(line: string): number;
}

export interface RpcCommandDef {
  name: string;
  summary: string;
  help: string;
  flags: FlagSpecs;
  style?: 'serf' | 'cloudy';
  /** false: no -rpc-addr / -rpc-auth (the verb never talks to the agent). Default true. */
  rpc?: boolean;
  /** 'cloudy' style only: false ends the flags at the first argument. Default true. */
  flagsAnywhere?: boolean;
  run(env: RpcCommandEnv): Promise<number>;
}

/** Connection failure already reported to the user (the scaffold prints nothing more). */
class Reported extends Error {}

/** Builds a CliCommand that parses flags, connects on demand and closes its client afterwards. */
export function rpcCommand(def: RpcCommandDef): CliCommand {
  const cloudy = def.style === 'cloudy';
  return {
    name: def.name,
    summary: def.summary,
    async run(argv: string[], io: CliIO): Promise<number> {
      const specs: FlagSpecs = def.rpc === false ? def.flags : { ...def.flags, 'rpc-addr': 'string', 'rpc-auth': 'string' };
      let parsed: ParsedFlags & { rest: string[] };
      try {
        parsed = cloudy && def.flagsAnywhere !== false ? parseFlagsAnywhere(argv, specs) : { ...parseFlags(argv, specs), rest: [] };
      } catch (e) {
        if (e instanceof HelpRequested) { io.stdout(`${def.help.trim()}\n`); return 1; }
        if (e instanceof FlagError) { io.stderr(`${e.message}\n`); return 1; }
        throw e;
      }
      const flags = new Flags(parsed);
      const clients: RpcClient[] = [];
      const line = (w: (s: string) => void) => (l: string) => w(`${l}\n`);
      const connect = async (): Promise<RpcClient | null> => {
        const addr = flags.str('rpc-addr', io.env.SERF_RPC_ADDR || DEFAULT_RPC_ADDR);
        const auth = flags.str('rpc-auth', io.env.SERF_RPC_AUTH ?? '');
        try {
          const c = await RpcClient.connect(addr, { authKey: auth });
          clients.push(c);
          return c;
        } catch (e) {
          if (cloudy) io.stderr(`Error connecting to the agent: ${errorMessage(e)}\n`);
          else io.stdout(`Error connecting to Serf agent: ${errorMessage(e)}\n`);
          return null;
        }
      };
      const env: RpcCommandEnv = {
        flags,
        rest: parsed.rest,
        io,
        out: line(io.stdout),
        // serf's CLI Ui has no separate error writer: its error lines go to stdout.
        err: line(cloudy ? io.stderr : io.stdout),
        usage: (l) => { io.stderr(l.endsWith('\n') ? l : `${l}\n`); return 1; },
        connect,
        async call(command, args, reply = false) {
          const c = clients[0] ?? await connect();
          if (!c) throw new Reported();
          const body = args === undefined ? undefined : dropUndefined(args);
          return c.call(rpcNameOf(command), body, reply ? 'on-success' : false);
        },
      };
      try {
        return await def.run(env);
      } catch (e) {
        if (!cloudy) throw e;
        if (!(e instanceof Reported)) io.stderr(`Error: ${errorMessage(e)}\n`);
        return 1;
      } finally {
        for (const c of clients) c.close();
      }
    },
  };
}

function dropUndefined(o: Record<string, GoValue | undefined>): Record<string, GoValue> {
  const out: Record<string, GoValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

export interface RpcCommandGroupDef {
  name: string;
  summary: string;
  /** Printed (stderr) for no subcommand, `help`, -h, or an unknown one. */
  usage: string;
  subcommands: readonly RpcCommandDef[];
}

/** `name <subcommand> ...`: each subcommand parsed and run by rpcCommand in the 'cloudy' style. */
export function rpcCommandGroup(def: RpcCommandGroupDef): CliCommand {
  const subs = new Map(def.subcommands.map((s) => [s.name, rpcCommand({ ...s, style: 'cloudy' })]));
  return {
    name: def.name,
    summary: def.summary,
    async run(argv, io) {
      const sub = argv[0];
      if (!sub || sub === 'help' || sub === '-h' || sub === '--help') {
        io.stderr(def.usage);
        return sub ? 0 : 1;
      }
      const cmd = subs.get(sub);
      if (!cmd) { io.stderr(`Unknown ${def.name} subcommand: ${sub}\n${def.usage}`); return 1; }
      return cmd.run(argv.slice(1), io);
    },
  };
}
