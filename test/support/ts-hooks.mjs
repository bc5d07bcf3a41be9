// Module load hook of test/support/ts-loader.mjs: a `.ts` file of this
// repository is served as the JavaScript that test/support/precompile.mjs
// wrote for it under .cache/ts-js/. The module keeps its own URL, so
// import.meta.url, relative imports and fixture paths are what they are under
// tsx. A file newer than its compiled copy (or one not compiled yet) is
// transformed on the spot with the same esbuild options.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compiledPath, transformOptions } from './precompile.mjs';

const rootUrl = new URL('../..', import.meta.url).href;
let esbuild = null;

export async function load(url, context, next) {
  if (!url.startsWith(rootUrl) || !url.endsWith('.ts') || url.includes('/node_modules/')) return next(url, context);
  const file = fileURLToPath(url);
  const out = compiledPath(file);
  let source;
  try {
    if (statSync(out).mtimeMs >= statSync(file).mtimeMs) source = readFileSync(out, 'utf8');
  } catch { /* not compiled yet */ }
  if (source === undefined) {
    esbuild ??= await import('esbuild');
    source = (await esbuild.transform(readFileSync(file, 'utf8'), transformOptions(file))).code;
  }
  return { format: 'module', source, shortCircuit: true };
}
