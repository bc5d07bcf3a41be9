#!/usr/bin/env node
// Turns a stack trace of the minified bundle (or of the executable, which runs
// the same bundle) back into TypeScript positions and names, from the source
// map tools/bundle.mjs writes beside it (dist/cloudy-agent.cjs.map, not shipped).
//
//   cloudy-agent ... 2>&1 | node tools/stack-map.mjs [dist/cloudy-agent.cjs.map]
//
// Each "FILE:LINE:COLUMN" whose file is the bundle or the executable is replaced by
// "agent/x.ts:LINE:COLUMN (name)"; other text passes through unchanged. Node's own
// SourceMap class (node:module) does the decoding: no extra package.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const POSITION = /([^\s()]*(?:cloudy-agent\.cjs|cloudy-agent|sea-main\.cjs)):(\d+):(\d+)/g;

/** `text` with every bundle position mapped back (1-based in stack traces, 0-based in the map). */
export function mapStack(text, mapJson) {
  const map = new SourceMap(mapJson);
  return text.replace(POSITION, (whole, _file, l, c) => {
    const e = map.findEntry(Number(l) - 1, Number(c) - 1);
    if (!e || e.originalSource === undefined) return whole;
    const src = e.originalSource.replace(/^.*?\b(agent|node_modules)\//, '$1/');
    return `${src}:${e.originalLine + 1}:${e.originalColumn + 1}${e.name ? ` (${e.name})` : ''}`;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mapFile = process.argv[2] ?? fileURLToPath(new URL('../dist/cloudy-agent.cjs.map', import.meta.url));
  const mapJson = JSON.parse(readFileSync(mapFile, 'utf8'));
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => { input += d; });
  process.stdin.on('end', () => { process.stdout.write(mapStack(input, mapJson)); });
}
