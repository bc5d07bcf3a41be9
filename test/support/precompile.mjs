#!/usr/bin/env node
// Compiles every .ts file of agent/, test/ and bench/ whose compiled copy under
// .cache/ts-js/ (same relative path, `.js` appended) is missing or older, with
// esbuild's per-file TypeScript transform (what tsx does; tsconfig.json's
// compiler options passed along), in one esbuild process. What
// test/support/ts-loader.mjs serves. Usage: node test/support/precompile.mjs
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const outDir = join(root, '.cache', 'ts-js');

/** esbuild transform options for `file`; the source map names the file relative to itself, so stack traces point at the .ts. */
export function transformOptions(file) {
  return {
    loader: 'ts', format: 'esm', platform: 'node', target: 'node18', sourcemap: 'inline',
    sourcefile: basename(file), tsconfigRaw: readFileSync(join(root, 'tsconfig.json'), 'utf8'),
  };
}

export function compiledPath(file) {
  return join(outDir, relative(root, file) + '.js');
}

function walk(dir, out) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== 'node_modules') walk(p, out); } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function stale(src) {
  try { return statSync(compiledPath(src)).mtimeMs < statSync(src).mtimeMs; } catch { return true; }
}

/** Compiles what is stale; returns how many files it compiled. */
export async function precompile() {
  const todo = ['agent', 'test', 'bench'].flatMap((d) => walk(join(root, d), [])).filter(stale);
  if (todo.length === 0) return 0;
  const esbuild = await import('esbuild');
  await Promise.all(todo.map(async (f) => {
    const { code } = await esbuild.transform(readFileSync(f, 'utf8'), transformOptions(f));
    const out = compiledPath(f);
    mkdirSync(dirname(out), { recursive: true });
    // Written aside and renamed: a test process started meanwhile (another run) never reads half a file.
    writeFileSync(`${out}.${process.pid}.tmp`, code);
    renameSync(`${out}.${process.pid}.tmp`, out);
  }));
  return todo.length;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = await precompile();
  process.stdout.write(`precompiled ${n} file(s) into .cache/ts-js/\n`);
}
