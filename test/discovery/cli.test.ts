// CLI argument handling of the discovery subcommands (no agent needed: these
// paths end before connecting).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkFromFlags, publishCommand, searchCommand, unpublishCommand } from '../../agent/discovery/cli.ts';
import { parseFlagsAnywhere as parseAnywhere } from '../../agent/cli-kit/flags.ts';

const specs = { 'rpc-addr': 'string', format: 'string', 'check-tcp': 'bool', 'check-tcp-addr': 'string', 'check-http': 'string', 'check-exec': 'string', 'check-interval': 'duration', 'check-timeout': 'duration', 'check-failures': 'int' } as const;

async function run(cmd: typeof publishCommand, argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await cmd.run(argv, { stdout: () => {}, stderr: (s) => { err += s; }, env: {} });
  return { code, err };
}

test('flags anywhere among the positional arguments; -- ends flags', () => {
  const p = parseAnywhere(['desc', '-format', 'table', 'type', '-rpc-addr=1.2.3.4:5', '80', '--', '-not-a-flag'], specs);
  assert.equal(p.args, ['desc', 'type', '80']);
  assert.equal(p.rest, ['-not-a-flag']);
  assert.is(p.values.get('format'), 'table');
  assert.is(p.values.get('rpc-addr'), '1.2.3.4:5');
});

test('check flags become a ServiceCheck', () => {
  assert.equal(checkFromFlags(parseAnywhere(['-check-tcp'], specs), 8080), { probe: { kind: 'tcp', port: 8080 } });
  assert.equal(checkFromFlags(parseAnywhere(['-check-tcp-addr', '10.0.0.2:9000', '-check-interval=1m', '-check-failures=5'], specs), 1),
    { probe: { kind: 'tcp', host: '10.0.0.2', port: 9000 }, intervalMs: 60_000, failuresToWithdraw: 5 });
  assert.equal(checkFromFlags(parseAnywhere(['-check-http', 'http://127.0.0.1:7000/', '-check-timeout=2s'], specs), 1),
    { probe: { kind: 'http', url: 'http://127.0.0.1:7000/' }, timeoutMs: 2000 });
  assert.equal(checkFromFlags(parseAnywhere(['-check-exec', 'pgrep  syncthing'], specs), 1), { probe: { kind: 'exec', command: ['pgrep', 'syncthing'] } });
  assert.is(checkFromFlags(parseAnywhere([], specs), 1), undefined);
  assert.throws(() => checkFromFlags(parseAnywhere(['-check-tcp', '-check-http', 'http://x/'], specs), 1), /only one/);
  assert.throws(() => checkFromFlags(parseAnywhere(['-check-tcp-addr', 'nohost'], specs), 1), /host:port/);
});

test('usage errors: status 1 and one message, before any connection', async () => {
  let r = await run(publishCommand, ['only', 'two']);
  assert.is(r.code, 1);
  assert.match(r.err, /^Usage: cloudy-agent publish/);
  r = await run(publishCommand, ['d', 't', '99999']);
  assert.match(r.err, /Invalid port: 99999/);
  r = await run(publishCommand, ['d', 't', '80', '-bogus']);
  assert.match(r.err, /flag provided but not defined: -bogus/);
  r = await run(unpublishCommand, ['t']);
  assert.match(r.err, /^Usage: cloudy-agent unpublish/);
  r = await run(searchCommand, ['-format', 'xml']);
  assert.match(r.err, /Invalid format: xml/);
  r = await run(searchCommand, ['a', 'b', 'c']);
  assert.match(r.err, /^Usage: cloudy-agent search/);
});

test('no agent listening: a clear error, status 1', async () => {
  const r = await run(searchCommand, ['-rpc-addr=127.0.5.99:20998']);
  assert.is(r.code, 1);
  assert.match(r.err, /^Error connecting to the agent: .*refused/);
  // Arguments after "--" are positional (a description may start with a dash): past the usage check.
  const dashed = await run(publishCommand, ['-rpc-addr=127.0.5.99:20998', '--', '-dashed description', 'web', '80']);
  assert.match(dashed.err, /^Error connecting to the agent: .*refused/);
});

test.run();
