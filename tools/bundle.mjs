#!/usr/bin/env node
// Bundles the agent into one CommonJS file (dist/cloudy-agent.cjs): the input
// of the single executable (pkg --sea) and what OpenWrt runs on its own node.
//
// compressjs (our bzip2, for Cloudy's `services` tag) is written as AMD modules
// loaded through `amdefine`, which resolves dependencies at run time and cannot
// be bundled. The plugin below rewrites each of its files into plain CommonJS
// with static require() calls, which esbuild can follow.
import { build } from 'esbuild';
import { readdir, readFile } from 'node:fs/promises';

const amdToCjs = {
  name: 'amd-to-cjs',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]compressjs[\\/].*\.js$/ }, async (args) => {
      let src = await readFile(args.path, 'utf8');
      src = src.replace(/if \(typeof define !== 'function'\) \{ var define = require\('amdefine'\)\(module\); \}/, '');
      const m = /define\(\s*\[([^\]]*)\]\s*,\s*function/.exec(src);
      if (!m) return { contents: src, loader: 'js' };
      const deps = m[1].split(',').map((s) => s.trim()).filter(Boolean);
      const table = deps.map((d) => `${d}: require(${d})`).join(', ');
      const shim =
        `var __amdDeps = {${table}};\n` +
        `var define = function (deps, factory) { module.exports = factory.apply(null, deps.map(function (d) { return __amdDeps[d]; })); };\n`;
      return { contents: shim + src, loader: 'js' };
    });
  },
};

// The executable starts from a V8 startup snapshot of this bundle after its
// module evaluation (tools/build-sea.mjs). Node 22's snapshot serializer aborts
// (std::length_error) on an Error object whose stack was captured but never
// formatted; @msgpack/msgpack makes one at module level (its MORE_DATA
// sentinel). Reading its .stack once formats it. A new such error anywhere in
// the start-up modules makes `make binary` fail, not the executable.
const snapshotSafeErrors = {
  name: 'snapshot-safe-errors',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]@msgpack[\\/]msgpack[\\/].*[\\/]Decoder\.c?js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const line = /const MORE_DATA = new RangeError\("Insufficient data"\);/;
      if (!line.test(src)) throw new Error(`${args.path}: MORE_DATA not found (snapshot-safe-errors needs updating)`);
      return { contents: src.replace(line, (m) => `${m} MORE_DATA.stack;`), loader: 'js' };
    });
  },
};

// The web GUI's files go into the bundle as strings: agent/api/gui/embedded.ts
// (null in the sources, where gui/assets.ts reads the files) is replaced by a
// module that maps each file name (every non-.ts file of that folder) to its text.
const embedGui = {
  name: 'embed-gui',
  setup(b) {
    b.onLoad({ filter: /agent[\\/]api[\\/]gui[\\/]embedded\.ts$/ }, async (args) => {
      const dir = args.path.replace(/embedded\.ts$/, '');
      const files = {};
      for (const f of (await readdir(dir)).filter((n) => !n.endsWith('.ts'))) files[f] = await readFile(dir + f, 'utf8');
      return { contents: `export const EMBEDDED = ${JSON.stringify(files)};`, loader: 'ts' };
    });
  },
};

const entry = process.argv[2] ?? 'agent/main.ts';
const outfile = process.argv[3] ?? 'dist/cloudy-agent.cjs';
await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  // Node 18: Debian 12's nodejs and OpenWrt 23.05's node run this file.
  target: 'node18',
  format: 'cjs',
  outfile,
  logLevel: 'warning',
  plugins: [amdToCjs, embedGui, snapshotSafeErrors],
  // import.meta.url has no meaning in a CJS bundle; map it to the file's URL.
  // __cloudyBundleStartHr: when the bundle's first line ran (compile before, module
  // evaluation after), for the start-up trace (agent/obs/startup-trace.ts).
  define: { 'import.meta.url': '__cloudyImportMetaUrl' },
  // cbor-x's Node entry probes for its native accelerator (cbor-extract) at module
  // evaluation: require('module') (which loads Node's ESM loader and source-map
  // support), node-gyp-build's search of build/ and prebuilds/ directories, and
  // its stream classes. The bundle can never load that addon (the executable's
  // require() sees built-ins only; the packages ship no node_modules), so it takes
  // the package's plain JavaScript entry: same encode/decode, less code loaded and
  // kept (issue 17 point 2). Development (tsx) keeps the Node entry.
  alias: { 'cbor-x': './node_modules/cbor-x/index.js' },
  // process.hrtime(), not performance.now(): the `performance` global loads Node's
  // perf_hooks and its eight modules on first touch (issue 17 point 2).
  banner: { js: "globalThis.__cloudyBundleStartHr = process.hrtime(); const __cloudyImportMetaUrl = require('url').pathToFileURL(__filename).href;" },
  // V8 keeps a script's whole source text on the heap for as long as any of its
  // functions lives (lazy compilation, toString), i.e. for the agent's life, and the
  // executable keeps it a second time in its file pages (the SEA blob, read once at
  // start and mapped from then on). Without comments and indentation it is half the
  // size, and ASCII-only it is stored one byte per character instead of two (one µ
  // in a regex made all 1.5 M characters two-byte: 3 MB of heap).
  // Identifiers and syntax are minified too (issue 17 point 2): 1.19 -> 0.85 MB of
  // source, measured 0.44 MB less live heap and 0.34 MB less RssFile at idle.
  // The trade-off: local and top-level names are short in the bundle, so a stack
  // trace names methods (Class.method: property names are kept) but not free
  // functions; its file:line:column maps back to the TypeScript through
  // dist/cloudy-agent.cjs.map, written beside the bundle and not shipped
  // (npx source-map-cli, or node --enable-source-maps with the map copied next to
  // the bundle). keepNames (function.name kept through __name() calls) is not
  // used: it costs 0.4 MB of heap more and a defineProperty per closure created.
  // Error codes (AgentError), log namespaces and messages do not depend on names.
  minifyWhitespace: true,
  minifyIdentifiers: true,
  minifySyntax: true,
  legalComments: 'none',
  charset: 'ascii',
  sourcemap: 'external',
  sourcesContent: false,
});
