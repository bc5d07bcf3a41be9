// The one CLI scaffold (cli-kit/rpc-command.ts): serf's style (flags end at the
// first argument, every line on stdout) beside ours (flags anywhere, "--" ends
// them, errors on stderr), and subcommand groups. No agent needed: every path
// here ends before a connection, or at a refused one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rpcCommand, rpcCommandGroup, type RpcCommandDef } from '../../agent/cli-kit/rpc-command.ts';
import type { CliCommand } from '../../agent/cli-kit/command.ts';

const DOWN = '127.0.0.1:1';

async function run(cmd: CliCommand, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await cmd.run(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { code, out, err };
}

function probe(style: 'serf' | 'cloudy', seen: unknown[]): RpcCommandDef {
  return {
    name: 'probe', summary: 'probe', help: 'Usage: probe [-n N] ARGS', flags: { n: 'int' }, style,
    async run(env) {
      seen.push({ args: env.flags.args, rest: env.rest, n: env.flags.int('n', -1) });
      if (env.flags.args[0] === 'call') await env.call('thing.get');
      if (env.flags.args[0] === 'connect') return (await env.connect()) ? 0 : 1;
      if (env.flags.args[0] === 'usage') return env.usage('Usage: probe bad');
      return 0;
    },
  };
}

test('cloudy style: flags anywhere, "--" ends them and the rest stays whole', async () => {
  const seen: unknown[] = [];
  const r = await run(rpcCommand(probe('cloudy', seen)), ['a', '-n', '3', 'b', `-rpc-addr=${DOWN}`, '--', '-x', 'y']);
  assert.is(r.code, 0, r.err);
  assert.equal(seen, [{ args: ['a', 'b'], rest: ['-x', 'y'], n: 3 }]);
});

test('cloudy style with flagsAnywhere false (remote NODE COMMAND ARGS): flags end at the first argument; rpc false: no RPC flags', async () => {
  const seen: unknown[] = [];
  const r = await run(rpcCommand({ ...probe('cloudy', seen), flagsAnywhere: false }), ['-n', '3', 'node', 'logs', '-n', '4']);
  assert.is(r.code, 0, r.err);
  assert.equal(seen, [{ args: ['node', 'logs', '-n', '4'], rest: [], n: 3 }]);
  const local = await run(rpcCommand({ ...probe('cloudy', []), rpc: false }), [`-rpc-addr=${DOWN}`]);
  assert.equal([local.code, local.err], [1, 'flag provided but not defined: -rpc-addr\n']);
});

test('serf style: flags end at the first argument, like Go flag', async () => {
  const seen: unknown[] = [];
  const r = await run(rpcCommand(probe('serf', seen)), ['-n', '3', 'a', '-n', '4']);
  assert.is(r.code, 0);
  assert.equal(seen, [{ args: ['a', '-n', '4'], rest: [], n: 3 }]);
});

test('connection failures: serf style on stdout with serf words, ours one line on stderr', async () => {
  const serf = await run(rpcCommand(probe('serf', [])), [`-rpc-addr=${DOWN}`, 'connect']);
  assert.is(serf.code, 1);
  assert.match(serf.out, /^Error connecting to Serf agent: dial tcp 127\.0\.0\.1:1: connect: connection refused\n$/);
  assert.is(serf.err, '');
  const ours = await run(rpcCommand(probe('cloudy', [])), ['call', `-rpc-addr=${DOWN}`]);
  assert.is(ours.code, 1);
  assert.is(ours.out, '');
  assert.match(ours.err, /^Error connecting to the agent: dial tcp 127\.0\.0\.1:1: connect: connection refused\n$/);
});

test('bad flags, usage and help', async () => {
  const bad = await run(rpcCommand(probe('cloudy', [])), ['a', '-bogus']);
  assert.equal([bad.code, bad.err], [1, 'flag provided but not defined: -bogus\n']);
  const usage = await run(rpcCommand(probe('cloudy', [])), ['usage']);
  assert.equal([usage.code, usage.err], [1, 'Usage: probe bad\n']);
  const help = await run(rpcCommand(probe('cloudy', [])), ['-h']);
  assert.equal([help.code, help.out], [1, 'Usage: probe [-n N] ARGS\n']);
});

test('a group dispatches its subcommands; none, help and unknown print the usage', async () => {
  const seen: unknown[] = [];
  const g = rpcCommandGroup({ name: 'grp', summary: 's', usage: 'Usage: grp probe\n', subcommands: [probe('serf', seen)] });
  const ok = await run(g, ['probe', 'x', '-n', '2']);
  assert.is(ok.code, 0, ok.err);
  // Subcommands of a group are our own verbs: flags anywhere.
  assert.equal(seen, [{ args: ['x'], rest: [], n: 2 }]);
  assert.equal(await run(g, []), { code: 1, out: '', err: 'Usage: grp probe\n' });
  assert.equal(await run(g, ['help']), { code: 0, out: '', err: 'Usage: grp probe\n' });
  const unknown = await run(g, ['nope']);
  assert.is(unknown.code, 1);
  assert.is(unknown.err, 'Unknown grp subcommand: nope\nUsage: grp probe\n');
});

test.run();
