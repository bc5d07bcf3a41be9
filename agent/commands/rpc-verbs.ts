// The registry served on serf's agent RPC: how its commands are named on the
// wire and how a request reaches registry.invoke. rpc/ only knows the
// RpcExtensions interface it declares; this adapter sits above it.
//
// serf's RPC has one flat namespace of verbs, and ours must never collide with
// serf's (a future serf verb would shadow it), so: a family command
// `lxc.create` travels as `lxc-create`, any other command `x` as `cloudy-x`
// (cloudy-publish, cloudy-search, ...). These are the names our CLI and older
// clients send.
import type { RpcExtension, RpcExtensions } from '../rpc/connection.ts';
import type { CommandRegistry } from './registry.ts';

export function rpcNameOf(command: string): string {
  return command.includes('.') ? command.replace(/\./g, '-') : `cloudy-${command}`;
}

/**
 * The registry as RPC verbs. The RPC caller is the local operator (serf's RPC
 * has one trust level, guarded by -rpc-auth), so it gets the admin role.
 */
export function rpcVerbs(registry: CommandRegistry): RpcExtensions {
  return {
    lookup(verb: string): RpcExtension | null {
      for (const c of registry.list()) {
        if (rpcNameOf(c.name) !== verb) continue;
        return {
          // A command without arguments has no request body on the wire (serf's rule for its own verbs too).
          hasBody: Object.keys(c.args).length > 0,
          invoke: (body) => registry.invoke(c.name, body, { origin: 'rpc', role: 'admin' }),
        };
      }
      return null;
    },
  };
}
