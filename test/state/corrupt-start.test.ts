// Corrupt or foreign state on start: a truncated snapshot, a keyring file with
// garbage, a containers desired-state file from a future version. Each is
// moved aside as name.corrupt-<time>, logged, and the agent starts with what
// it can keep (no peers from the snapshot, the -encrypt key, no containers).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { AtomicFile } from '../../agent/state/atomic-file.ts';
import { Snapshotter } from '../../agent/state/snapshot.ts';
import { loadKeyring } from '../../agent/daemon.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';
import { keyToBase64 } from '../../agent/gossip/wire/keyring.ts';
import { TagsFile } from '../../agent/state/tags-file.ts';
import { ContainerStateStore } from '../../agent/containers/state-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'cr-corrupt-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const KEY = 'HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=';
const asideOf = (name: string): string[] => readdirSync(dir).filter((f) => f.startsWith(`${name}.corrupt-`));

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: Logger.root({ level: 'DEBUG', write: (l) => lines.push(l) }), lines };
}

test('truncated snapshot: moved aside, no peers from it, said so', async () => {
  const path = join(dir, 'serf.snapshot');
  const good = JSON.stringify({ version: 1, node: 'cr-a', clock: 5, eventClock: 1, queryClock: 1, left: false, peers: [{ name: 'p', addr: '10.226.0.2', port: 7946, status: 'alive', lastSeen: 1 }] });
  writeFileSync(path, good.slice(0, good.length / 2));
  const { logger, lines } = capture();
  const s = new Snapshotter({ store: new AtomicFile(path), node: 'cr-a', maxPeers: 10, logger, counters: new Counters() });
  assert.is(await s.load(), null);
  assert.is(existsSync(path), false);
  const aside = asideOf('serf.snapshot');
  assert.is(aside.length, 1);
  assert.is(readFileSync(join(dir, aside[0]!), 'utf8'), good.slice(0, good.length / 2), 'the bad bytes are kept for a person');
  assert.ok(lines.some((l) => l.includes('corrupt snapshot') && l.includes(aside[0]!)), lines.join('\n'));
});

test('keyring file with garbage: moved aside, the -encrypt key used and written', async () => {
  for (const garbage of ['\u0000\u0013garbage{', '["not-a-key"]']) {
    const path = join(dir, `keyring-${garbage.length}.json`);
    writeFileSync(path, garbage);
    const { logger, lines } = capture();
    const ring = await loadKeyring({ ...defaultAgentConfig(), keyringFile: path, encryptKey: KEY }, logger.child('agent'));
    assert.ok(ring);
    assert.equal(ring!.keys().map(keyToBase64), [KEY]);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')), [KEY], 'a fresh keyring file');
    const aside = asideOf(`keyring-${garbage.length}.json`);
    assert.is(aside.length, 1);
    assert.ok(lines.some((l) => l.includes('moved it to') && l.includes(aside[0]!)), lines.join('\n'));
  }
});

test('containers state from a future version (and torn JSON): moved aside, no desired containers, said so', async () => {
  for (const [sub, body] of [['future', JSON.stringify({ version: 2, bootId: 'b', containers: [{ name: 'web' }], shiny: true })], ['torn', '{"version":1,"bootId":"b","contai']] as const) {
    const sd = join(dir, sub);
    const store = new ContainerStateStore(sd);
    await new AtomicFile(store.path).write(new TextEncoder().encode(body));
    const said: string[] = [];
    assert.is(await store.load((m) => said.push(m)), null);
    assert.is(existsSync(store.path), false);
    const aside = readdirSync(sd).filter((f) => f.startsWith('containers.json.corrupt-'));
    assert.is(aside.length, 1);
    assert.is(said.length, 1);
    assert.match(said[0]!, aside[0]!);
    // A good file still loads.
    await store.save({ version: 1, bootId: 'b', containers: [] });
    assert.equal(await store.load((m) => said.push(m)), { version: 1, bootId: 'b', containers: [] });
  }
});

test('tags file with garbage: moved aside, the configured tags used', async () => {
  const path = join(dir, 'tags.json');
  writeFileSync(path, '{"role": "ed');
  const said: string[] = [];
  assert.is(await new TagsFile(path).readOrMoveAside((m) => said.push(m)), null);
  const aside = asideOf('tags.json');
  assert.is(aside.length, 1);
  assert.match(said[0]!, aside[0]!);
  assert.is(existsSync(path), false);
});

test.run();
