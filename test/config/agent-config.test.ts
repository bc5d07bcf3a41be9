// Agent configuration: serf's flag syntax, config files, precedence, limits,
// and one-line errors naming the flag (also through the real executable).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromArgv } from '../../agent/cli/commands/agent.ts';
import { effectiveLimits } from '../../agent/config/agent-config.ts';
import { defaultLimits, FULL_LIMITS } from '../../agent/config/limits.ts';
import { parseFlags } from '../../agent/cli-kit/flags.ts';
import { parseGoDuration } from '../../agent/config/go-values.ts';

const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('defaults follow Cloudy: port 5000, wan, protocol 4, RPC 127.0.0.1:7373, edge', () => {
  const c = configFromArgv([]);
  assert.is(c.bind, '0.0.0.0:5000');
  assert.is(c.profile, 'wan');
  assert.is(c.protocol, 4);
  assert.is(c.rpcAddr, '127.0.0.1:7373');
  assert.is(c.mode, 'edge');
  assert.equal(effectiveLimits(c), defaultLimits('edge'));
});

test('flag syntaxes: -f v, -f=v, --f=v, --f v, repeatable, bools', () => {
  const c = configFromArgv([
    '-node', 'a1', '-bind=[::1]:5001', '--advertise=10.0.0.1', '--rpc-addr', '127.0.0.1:7400',
    '-join', '10.0.0.2', '-join=10.0.0.3:5000', '-tag', 'role=gw', '--tag=zone=bcn', '-replay',
    '-event-handler', 'user:deploy=run.sh', '-event-handler=member-join=j.sh', '-protocol=3', '-profile', 'lan',
  ]);
  assert.is(c.nodeName, 'a1');
  assert.is(c.bind, '[::1]:5001');
  assert.is(c.advertise, '10.0.0.1');
  assert.is(c.rpcAddr, '127.0.0.1:7400');
  assert.equal(c.join, ['10.0.0.2', '10.0.0.3:5000']);
  assert.equal(c.tags, { role: 'gw', zone: 'bcn' });
  assert.is(c.replayOnJoin, true);
  assert.equal(c.eventHandlers, ['user:deploy=run.sh', 'member-join=j.sh']);
  assert.is(c.protocol, 3);
  assert.is(c.profile, 'lan');
  assert.equal(parseFlags(['-x=false', 'rest', '-y'], { x: 'bool', y: 'bool' }).args, ['rest', '-y']);
  assert.is(parseGoDuration('1m30s'), 90_000);
  assert.is(parseGoDuration('250ms'), 250);
  assert.is(parseGoDuration('5'), undefined);
});

test('errors name the flag, in one line', () => {
  const cases: [string[], RegExp][] = [
    [['-bogus'], /^flag provided but not defined: -bogus$/],
    [['-protocol=9'], /^-protocol: /],
    [['-protocol=x'], /^invalid value "x" for flag -protocol/],
    [['-profile=moon'], /^-profile: /],
    [['-mode=tiny'], /^-mode: /],
    [['-encrypt=abc'], /^-encrypt: /],
    [['-tag', 'novalue'], /^-tag: /],
    [['-limit', 'nosuch=3'], /^-limit: unknown limit/],
    [['-limit', 'maxMembers=0'], /^-limit: /],
    [['-memory-budget=lots'], /^-memory-budget: /],
    [['-memory-budget=8MB'], /^-memory-budget: .*at least/],
    [['-log-level=loud'], /^-log-level: /],
    [['-event-handler=member-joined=x.sh'], /-event-handler: /],
    [['-bind=1.2.3.4:99999'], /^-bind: /],
    [['-node'], /^flag needs an argument: -node$/],
    [['-replay=maybe'], /^invalid boolean value "maybe" for -replay/],
    [['stray'], /^unexpected argument: stray$/],
  ];
  for (const [argv, re] of cases) {
    let msg = '';
    try { configFromArgv(argv); } catch (e) { msg = (e as Error).message; }
    assert.match(msg, re, `${argv.join(' ')} -> ${JSON.stringify(msg)}`);
    assert.not.match(msg, /\n/);
  }
});

test('config file (serf keys + ours), precedence file < flags, lists appended', () => {
  const f1 = join(dir, 'a.json');
  writeFileSync(f1, JSON.stringify({
    node_name: 'from-file', bind: '0.0.0.0:5005', tags: { role: 'x', dc: 'd1' }, start_join: ['10.0.0.9'],
    event_handlers: ['query:q=echo q'], log_level: 'debug', leave_on_terminate: true, mode: 'full',
    memory_budget: '64MB', limits: { 'max-members': 300, handlerQueue: 10 }, discover: 'ignored',
  }));
  const c = configFromArgv(['-config-file', f1, '-node=from-flag', '-tag', 'role=y', '-join', '10.0.0.8', '-limit', 'handlerQueue=20']);
  assert.is(c.nodeName, 'from-flag');
  assert.is(c.bind, '0.0.0.0:5005');
  assert.equal(c.tags, { role: 'y', dc: 'd1' });
  assert.equal(c.join, ['10.0.0.9', '10.0.0.8']);
  assert.is(c.logLevel, 'DEBUG');
  assert.is(c.leaveOnTerminate, true);
  assert.is(c.mode, 'full');
  const l = effectiveLimits(c);
  assert.is(l.maxMembers, 300, 'explicit override wins over mode and budget');
  assert.is(l.handlerQueue, 20, 'flag wins over file');
  assert.is(l.maxTcpStreams, FULL_LIMITS.maxTcpStreams);
  // <data-dir>/remote/limits.json (remote `config set limit.*`) sits above config files, below -limit flags.
  assert.equal(c.limitFlags, { handlerQueue: 20 });
  const withRemote = effectiveLimits(c, { maxMembers: 250, handlerQueue: 5 });
  assert.is(withRemote.maxMembers, 250, 'remote override wins over the config file');
  assert.is(withRemote.handlerQueue, 20, 'flag wins over the remote override');

  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ node_nme: 'typo' }));
  assert.throws(() => configFromArgv(['-config-file', bad]), /node_nme: unknown configuration key/);
  writeFileSync(bad, '{ not json');
  assert.throws(() => configFromArgv(['-config-file', bad]), /invalid JSON/);
});

test('memory budget scales member-bound limits down', () => {
  const small = effectiveLimits(configFromArgv(['-memory-budget=48MB']));
  assert.ok(small.maxMembers < defaultLimits().maxMembers, `maxMembers ${small.maxMembers}`);
  assert.ok(small.maxMembers >= 64);
  const big = effectiveLimits(configFromArgv(['-mode=full', '-memory-budget=1GB']));
  assert.ok(big.maxMembers > defaultLimits().maxMembers);
  assert.ok(big.maxMembers <= FULL_LIMITS.maxMembers);
});

test('the executable: bad flag -> one stderr line naming it, exit 1', async () => {
  const root = new URL('../..', import.meta.url).pathname;
  const cases = [['agent', '-bogus'], ['agent', '-protocol=7'], ['members', '-nope'], ['nosuchcommand']];
  // The four processes side by side: each mostly waits for its modules to load.
  // process.execArgv: the TypeScript loader this test runs under (tsx, or run-all's --precompiled one).
  const runs = await Promise.all(cases.map((args) => new Promise<{ status: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, [...process.execArgv, 'agent/main.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 },
      (e, _stdout, stderr) => resolve({ status: e ? (typeof e.code === 'number' ? e.code : null) : 0, stderr }));
  })));
  for (const [i, args] of cases.entries()) {
    const r = runs[i]!;
    assert.is(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(lines[0]!.includes(args[args.length - 1]!.replace(/=.*/, '')), lines[0]);
  }
});

test.run();
