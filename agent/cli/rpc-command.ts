// Shared plumbing of the RPC client subcommands (members, event, query, ...):
// serf's `-rpc-addr` / `-rpc-auth` flags with SERF_RPC_ADDR / SERF_RPC_AUTH
// defaults, Go-style flag parsing with one error line, and the connection.
import type { CliCommand, CliIO } from './command.ts';
import { FlagError, Flags, HelpRequested, parseFlags, type FlagSpecs } from './flags.ts';
import { RpcClient } from '../rpc/client.ts';
import { errorMessage } from '../errors.ts';

export const DEFAULT_RPC_ADDR = '127.0.0.1:7373';

export interface RpcCommandEnv {
  flags: Flags;
  io: CliIO;
  /** Opens the RPC connection; on failure prints serf's message and returns null. */
  connect(): Promise<RpcClient | null>;
  out(line: string): void;
  err(line: string): void;
}

export interface RpcCommandDef {
  name: string;
  summary: string;
  help: string;
  flags: FlagSpecs;
  run(env: RpcCommandEnv): Promise<number>;
}

/** Builds a CliCommand that parses flags like serf and closes its client afterwards. */
export function rpcCommand(def: RpcCommandDef): CliCommand {
  return {
    name: def.name,
    summary: def.summary,
    async run(argv: string[], io: CliIO): Promise<number> {
      let flags: Flags;
      try {
        flags = new Flags(parseFlags(argv, { ...def.flags, 'rpc-addr': 'string', 'rpc-auth': 'string' }));
      } catch (e) {
        if (e instanceof HelpRequested) { io.stdout(`${def.help.trim()}\n`); return 1; }
        if (e instanceof FlagError) { io.stderr(`${e.message}\n`); return 1; }
        throw e;
      }
      const clients: RpcClient[] = [];
      const env: RpcCommandEnv = {
        flags,
        io,
        out: (l) => io.stdout(`${l}\n`),
        // serf's CLI Ui has no separate error writer: its error lines go to stdout.
        err: (l) => io.stdout(`${l}\n`),
        connect: async () => {
          const addr = flags.str('rpc-addr', io.env.SERF_RPC_ADDR || DEFAULT_RPC_ADDR);
          const auth = flags.str('rpc-auth', io.env.SERF_RPC_AUTH ?? '');
          try {
            const c = await RpcClient.connect(addr, { authKey: auth });
            clients.push(c);
            return c;
          } catch (e) {
            io.stdout(`Error connecting to Serf agent: ${errorMessage(e)}\n`);
            return null;
          }
        },
      };
      try {
        return await def.run(env);
      } finally {
        for (const c of clients) c.close();
      }
    },
  };
}

/** serf prints the command help (to stdout via Ui.Output, or stderr via Ui.Error). */
export function helpText(h: string): string {
  return h.trim();
}
