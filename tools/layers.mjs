#!/usr/bin/env node
// Counts the imports in agent/ that point from a lower floor to a higher one.
//
// A "floor" is the place a folder has in the intended order of the layout
// (README "Layout"): a folder may import its own floor and the floors below it,
// never one above. Floors, lowest first:
//
//   0  agent/errors.ts, obs/            errors and observability: used by everyone
//   1  system/                          OS mechanisms (exec, net facts, cgroups, V8)
//   2  config/, state/                  configuration, host facts, persistence
//   3  gossip/wire/, gossip/*.ts        codecs; gossip-wide basics (clock, profiles, queue)
//   4  gossip/transport/, gossip/coordinate/
//   5  gossip/memberlist/
//   6  gossip/serf/
//   7  rpc/                             serf's agent RPC
//   8  commands/, cli-kit/, plugin.ts  the command registry, the CLI scaffold its verbs are
//                                      built on (flags, one error style), the plug-in contract
//   9  discovery/, containers/, event-handlers/, api/, remote/, guifi/
//  10  cli/, daemon.ts, main.ts, plugins.ts, anything else at agent/'s top
//
// A folder not in this table is reported and counted at floor 9 (a feature).
// An "upward import" is one import statement (static, `export ... from`, or a
// dynamic `import('...')`, type-only included) whose file sits on a lower floor
// than the file it imports. Imports of packages and node: modules are ignored.
//
// Usage:
//   node tools/layers.mjs                 count in the work tree
//   node tools/layers.mjs --rev b327adc   count at a commit (read with git, nothing checked out)
//   node tools/layers.mjs --list          also print every upward import, grouped by folder pair
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, posix } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const rev = args.includes('--rev') ? args[args.indexOf('--rev') + 1] : null;
const list = args.includes('--list');

const FLOORS = [
  ['errors.ts', 0], ['obs/', 0],
  ['system/', 1],
  ['config/', 2], ['state/', 2],
  ['gossip/wire/', 3],
  ['gossip/transport/', 4], ['gossip/coordinate/', 4],
  ['gossip/memberlist/', 5],
  ['gossip/serf/', 6],
  ['gossip/', 3], // files directly in gossip/ (after its sub-folders in this list)
  ['rpc/', 7],
  ['commands/', 8], ['cli-kit/', 8], ['plugin.ts', 8],
  ['discovery/', 9], ['containers/', 9], ['event-handlers/', 9], ['handlers/', 9], // handlers/: its name before 2026-12-07
  ['api/', 9], ['remote/', 9], ['guifi/', 9],
  ['cli/', 10],
];
const TOP = 10;
const unknown = new Set();

/** Floor and display folder of a path relative to agent/. */
function place(rel) {
  for (const [prefix, floor] of FLOORS) {
    if (prefix.endsWith('/') ? rel.startsWith(prefix) : rel === prefix) {
      return { floor, folder: prefix.endsWith('/') && prefix !== 'gossip/' ? prefix.slice(0, -1) : rel.includes('/') ? 'gossip' : rel };
    }
  }
  if (!rel.includes('/')) return { floor: TOP, folder: rel };
  const folder = rel.split('/')[0];
  unknown.add(folder);
  return { floor: 9, folder };
}

function sources() {
  if (rev) {
    const out = execFileSync('git', ['-C', root, 'ls-tree', '-r', '--name-only', rev, 'agent/'], { encoding: 'utf8' });
    return out.split('\n').filter((f) => /\.(ts|mts|mjs|js)$/.test(f))
      .map((f) => ({ path: f, text: () => execFileSync('git', ['-C', root, 'show', `${rev}:${f}`], { encoding: 'utf8' }) }));
  }
  const walk = (dir) => readdirSync(join(root, dir)).sort().flatMap((name) => {
    const p = posix.join(dir, name);
    return statSync(join(root, p)).isDirectory() ? walk(p) : /\.(ts|mts|mjs|js)$/.test(name) ? [p] : [];
  });
  return walk('agent').map((f) => ({ path: f, text: () => readFileSync(join(root, f), 'utf8') }));
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;
const files = sources();
const pairs = new Map(); // "from -> to" -> [file:line -> target]
let total = 0;
let upward = 0;
for (const f of files) {
  const text = f.text();
  const from = place(f.path.slice('agent/'.length));
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith('.')) continue;
    const target = normalize(join(dirname(f.path), spec)).split('\\').join('/');
    if (!target.startsWith('agent/')) continue;
    total++;
    const to = place(target.slice('agent/'.length));
    if (to.floor <= from.floor) continue;
    upward++;
    const key = `${from.folder} (${from.floor}) -> ${to.folder} (${to.floor})`;
    const line = text.slice(0, m.index).split('\n').length + (m[0].startsWith('\n') ? 1 : 0);
    if (!pairs.has(key)) pairs.set(key, []);
    pairs.get(key).push(`${f.path}:${line} -> ${target}`);
  }
}

if (list) {
  for (const [key, hits] of [...pairs].sort()) {
    console.log(`${key}: ${hits.length}`);
    for (const h of hits) console.log(`    ${h}`);
  }
}
if (unknown.size) console.log(`folders not in the floor table (counted at floor 9): ${[...unknown].join(', ')}`);
console.log(`${rev ?? 'work tree'}: ${files.length} files, ${total} imports inside agent/, ` +
  `${upward} upward imports across ${pairs.size} folder pairs`);
