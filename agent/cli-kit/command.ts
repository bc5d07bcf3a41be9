// One CLI subcommand of the `cloudy-agent` executable. `agent/cli/index.ts`
// lists them all; `agent/main.ts` dispatches argv[0] to one of them.

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: long-running commands (monitor, query, agent) stop. */
  signal?: AbortSignal;
}

export interface CliCommand {
  name: string;
  /** One line for `cloudy-agent help`. */
  summary: string;
  /** Returns the process exit status. Bad flags: one line on stderr naming the flag, status 1. */
  run(argv: string[], io: CliIO): Promise<number>;
}

/** A command whose module is loaded when it first runs; `load` gives the real one. */
export interface LazyCliCommand extends CliCommand {
  load(): Promise<CliCommand>;
}

/**
 * A command listed by name and summary whose module is evaluated only when it
 * runs: `cloudy-agent agent` (and `help`) then never evaluate the plug-ins'
 * CLI modules, which keeps them off the start-up path (issue 17). The name
 * and summary must equal the loaded command's (test/cli/lazy-commands.test.ts).
 */
export function lazyCommand(name: string, summary: string, load: () => Promise<CliCommand>): LazyCliCommand {
  let loaded: Promise<CliCommand> | null = null;
  const get = (): Promise<CliCommand> => (loaded ??= load());
  return { name, summary, load: get, run: async (argv, io) => (await get()).run(argv, io) };
}
