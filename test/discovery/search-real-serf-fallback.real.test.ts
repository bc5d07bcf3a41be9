// Issue 13 point 5 (search): `cloudy-agent search` against a node still running
// the real serf (which answers "Unsupported command") falls back to serf's
// standard `members` RPC and says so.
import { test } from 'uvu';
import { freePort } from '../support/net.ts';
import * as assert from 'uvu/assert';
import { searchCommand, servicesCommand } from '../../agent/discovery/cli.ts';
import { encodeServicesTag } from '../../agent/discovery/codec.ts';
import { serfCliAsync, startSerfAgent, type SerfAgent } from '../cli/helpers.ts';

const IP = '127.0.25.31';
let real: SerfAgent | null = null;
let rpc = '';

test.before(async () => {
  const [g, r] = [await freePort(IP), await freePort(IP)];
  real = await startSerfAgent({ name: 'fd-realsearch', bind: `${IP}:${g}`, rpc: `${IP}:${r}` });
  rpc = `-rpc-addr=${IP}:${r}`;
});
test.after(async () => { await real?.stop(); });

test('search on a real serf node reads the services tag through serf members', async () => {
  const rec = { s: 'syncthing', d: 'S', m: 'fd-realsearch.guifi.local', i: IP, p: '22000', e: 'guifi', t: 'node_id=A' };
  const set = await serfCliAsync(['tags', rpc, '-set', `services=${encodeServicesTag([rec])}`]);
  assert.is(set.code, 0, set.stdout + set.stderr);
  let out = '';
  let err = '';
  const code = await searchCommand.run([rpc], { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  assert.is(code, 0, err);
  assert.equal(JSON.parse(out), [{ node_id: 'fd-realsearch', ...rec }]);
  assert.match(err, /mode: serf standard RPC/);
  let out2 = '';
  let err2 = '';
  assert.is(await servicesCommand.run([rpc], { stdout: (s) => { out2 += s; }, stderr: (s) => { err2 += s; }, env: {} }), 0, err2);
  assert.is(out2, 'syncthing  22000  S  announced\n');
  assert.match(err2, /mode: serf standard RPC/);
});

test.run();
