// The plug-ins' CLI verbs are listed by name and summary and load their module
// when they run (agent/cli/index.ts, lazyCommand; issue 17: the agent's start
// evaluates only gossip and RPC). The listed name and summary must be the real
// command's, and running a listed verb runs the real one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMANDS, usage } from '../../agent/cli/index.ts';
import type { LazyCliCommand } from '../../agent/cli-kit/command.ts';

const lazy = COMMANDS.filter((c): c is LazyCliCommand => typeof (c as Partial<LazyCliCommand>).load === 'function');

test('the plug-ins verbs are listed lazily', () => {
  assert.equal(lazy.map((c) => c.name).sort(), ['guifi', 'lxc', 'operator', 'passwd', 'publish', 'remote', 'remote-log', 'search', 'seed', 'services', 'stats', 'token', 'unpublish']);
});

test('each listed name and summary is the loaded command\'s', async () => {
  for (const c of lazy) {
    const real = await c.load();
    assert.is(real.name, c.name);
    assert.is(real.summary, c.summary, `summary of ${c.name}`);
    assert.is(await c.load(), real, 'loaded once');
  }
});

test('running a listed verb runs the loaded command (help of lxc)', async () => {
  let out = '';
  let err = '';
  const lxc = lazy.find((c) => c.name === 'lxc')!;
  const code = await lxc.run(['-h'], { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  assert.match(out + err, /cloudy-agent lxc/);
  assert.type(code, 'number');
  assert.match(usage(), /lxc\s+Manages LXC containers/);
});

test.run();
