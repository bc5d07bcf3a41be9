// The bundle is minified (tools/bundle.mjs, issue 17 point 2: less source text held
// on the heap and in the executable's file pages); its stack traces stay usable
// through the source map written beside it and tools/stack-map.mjs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
let dir = '';
let bundle = '';

/** tools/stack-map.mjs as a user runs it: the stack on stdin, the map's path as its argument. */
function mapThroughTool(stack: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = execFile(process.execPath, ['tools/stack-map.mjs', join(dir, 'cloudy-agent.cjs.map')], { cwd: root, timeout: 30_000 },
      (err, out, stderr) => (err ? reject(new Error(`stack-map: ${err.message} ${stderr}`)) : resolve(out)));
    c.stdin!.end(stack);
  });
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-stack-map-'));
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ['tools/bundle.mjs', 'agent/main.ts', join(dir, 'cloudy-agent.cjs')], { cwd: root, timeout: 120_000 },
      (err, _out, stderr) => (err ? reject(new Error(`bundle: ${err.message} ${stderr}`)) : resolve()));
  });
  bundle = await readFile(join(dir, 'cloudy-agent.cjs'), 'utf8');
});
test.after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

test('the bundle is ASCII (V8 keeps it one byte per character) and names no source map (the map is not shipped)', () => {
  assert.ok(/^[\x00-\x7f]*$/.test(bundle), 'a non-ASCII character makes V8 store the whole source two bytes per character');
  assert.not.match(bundle, /sourceMappingURL/);
});

test('identifiers are minified: a free function of the agent is not named in the bundle', () => {
  // readLimitsFile (agent/config/limit-overrides-file.ts) is a top-level function of a module the agent command loads.
  const src = bundle;
  assert.not.match(src, /function readLimitsFile\(/);
});

test('a stack position in the bundle or the executable maps back to the TypeScript line', async () => {
  const i = bundle.indexOf('Serf agent starting');
  assert.ok(i > 0);
  const line = bundle.slice(0, i).split('\n').length;
  const col = i - bundle.lastIndexOf('\n', i - 1);
  const stack = `Error: x\n    at Xe (/usr/lib/cloudy-agent/cloudy-agent.cjs:${line}:${col})\n    at /usr/bin/cloudy-agent:${line}:${col}\n    at node:internal/timers:5:1`;
  const out = (await mapThroughTool(stack)).split('\n');
  const m = /at Xe \((agent\/[\w/-]+\.ts):(\d+):\d+\)/.exec(out[1]!);
  assert.ok(m, out[1]);
  const tsLine = (await readFile(join(root, m![1]!), 'utf8')).split('\n')[Number(m![2]) - 1]!;
  assert.match(tsLine, 'Serf agent starting');
  assert.match(out[2]!, /at agent\/[\w/-]+\.ts:\d+:\d+/);
  assert.is(out[3], '    at node:internal/timers:5:1');
});

test.run();
