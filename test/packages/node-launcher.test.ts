// The bundle's launcher (packaging/common/node-launcher.sh, /usr/bin/cloudy-agent of
// the -js .deb and the OpenWrt package): node starts once with the edge defaults,
// and the bundle is asked first only when a flag or a config file may change them.
// A stand-in `node` records each start; the defaults are checked against what the
// agent itself prints for a plain `agent` (agent/system/v8-budget.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LAUNCHER = 'packaging/common/node-launcher.sh';
const dir = mkdtempSync(join(tmpdir(), 'fps-launcher-'));
const log = join(dir, 'starts.log');
const fakeNode = join(dir, 'node');
// Asked for settings, it answers like the bundle would for full mode; else it records its start.
writeFileSync(fakeNode, `#!/bin/sh
if [ "$CLOUDY_AGENT_PRINT_V8" = 1 ]; then echo ask >> "${log}"; echo 'cloudy-agent-v8: --max-old-space-size=40'; exit 0; fi
echo "start NODE_OPTIONS=$NODE_OPTIONS MALLOC_ARENA_MAX=\${MALLOC_ARENA_MAX:-unset} V8=$CLOUDY_AGENT_V8 args=$*" >> "${log}"
`);
chmodSync(fakeNode, 0o755);

function launch(args: string[], env: Record<string, string> = {}): string[] {
  rmSync(log, { force: true });
  const { NODE_OPTIONS: _n, MALLOC_ARENA_MAX: _m, CLOUDY_AGENT_V8: _v, ...base } = process.env;
  const r = spawnSync('sh', [LAUNCHER, ...args], { encoding: 'utf8', env: { ...base, CLOUDY_AGENT_NODE: fakeNode, CLOUDY_AGENT_BUNDLE: '/b.cjs', ...env } });
  assert.is(r.status, 0, r.stderr);
  return readFileSync(log, 'utf8').trim().split('\n');
}

test('the launcher\'s edge defaults are what the agent prints for a plain `agent`', () => {
  const m = /^EDGE_DEFAULTS='([^']*)'$/m.exec(readFileSync(LAUNCHER, 'utf8'));
  assert.ok(m, 'EDGE_DEFAULTS in the launcher');
  // launcherSettings() is what `CLOUDY_AGENT_PRINT_V8=1 cloudy-agent agent` prints (an empty environment: every malloc setting).
  const agent = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./agent/system/v8-budget.ts').then((m) => process.stdout.write(m.launcherSettings({ mode: 'edge', memoryBudget: null }, {})))"], { encoding: 'utf8' });
  assert.is(`cloudy-agent-v8: ${m![1]}`, agent.stdout.trim(), agent.stderr);
});

test('plain agent: one node start, edge flags and malloc settings, marked', () => {
  const starts = launch(['agent', '-node', 'x']);
  assert.equal(starts, ['start NODE_OPTIONS=--max-semi-space-size=1 MALLOC_ARENA_MAX=2 V8=1 args=/b.cjs agent -node x']);
});

test('a malloc setting already in the environment is kept', () => {
  assert.match(launch(['agent'], { MALLOC_ARENA_MAX: '4' })[0]!, 'MALLOC_ARENA_MAX=4');
});

test('-mode, -memory-budget or a config key for them: the bundle is asked first', () => {
  assert.equal(launch(['agent', '-mode', 'full']).length, 2);
  assert.equal(launch(['agent', '-memory-budget=64MB'])[0], 'ask');
  const cfg = join(dir, 'etc');
  mkdirSync(cfg, { recursive: true });
  writeFileSync(join(cfg, 'a.json'), '{"retry_join": ["10.0.0.1:5000"]}');
  // A config dir without those keys: defaults, one start.
  assert.equal(launch(['agent', '-config-dir', cfg]).length, 1);
  writeFileSync(join(cfg, 'b.json'), '{"mode": "full"}');
  const starts = launch(['agent', '-config-dir', cfg]);
  assert.equal(starts[0], 'ask');
  assert.match(starts[1]!, 'NODE_OPTIONS=--max-old-space-size=40');
  assert.equal(launch(['agent', `-config-file=${join(cfg, 'b.json')}`])[0], 'ask');
  assert.equal(launch(['agent', '-config-file', join(cfg, 'a.json')]).length, 1);
});

test('other commands and a marked start: node as is', () => {
  assert.equal(launch(['members']), ['start NODE_OPTIONS= MALLOC_ARENA_MAX=unset V8= args=/b.cjs members']);
  assert.equal(launch(['agent'], { CLOUDY_AGENT_V8: '1' }).length, 1);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
