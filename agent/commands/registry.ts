// The agent's command registry: every domain command (publish, search, lxc.*,
// info, ...) declared once, served by every transport (CLI over RPC today; the
// HTTP API and signed remote commands next). serf's own RPC verbs (members,
// join, event, ...) are not here: they are serf's protocol and stay in
// rpc/connection.ts with serf's exact behaviour.
//
// Adding a command (in the domain's own folder, e.g. discovery/commands.ts):
//
//   registry.register(defineCommand({
//     name: 'lxc.start',                    // lower case, dotted by family
//     summary: 'Starts a container',       // one line
//     role: 'admin',                        // 'viewer' = read-only, 'admin' = changes state
//     args: { Name: { type: 'string', required: true, doc: 'container name' } },
//     handler: async (args, ctx) => viewToWire(await manager.start(args.Name)),
//   }));
//
// The handler gets typed, validated arguments (schema.ts is the only
// validator) and returns plain data: objects, arrays, strings, numbers,
// booleans, null, and Maps where key order matters. When a command exists but
// cannot work in this configuration (containers off, no data dir...), register
// it anyway with `registerUnavailable(specs, { reason, fix })`: callers then get
// E_UNAVAILABLE with the reason and the fix instead of "unknown command".
//
// Serving the registry from a transport: map the transport's name to a command
// name, decode the arguments, then
//
//   const result = await registry.invoke(name, rawArgs, { origin: 'http', role: grantedRole });
//
// and render an AgentError as the transport's error (its `code` is stable:
// E_INVALID names the field in details.field, E_FORBIDDEN, E_UNAVAILABLE with
// details.reason/details.fix, E_NOT_FOUND for an unknown name). `list()` gives
// every spec with its schema, for help pages and self-description.
import { AgentError } from '../errors.ts';
import { validateArgs, type ArgSchema, type ArgsOf } from './schema.ts';

export type { ArgSchema, ArgsOf, FieldSpec, FieldType } from './schema.ts';

/** viewer: may only read; admin: may also change state. */
export type Role = 'viewer' | 'admin';

/** Who is calling, as the transport established it. */
export interface CommandContext {
  origin: 'cli' | 'rpc' | 'http' | 'remote';
  /** The role the transport granted to this caller. */
  role: Role;
}

export interface CommandSpec<S extends ArgSchema = ArgSchema> {
  /** Lower case; a family uses a dotted prefix (`lxc.create`). */
  name: string;
  /** One line, for help and the API's self-description. */
  summary: string;
  /** Role needed to run it. */
  role: Role;
  args: S;
  handler(args: ArgsOf<S>, ctx: CommandContext): Promise<unknown>;
}

/** Why a command cannot run in this configuration, and what makes it run. */
export interface Unavailable {
  reason: string;
  fix: string;
}

/** Spec as list() reports it (no handler). */
export interface CommandInfo {
  name: string;
  summary: string;
  role: Role;
  args: ArgSchema;
  /** Present when the command is declared but cannot run here. */
  unavailable?: Unavailable;
}

/** Declares a command with its argument types inferred from the schema. */
export function defineCommand<const S extends ArgSchema>(spec: CommandSpec<S>): CommandSpec {
  return spec as unknown as CommandSpec;
}

const NAME_RE = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;

/** Whether `granted` may run a command that needs `needed`. */
export function roleAllows(granted: Role, needed: Role): boolean {
  return granted === 'admin' || needed === 'viewer';
}

interface Entry {
  spec: CommandSpec;
  unavailable: Unavailable | null;
}

export class CommandRegistry {
  private readonly entries = new Map<string, Entry>();

  register(spec: CommandSpec): void {
    this.add(spec, null);
  }

  /** Declares commands that exist but cannot run in this configuration. */
  registerUnavailable(specs: readonly CommandSpec[], why: Unavailable): void {
    for (const s of specs) this.add(s, why);
  }

  private add(spec: CommandSpec, unavailable: Unavailable | null): void {
    if (!NAME_RE.test(spec.name)) throw new AgentError('E_INVALID', `command name ${JSON.stringify(spec.name)}: lower case words, dotted by family`);
    if (this.entries.has(spec.name)) throw new AgentError('E_EXISTS', `command ${spec.name} registered twice`);
    this.entries.set(spec.name, { spec, unavailable });
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Every command, sorted by name, with its schema (and why it is unavailable, when it is). */
  list(): CommandInfo[] {
    return [...this.entries.values()]
      .sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0))
      .map(({ spec, unavailable }) => ({
        name: spec.name, summary: spec.summary, role: spec.role, args: spec.args,
        ...(unavailable ? { unavailable } : {}),
      }));
  }

  /**
   * The role a command needs: the one place every transport (RPC, the HTTP
   * API's routes, remote control) learns it. undefined for an unknown name.
   */
  roleOf(name: string): Role | undefined {
    return this.entries.get(name)?.spec.role;
  }

  /** Checks the caller's role, availability and the arguments, then runs the handler. */
  async invoke(name: string, rawArgs: unknown, ctx: CommandContext): Promise<unknown> {
    const e = this.entries.get(name);
    if (!e) throw new AgentError('E_NOT_FOUND', `unknown command ${JSON.stringify(name)}`);
    // The role first: a caller without it learns nothing about this node's configuration.
    if (!roleAllows(ctx.role, e.spec.role)) {
      throw new AgentError('E_FORBIDDEN', `${name} needs the ${e.spec.role} role (caller has ${ctx.role})`, { needed: e.spec.role });
    }
    if (e.unavailable) {
      const { reason, fix } = e.unavailable;
      throw new AgentError('E_UNAVAILABLE', `${name} is unavailable: ${reason}; to enable it: ${fix}`, { reason, fix });
    }
    const args = validateArgs(e.spec.args, rawArgs);
    return e.spec.handler(args, ctx);
  }
}
