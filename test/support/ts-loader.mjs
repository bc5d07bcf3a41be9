// `node --import ./test/support/ts-loader.mjs file.test.ts`: runs the tests'
// TypeScript from the JavaScript test/support/precompile.mjs compiled once per
// run (see ts-hooks.mjs), instead of tsx, whose own start-up costs each test
// process about 0.6 CPU-s (87 files in `make check`: most of its CPU time).
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./ts-hooks.mjs', import.meta.url);
