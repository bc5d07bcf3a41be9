// `cloudy-agent lxc ...` against a running agent stack over RPC (real LXC).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lxcCommand } from '../../agent/containers/cli.ts';
import { findCommand, COMMANDS } from '../../agent/cli/index.ts';
import type { LazyCliCommand } from '../../agent/cli-kit/command.ts';
import type { DaemonPlugin } from '../../agent/plugin.ts';
import { containersPlugin } from '../../agent/containers/plugin.ts';
import { destroyContainers } from './helpers.ts';
import { lxcCli, startCliAgent, type CliAgent } from '../support/lxc-cli-agent.ts';

const NET = { bridge: 'catbr8', cidr: '10.213.8.0/24', gateway: '10.213.8.1' };
let stack: CliAgent;
let addr = '';
const cli = lxcCli;

test.before(async () => {
  await destroyContainers('cattest-cli');
  stack = await startCliAgent({ network: NET });
  addr = stack.addr;
});

test.after(async () => {
  await stack?.stop();
  await destroyContainers('cattest-cli');
});

test('lxc is a subcommand of cloudy-agent; the plug-in fits the daemon plug-in list', async () => {
  // Listed lazily (cli-kit/command.ts lazyCommand): it loads containers/cli.ts when it runs.
  const listed = findCommand('lxc', COMMANDS) as LazyCliCommand;
  assert.is(await listed.load(), lxcCommand);
  const plugin: DaemonPlugin = containersPlugin({ publisher: () => stack.agent.announcer, stateDir: '/nonexistent', communityIp: '10.213.8.1' });
  assert.is(typeof plugin === 'object' && plugin.name, 'containers');
});

test('create with flags after the name, -format json', async () => {
  const r = await cli('create', 'cattest-cli1', '-t', 'busybox', '-memory', '32M', '-cpus', '0.25', '-autostart', '-start-order', '5',
    '-start-delay', '1', '-restart', 'never', '-service-type', 'webtest', '-service-port', '80', '-service-description', 'Test web',
    '-host-port', '18801', '-rpc-addr', addr, '-format', 'json', '--', '--port', '80');
  assert.is(r.code, 0, r.err);
  const v = JSON.parse(r.out);
  assert.is(v.Name, 'cattest-cli1');
  assert.is(v.MemoryBytes, 32 * 1024 * 1024);
  assert.is(v.MilliCPUs, 250);
  assert.is(v.Autostart, true);
  assert.is(v.StartOrder, 5);
  assert.is(v.Restart, 'never');
  assert.is(v.Service.Type, 'webtest');
  assert.is(v.Service.Description, 'Test_web');
  assert.is(v.Service.HostPort, 18801);
});

test('start, list (text), exec -- command, stop, destroy', async () => {
  assert.is((await cli('start', 'cattest-cli1', '-rpc-addr', addr)).code, 0);
  const l = await cli('list', '-rpc-addr', addr);
  assert.is(l.code, 0);
  assert.match(l.out, /^NAME\s+STATE\s+DESIRED/);
  assert.match(l.out, /cattest-cli1\s+RUNNING\s+running\s+10\.213\.8\.2\s+32M\s+0\.25\s+never\s+webtest 10\.213\.8\.1:18801->80\/tcp/);
  const e = await cli('exec', 'cattest-cli1', '-rpc-addr', addr, '--', 'sh', '-c', 'echo hello from $(hostname); exit 7');
  assert.is(e.out, 'hello from cattest-cli1\n');
  assert.is(e.code, 7);
  const cfg = await cli('config', 'cattest-cli1', '-memory', '48M', '-rpc-addr', addr);
  assert.is(cfg.code, 0, cfg.err);
  assert.match(cfg.out, /lxc\.cgroup\.memory\.limit_in_bytes = 50331648/);
  assert.match(cfg.out, /lxc\.start\.order = 5/);
  assert.is((await cli('stop', 'cattest-cli1', '-rpc-addr', addr)).code, 0);
  const d = await cli('destroy', 'cattest-cli1', '-rpc-addr', addr);
  assert.is(d.out, 'Destroyed container cattest-cli1\n');
  const ev = await cli('events', '-rpc-addr', addr);
  assert.match(ev.out, /cattest-cli1 created: template busybox[\s\S]*cattest-cli1 started[\s\S]*cattest-cli1 stopped[\s\S]*cattest-cli1 destroyed/);
});

test('errors: one clear line on stderr, status 1', async () => {
  const bad = await cli('create', 'a;b', '-t', 'busybox', '-rpc-addr', addr);
  assert.is(bad.code, 1);
  assert.match(bad.err, /^Error: E_INVALID: invalid container name 'a;b'/);
  const flag = await cli('create', 'x', '-bogus', '-rpc-addr', addr);
  assert.is(flag.code, 1);
  assert.match(flag.err, 'flag provided but not defined: -bogus');
  const noT = await cli('create', 'x', '-rpc-addr', addr);
  assert.match(noT.err, 'needs -t TEMPLATE');
  const down = await cli('list', '-rpc-addr', '127.0.0.1:1');
  assert.is(down.code, 1);
  assert.match(down.err, /^Error connecting to the agent/);
});

test.run();
