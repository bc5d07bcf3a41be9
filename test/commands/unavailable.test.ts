// Issue 13 point 9: a command that is unavailable in the running configuration
// answers with the reason and the fix (not "Unsupported command"). Here the
// real agent's plug-in list with an explicit -node and no -data-dir: container
// management is off, and every lxc command says why and what to change,
// through the RPC and through the CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';
import { Logger } from '../../agent/obs/log.ts';
import { agentPlugins } from '../../agent/plugins.ts';
import { ours as cli } from '../cli/helpers.ts';
import { RpcClient } from '../../agent/rpc/client.ts';

let d: DaemonHandle | null = null;

test.after(async () => { await d?.stop(); });

test('containers off (no -data-dir): every lxc command answers E_UNAVAILABLE with reason and fix', async () => {
  const cfg = { ...defaultAgentConfig(), nodeName: 'sc-off', bind: '127.0.0.1:0', rpcAddr: '127.0.0.1:0', profile: 'lan' as const, dataDir: '' };
  d = await startDaemon({ ...cfg, plugins: agentPlugins(cfg, true) }, { logger: Logger.silent() });
  const addr = `${d.rpcAddress.host}:${d.rpcAddress.port}`;
  const lxc = d.registry.list().filter((c) => c.name.startsWith('lxc.'));
  assert.ok(lxc.length >= 10, 'lxc commands are declared even when off');
  for (const c of lxc) assert.match(c.unavailable?.reason ?? '', /no -data-dir/, c.name);

  const client = await RpcClient.connect(addr);
  try {
    for (const [verb, body] of [['lxc-create', { Name: 'sc-x', Template: 'busybox' }], ['lxc-list', undefined], ['lxc-start', { Name: 'sc-x' }]] as const) {
      let msg = '';
      try { await client.call(verb, body, 'on-success'); } catch (e) { msg = (e as Error).message; }
      assert.match(msg, /^E_UNAVAILABLE: lxc\.\w+ is unavailable: no -data-dir .*; to enable it: restart the agent with -data-dir DIR/, verb);
    }
    // The connection is still usable (an unknown verb would have closed it).
    assert.ok(Array.isArray(await client.members()));
  } finally { client.close(); }

  const r = await cli(['lxc', 'create', 'sc-x', '-t', 'busybox', `-rpc-addr=${addr}`]);
  assert.is(r.code, 1);
  assert.not.match(r.stderr, /Unsupported command/);
  assert.match(r.stderr, /E_UNAVAILABLE: lxc\.create is unavailable: no -data-dir.*to enable it: restart the agent with -data-dir DIR/);
});

test.run();
