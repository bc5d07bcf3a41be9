// test/run-all.mjs, the runner `make check` and `make test` go through: each
// file counted once, a failure never hidden, and with --batch (several quick
// files to a process) every file still counted as if it had run alone: a
// failing file fails the run, a file that ended the batch's process fails and
// the files after it still run, and a file that fails only after another file
// in the same process is named flaky.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const FIXTURES = 'test/fixtures/run-all';
const names = ['a-pass', 'b-fail', 'c-leaves-global', 'd-needs-clean', 'e-exits', 'f-after'];

async function runAll(batch: boolean): Promise<{ code: number; out: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'run-all-test-'));
  try {
    // Every fixture took 0.5 s "last time": quick enough to be batched, all in one batch.
    const times = Object.fromEntries(names.map((n) => [`${FIXTURES}/${n}.test.ts`, 0.5]));
    await writeFile(join(dir, 'times.json'), JSON.stringify(times));
    const args = ['test/run-all.mjs', '--precompiled', ...(batch ? ['--batch'] : []), '-j', '2'];
    return await new Promise((resolve) => {
      execFile(process.execPath, args, {
        cwd: root, timeout: 120_000,
        env: { ...process.env, RUN_ALL_DIR: FIXTURES, RUN_ALL_TIMES: join(dir, 'times.json'), TEST_NO_RETRY: '' },
      }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const line = (out: string, re: RegExp): string => out.split('\n').find((l) => re.test(l)) ?? '';

test('each file in its own process: the failing and the exiting file fail the run, the others pass', async () => {
  const { code, out } = await runAll(false);
  assert.is(code, 1, out);
  assert.ok(out.includes('6 passed, 2 failed'), out);
  assert.match(line(out, /FAIL .*b-fail/), /b-fail\.test\.ts/);
  assert.match(line(out, /FAIL .*e-exits/), /exit 7/);
  assert.match(line(out, /ok .*d-needs-clean/), /1 tests/);
  assert.not.ok(out.includes('flaky'), out);
});

test('--batch: the same counts; the file that ended the process fails, the file after it runs alone; a file failing only after another is flaky', async () => {
  const { code, out } = await runAll(true);
  assert.is(code, 1, out);
  assert.ok(out.includes('6 passed, 2 failed'), out);
  assert.match(line(out, /ok .*a-pass/), /2 tests, .*in a batch/);
  assert.match(line(out, /FAIL .*b-fail/), /in a batch/);
  assert.match(line(out, /RETRY .*b-fail/), /alone/);
  assert.match(line(out, /RETRY .*d-needs-clean/), /alone/);
  assert.match(out, /flaky[^\n]*\n\s+test\/fixtures\/run-all\/d-needs-clean\.test\.ts \(failed in a batch after [^)]*c-leaves-global\.test\.ts\)/);
  assert.match(line(out, /FAIL .*e-exits.*in a batch/), /exit 7/);
  assert.match(line(out, /ok .*f-after/), /1 tests, \d/); // alone: e-exits ended the batch before f-after started
  assert.ok(/failed files:\n\s+test\/fixtures\/run-all\/b-fail\.test\.ts\n\s+test\/fixtures\/run-all\/e-exits\.test\.ts/.test(out), out);
});

test.run();
