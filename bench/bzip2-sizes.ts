// Size of Cloudy's `services` tag: our bzip2 encoder against `bzip2 -9` (the
// binary on this machine, what avahi-ps pipes the JSON through) on the corpus
// of realistic service lists test/fixtures/cloudy-services/corpus.json
// (issue 13 point 4). Sizes only, so machine load does not matter.
//
//   npx tsx bench/bzip2-sizes.ts [--out DIR]     -> DIR/bzip2-sizes.md and .json (default bench/results)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './lib/agents.ts';
import { bzip2Encode } from '../agent/discovery/bzip2-encoder.ts';
import { servicesJson, SERVICES_TAG, type ServiceRecord } from '../agent/discovery/codec.ts';
import { encodedTagsSize } from '../agent/discovery/tag-size.ts';

const outIdx = process.argv.indexOf('--out');
const out = outIdx > 0 ? process.argv[outIdx + 1]! : join(REPO_ROOT, 'bench/results');
const corpus = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/cloudy-services/corpus.json'), 'utf8')) as { name: string; records: ServiceRecord[] }[];
const version = (spawnSync('bzip2', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).stderr.split('\n')[0] ?? '').replace(/, a block-sorting file compressor\.\s*/, ' ').replace(/\.$/, '') || 'bzip2';

interface Row { name: string; services: number; json: number; ours: number; bzip2: number; oursTag: number; bzip2Tag: number }
const rows: Row[] = corpus.map((c) => {
  const json = new TextEncoder().encode(servicesJson(c.records));
  const ours = Buffer.from(bzip2Encode(json));
  const ref = execFileSync('bzip2', ['-9', '-c'], { input: json });
  const tag = (b: Buffer): number => encodedTagsSize({ [SERVICES_TAG]: b.toString('base64') });
  return { name: c.name, services: c.records.length, json: json.length, ours: ours.length, bzip2: ref.length, oursTag: tag(ours), bzip2Tag: tag(ref) };
});

const group = (r: Row): string => r.name.replace(/ \d+.*$/, '').replace(/^single .*/, 'single service').replace(/^edge: fits.*/, 'edge: fits');
const kind = (r: Row): string => (r.name.startsWith('edge') ? (r.name.includes('fits') ? 'near the edge (fits with bzip2 -9)' : 'near the edge (one service more)') : group(r));
const groups = [...new Set(rows.map(kind))];
const sum = (rs: Row[], k: keyof Row): number => rs.reduce((a, r) => a + (r[k] as number), 0);
const pct = (a: number, b: number): string => `${((a / b - 1) * 100).toFixed(1)}%`;
const lines = [
  '# services tag size: ours vs `bzip2 -9`',
  '',
  `Corpus: test/fixtures/cloudy-services/corpus.json (${rows.length} lists). Reference: \`${version.trim()}\`. Tag bytes = serf's`,
  'encoded tag map `0xFF msgpack({services: base64})`, limit 512. Reproduce: `npx tsx bench/bzip2-sizes.ts`.',
  '',
  '| lists | count | JSON bytes | bzip2 -9 bytes | ours bytes | ours/bzip2 | worse | same | smaller | fit 512 with bzip2 -9 | fit 512 with ours |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
];
for (const g of [...groups, 'all']) {
  const rs = g === 'all' ? rows : rows.filter((r) => kind(r) === g);
  lines.push(`| ${g} | ${rs.length} | ${sum(rs, 'json')} | ${sum(rs, 'bzip2')} | ${sum(rs, 'ours')} | ${pct(sum(rs, 'ours'), sum(rs, 'bzip2'))} | ${rs.filter((r) => r.ours > r.bzip2).length} | ${rs.filter((r) => r.ours === r.bzip2).length} | ${rs.filter((r) => r.ours < r.bzip2).length} | ${rs.filter((r) => r.bzip2Tag <= 512).length} | ${rs.filter((r) => r.oursTag <= 512).length} |`);
}
lines.push('', 'Lists near the 512-byte edge, tag bytes:', '', '| list | services | bzip2 -9 | ours |', '|---|---|---|---|');
for (const r of rows.filter((x) => x.name.startsWith('edge'))) lines.push(`| ${r.name.replace(/ \(.*\)$/, '')} | ${r.services} | ${r.bzip2Tag} | ${r.oursTag} |`);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'bzip2-sizes.md'), lines.join('\n') + '\n');
writeFileSync(join(out, 'bzip2-sizes.json'), JSON.stringify({ reference: version.trim(), rows }, null, 1) + '\n');
console.log(lines.slice(0, 7 + groups.length + 1).join('\n'));
