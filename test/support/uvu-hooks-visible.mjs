// Preloaded by test/run-all.mjs (node --import): uvu 0.5.6 swallows an error
// thrown by a before/after hook (its runner returns from a `finally`), so a
// failed setup shows only "(0 / N)". This redirects `import 'uvu'` to a thin
// wrapper that prints such errors before rethrowing them.
import { register } from 'node:module';

register('./uvu-resolve.mjs', import.meta.url);
