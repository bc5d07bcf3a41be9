// The daemon composition root, in-process: two agents joining through -join
// seeds, plugins registering RPC commands and stats, tags file and keyring
// file, reload, graceful leave and stop order; an IPv6 agent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import type { DaemonPlugin } from '../../agent/plugin.ts';
import { defaultAgentConfig, type AgentConfig } from '../../agent/config/agent-config.ts';
import { RpcClient } from '../../agent/rpc/client.ts';
import { defineCommand } from '../../agent/commands/registry.ts';
import { waitFor } from '../support/wait.ts';

const K1 = 'AAECAwQFBgcICQoLDA0ODw==';
const tmp = mkdtempSync(join(tmpdir(), 'daemon-'));
const handles: DaemonHandle[] = [];
test.after(async () => {
  for (const h of handles) await h.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function cfg(over: Partial<AgentConfig>): AgentConfig {
  return { ...defaultAgentConfig(), profile: 'lan', logLevel: 'DEBUG', encryptKey: K1, ...over };
}

test('two daemons join via seeds; plugin RPC command and stats; tags and keyring files; leave', async () => {
  const order: string[] = [];
  const plugin: DaemonPlugin = {
    name: 'demo',
    async start(ctx) {
      ctx.registry.register(defineCommand({
        name: 'demo.ping', summary: 'ping', role: 'viewer', args: { Ping: { type: 'string', required: true, doc: 'text' } },
        handler: async (a) => ({ Pong: a.Ping, Node: ctx.serf.localMember().name }),
      }));
      order.push('demo start');
      return { stop: () => { order.push('demo stop'); }, stats: () => ({ pings: '0' }) };
    },
  };
  const fnPlugin: DaemonPlugin = async function second() { order.push('second start'); return { stop: () => { order.push('second stop'); } }; };
  const a = await startDaemon({
    ...cfg({ nodeName: 'da', bind: '127.0.4.40:19401', rpcAddr: '127.0.4.40:19411', tags: { role: 'gw' },
      tagsFile: join(tmp, 'da.tags'), keyringFile: join(tmp, 'da.keyring') }),
    plugins: [plugin, fnPlugin],
  }, { writeLog: null });
  handles.push(a);
  const b = await startDaemon(cfg({ nodeName: 'db', bind: '127.0.4.41:19402', rpcAddr: '127.0.4.41:19412', join: ['127.0.4.40:19401'], retryIntervalMs: 200 }), { writeLog: null });
  handles.push(b);
  await waitFor('joined', () => a.serf.members().filter((m) => m.status === 'alive').length === 2 && b.serf.members().filter((m) => m.status === 'alive').length === 2);

  assert.equal(JSON.parse(readFileSync(join(tmp, 'da.keyring'), 'utf8')), [K1]);
  assert.equal(JSON.parse(readFileSync(join(tmp, 'da.tags'), 'utf8')), { role: 'gw' });

  const c = await RpcClient.connect('127.0.4.40:19411');
  try {
    assert.equal(await c.call('demo-ping', { Ping: 'x' }, true), { Pong: 'x', Node: 'da' });
    const stats = await c.stats();
    assert.equal(stats.demo, { pings: '0' });
    assert.is(stats.agent!.name, 'da');
    assert.is(stats.serf!.encrypted, 'true');
    assert.ok('counters' in stats);
    await c.updateTags({ zone: 'z1' }, []);
    assert.equal(JSON.parse(readFileSync(join(tmp, 'da.tags'), 'utf8')), { role: 'gw', zone: 'z1' });
    await waitFor('tag propagated', () => b.serf.members().some((m) => m.name === 'da' && m.tags.zone === 'z1'));
  } finally { c.close(); }

  a.reload({ ...a.config, logLevel: 'WARN', eventHandlers: ['user=true'] });
  assert.is(a.logger.level, 'WARN');

  await a.leave();
  assert.equal(order, ['demo start', 'second start', 'second stop', 'demo stop']);
  await a.stopped;
  await waitFor('db sees da left', () => b.serf.members().some((m) => m.name === 'da' && m.status === 'left'));
});

test('daemon on IPv6 loopback (gossip and RPC)', async () => {
  let h: DaemonHandle;
  try {
    h = await startDaemon(cfg({ nodeName: 'd6', bind: '[::1]:19403', rpcAddr: '[::1]:19413', encryptKey: '' }), { writeLog: null });
  } catch (e) {
    assert.unreachable(`IPv6 start failed: ${(e as Error).message}`);
    return;
  }
  handles.push(h);
  const c = await RpcClient.connect('[::1]:19413');
  const ms = await c.members();
  c.close();
  assert.is(ms[0]!.addr, '::1');
  assert.is(ms[0]!.port, 19403);
  await h.stop();
});

test('startup errors are typed and leave nothing running', async () => {
  let err = '';
  try {
    await startDaemon(cfg({ nodeName: 'bad', bind: '127.0.4.42:19404', rpcAddr: '127.0.4.40:19411x' }), { writeLog: null });
  } catch (e) { err = (e as Error).message; }
  assert.match(err, /rpc-addr/);
  // the gossip port was released: a new daemon can bind it
  const ok = await startDaemon(cfg({ nodeName: 'ok', bind: '127.0.4.42:19404', rpcAddr: '127.0.4.42:19414' }), { writeLog: null });
  handles.push(ok);
  await ok.stop();
  assert.ok(!existsSync(join(tmp, 'nothing')));
});

test.run();
