#!/usr/bin/env node
// Entry point of the `cloudy-agent` executable: dispatches argv to a
// subcommand of agent/cli/index.ts and exits with its status.
// (No top-level await: the binary build bundles this file as CommonJS.)
import { startupMark } from './obs/startup-trace.ts';
import { COMMANDS, findCommand, usage } from './cli/index.ts';
import type { CliIO } from './cli-kit/command.ts';
import { errorMessage } from './errors.ts';
import { lazyBuiltin } from './system/lazy-builtin.ts';
import { resetMonotonicOrigin } from './gossip/clock.ts';

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '-h' || name === '--help' || name === '-help') {
    io.stdout(usage(COMMANDS));
    return name === undefined ? 1 : 0;
  }
  const cmd = findCommand(name, COMMANDS);
  if (!cmd) {
    io.stderr(`cloudy-agent: unknown command ${JSON.stringify(name)} (see 'cloudy-agent help')\n`);
    return 1;
  }
  return cmd.run(rest, io);
}

function runFromProcess(): void {
  startupMark('modules evaluated');
  const argv = process.argv.slice(2);
  const ac = new AbortController();
  // The agent daemon installs its own signal handling (leave on SIGTERM/SIGINT, reload on SIGHUP).
  if (argv[0] !== 'agent') {
    const onSignal = () => ac.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const io: CliIO = {
    stdout: (s) => { process.stdout.write(s); },
    stderr: (s) => { process.stderr.write(s); },
    env: process.env,
    signal: ac.signal,
  };
  main(argv, io).then(
    (code) => process.stdout.write('', () => process.exit(code)),
    (e: unknown) => {
      process.stderr.write(`cloudy-agent: ${errorMessage(e)}\n`);
      process.exit(1);
    },
  );
}

/** Set by tools/build-sea.mjs while it builds the executable's V8 startup snapshot from this bundle. */
export const BUILD_SNAPSHOT_ENV = 'CLOUDY_AGENT_BUILD_SNAPSHOT';

// The executable starts from a V8 startup snapshot taken after this bundle's
// module evaluation (tools/build-sea.mjs): its start deserializes the evaluated
// modules instead of compiling and running them, and this function is its main.
// Everything else (the bundle on node, the tests) runs it now.
if (process.env[BUILD_SNAPSHOT_ENV] === '1' && lazyBuiltin('node:v8')().startupSnapshot?.isBuildingSnapshot()) {
  lazyBuiltin('node:v8')().startupSnapshot.setDeserializeMainFunction(() => {
    const g = globalThis as { __cloudyBundleStartHr?: [number, number]; __cloudyFromSnapshot?: boolean };
    g.__cloudyFromSnapshot = true;
    g.__cloudyBundleStartHr = process.hrtime();
    resetMonotonicOrigin(); // the build machine's clocks are not this run's
    runFromProcess();
  });
} else {
  runFromProcess();
}
