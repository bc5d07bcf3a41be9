// Extension point of the agent RPC server: besides serf's own commands
// (handshake, members, event, ...), each domain (discovery, containers)
// registers its commands here, so our CLI and other programs reach them over
// the same authenticated msgpack connection on 127.0.0.1:7373.
//
// A handler receives the decoded request body (or undefined when the command
// has no body) and returns the reply body (undefined = header only). Throwing
// an AgentError puts `<code>: <message>` in the response header's Error field.

export interface RpcCommandContext {
  /** Sequence number of the request. */
  seq: number;
}

export interface RpcCommand {
  name: string;
  /** Whether a body follows the request header (the server must know to read it). */
  hasBody: boolean;
  handle(body: unknown, ctx: RpcCommandContext): Promise<unknown>;
}

export class RpcCommandRegistry {
  private readonly commands = new Map<string, RpcCommand>();

  register(cmd: RpcCommand): void {
    if (this.commands.has(cmd.name)) throw new Error(`rpc command ${cmd.name} registered twice`);
    this.commands.set(cmd.name, cmd);
  }

  get(name: string): RpcCommand | undefined {
    return this.commands.get(name);
  }

  names(): string[] {
    return [...this.commands.keys()].sort();
  }
}
