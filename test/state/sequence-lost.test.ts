// A remote sequence file that cannot be read at start (agent/remote/sequence-
// store.ts): moved aside, and no number of any key that had a window may run
// (a replayed old command would pass) until a local operator unlocks the key
// above a floor; the floor is durable, so a restart does not reopen it either.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicFile } from '../../agent/state/atomic-file.ts';
import { SequenceStore } from '../../agent/remote/sequence-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'cr-seq-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'sequences.cbor');

test('garbage sequence file: moved aside, every key refused as state-lost, until unlocked above a floor', async () => {
  writeFileSync(path, Buffer.from([0xff, 0x13, 0x37, 0x00, 0x42]));
  const said: string[] = [];
  const s = await SequenceStore.load(fileWith(said), 64);
  assert.match(said.join(), /moved it to/);
  assert.ok(s.lost);
  assert.equal(readdirSync(dir).filter((f) => f.startsWith('sequences.cbor.corrupt-')).length, 1);
  assert.is(s.staleness('aaaaaaaaaaaaaaaa', 1), 'state-lost');
  assert.is(s.staleness('aaaaaaaaaaaaaaaa', 10 ** 12), 'state-lost', 'no number is safe: the old ones are unknown');
  assert.is(await s.accept('aaaaaaaaaaaaaaaa', 5), false);
  await s.unlock('aaaaaaaaaaaaaaaa', 41);
  assert.is(s.staleness('aaaaaaaaaaaaaaaa', 41), 'duplicate');
  assert.is(s.staleness('aaaaaaaaaaaaaaaa', 3), 'duplicate');
  assert.is(s.staleness('aaaaaaaaaaaaaaaa', 42), null);
  assert.is(s.staleness('bbbbbbbbbbbbbbbb', 42), 'state-lost', 'other keys stay locked');
  assert.ok(await s.accept('aaaaaaaaaaaaaaaa', 42));
  // A restart reads the unlocked window back: still nothing at or below the floor.
  const again = await SequenceStore.load(new AtomicFile(path), 64);
  assert.not.ok(again.lost);
  assert.is(again.staleness('aaaaaaaaaaaaaaaa', 41), 'duplicate');
  assert.is(again.staleness('aaaaaaaaaaaaaaaa', 42), 'duplicate');
  assert.is(again.staleness('aaaaaaaaaaaaaaaa', 43), null);
});

function fileWith(said: string[]): AtomicFile {
  const f = new AtomicFile(path);
  const orig = f.readOrMoveAside.bind(f);
  f.readOrMoveAside = (parse, instead, _said, onMoved) => orig(parse, instead, (m) => said.push(m), onMoved);
  return f;
}

test.run();
