// The agent's plug-ins load their modules when they start (agentPlugins wraps
// each in lazyPlugin, issue 17), under their own names; an edge node without
// -http gets an `api` plug-in that only says the server is off, without loading
// the API's modules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentPlugins, apiOffPlugin } from '../../agent/plugins.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';
import { lazyPlugin, type DaemonContext, type DaemonPlugin } from '../../agent/plugin.ts';
import { Logger } from '../../agent/obs/log.ts';

const names = (ps: DaemonPlugin[]) => ps.map((p) => (typeof p === 'function' ? p.name : p.name));

test('the plug-ins keep their names and order (edge and full)', () => {
  const edge = names(agentPlugins({ ...defaultAgentConfig(), mode: 'edge', http: '' }, false));
  assert.equal(edge.filter((n) => n !== 'seed' && n !== 'watchdog'), ['discovery', 'containers', 'guifi', 'remote', 'api', 'memory-governor']);
  const full = names(agentPlugins({ ...defaultAgentConfig(), mode: 'full' }, false));
  assert.equal(full.filter((n) => n !== 'seed' && n !== 'watchdog'), ['discovery', 'containers', 'guifi', 'remote', 'api']);
});

test('an edge node without -http: the api plug-in says it is off', async () => {
  const lines: string[] = [];
  const logger = Logger.root({ level: 'INFO', write: (l) => { lines.push(l); } });
  const h = await (apiOffPlugin() as { start(ctx: DaemonContext): Promise<{ stop(): unknown }> }).start({ logger, config: { ...defaultAgentConfig(), mode: 'edge' } } as unknown as DaemonContext);
  assert.ok(lines.some((l) => /api: HTTP server off \(edge mode; -http ADDR turns it on\)/.test(l)), lines.join('\n'));
  await h.stop();
});

test('lazyPlugin loads its module when it starts, once per start, and runs its start', async () => {
  let loads = 0;
  const p = lazyPlugin('x', async () => { loads++; return { name: 'x', start: async () => ({ stop: () => {}, stats: () => ({ ok: 'yes' }) }) }; });
  assert.is(loads, 0);
  const h = await (p as { start(ctx: DaemonContext): Promise<{ stats?(): Record<string, string> }> }).start({} as DaemonContext);
  assert.is(loads, 1);
  assert.equal(h.stats?.(), { ok: 'yes' });
});

test.run();
