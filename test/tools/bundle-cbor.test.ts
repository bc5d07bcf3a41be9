// What the bundle loads of Node at idle (tools/bundle.mjs, issue 17 point 2):
// cbor-x's plain JavaScript entry (its Node entry loads Node's module loader and
// probes for a native addon the bundle can never load; encoding and decoding
// stay the same), and no perf_hooks for the gossip clock or the start-up
// trace's banner while tracing is off.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const run = (file: string, args: string[]): Promise<string> => new Promise((resolve, reject) => {
  execFile(file, args, { cwd: root, timeout: 120_000 }, (err, out, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(out)));
});

/** Bundles `fixture` as the agent is bundled (tools/bundle.mjs), runs it on this node, returns the JSON it printed. */
async function bundleAndRun(fixture: string): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'rs-bundle-'));
  try {
    const out = join(dir, 'fixture.cjs');
    await run(process.execPath, ['tools/bundle.mjs', fixture, out]);
    return JSON.parse((await run(process.execPath, [out])).trim()) as Record<string, unknown>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('bundled, cbor-x round-trips maps, bytes and lists without loading Node\'s module loader', async () => {
  const r = await bundleAndRun('test/fixtures/bundle/cbor-roundtrip.ts');
  assert.equal(r, { seq: 42, key: [0, 1, 254, 255], name: 'operator', list: [1, 'two', null], moduleLoaded: false });
});

test('bundled, the gossip clock and an untraced start-up mark do not load perf_hooks; the clock stays on the epoch scale', async () => {
  const r = await bundleAndRun('test/fixtures/bundle/clock-idle.ts');
  assert.equal(r, { perfHooks: false, nearWall: true, ordered: true });
});

test.run();
