// How the agent RPC names the registry's commands on the wire. serf's RPC has
// one flat namespace of verbs; ours must never collide with serf's (a future
// serf verb would shadow it), so: a family command `lxc.create` travels as
// `lxc-create`, any other command `x` as `cloudy-x` (cloudy-publish,
// cloudy-search, ...). These are the names our CLI and older clients send.
import type { CommandRegistry } from '../commands/registry.ts';

export function rpcNameOf(command: string): string {
  return command.includes('.') ? command.replace(/\./g, '-') : `cloudy-${command}`;
}

/** The registry command a wire verb names, or null (then serf answers "Unsupported command"). */
export function commandOfRpcName(registry: CommandRegistry, verb: string): { name: string; hasBody: boolean } | null {
  for (const c of registry.list()) {
    // A command without arguments has no request body on the wire (serf's rule for its own verbs too).
    if (rpcNameOf(c.name) === verb) return { name: c.name, hasBody: Object.keys(c.args).length > 0 };
  }
  return null;
}
