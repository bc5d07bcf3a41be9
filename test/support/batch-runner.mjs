// Child of `test/run-all.mjs --batch`: runs several quick test files one after
// another in this one process, so that `make check` pays Node's start-up, the
// module hooks' thread and the agent's module evaluation once per batch instead
// of once per file. Each file is imported and its suites run to the end (uvu's
// exec) before the next file is imported, and each file's output is framed by
// marker lines that run-all splits on, so a file reads as if it had run alone:
// its own "Total / Passed" lines, its own time.
//
// Usage (run-all does this): node --import <hooks> test/support/batch-runner.mjs FILE...
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

export const BEGIN = '[batch] begin ';
export const END = '[batch] end ';

globalThis.UVU_DEFER = 1; // uvu queues suites instead of running them on its own timer
const uvu = await import('uvu');

let failedFiles = 0;
for (const file of process.argv.slice(2)) {
  process.stdout.write(`\n${BEGIN}${file}\n`);
  const t0 = performance.now();
  globalThis.UVU_QUEUE = [[null]];
  globalThis.UVU_INDEX = 0;
  let loaded = true;
  try {
    await import(pathToFileURL(resolve(file)).href);
  } catch (e) {
    loaded = false;
    process.stdout.write(`\n   FAIL  loading ${file}: ${e && e.stack ? e.stack : String(e)}\n`);
  }
  if (loaded) {
    await uvu.exec(false);
    if (process.exitCode) failedFiles++;
    process.exitCode = 0; // the next file's exec would overwrite it; the total is set below
  } else failedFiles++;
  process.stdout.write(`\n${END}${file} ${((performance.now() - t0) / 1000).toFixed(2)}\n`);
}
process.exitCode = failedFiles > 0 ? 1 : 0;
