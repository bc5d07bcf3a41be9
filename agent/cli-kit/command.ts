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
