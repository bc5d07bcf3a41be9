// What every bench section that also runs on its own shares: writing its results as
// <out>/<base>.{md,json}, and the command-line runner (flags, a process registry killed on
// exit and on SIGINT/SIGTERM, a timestamped log on stderr, one line per row on stdout).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessRegistry, REPO_ROOT } from './agents.ts';
import { type Row, renderMarkdown } from './report.ts';

export interface SectionOut { out: string; quick?: boolean; log: (line: string) => void }

/** Writes <out>/<name or quick-name>.md and .json; the json gets the date first. */
export function writeSectionResults(o: SectionOut, name: string, title: string, preface: string[], rows: Row[], notes: string[], json: object): void {
  const base = o.quick ? `quick-${name}` : name;
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, `${base}.md`), renderMarkdown(title, preface, rows, notes));
  writeFileSync(join(o.out, `${base}.json`), JSON.stringify({ date: new Date().toISOString(), ...json }, null, 2) + '\n');
  o.log(`${name}: wrote ${join(o.out, base)}.{md,json}`);
}

export interface StandaloneArgs {
  reg: ProcessRegistry;
  log: (line: string) => void;
  quick: boolean;
  out: string;
  /** A numeric flag's value, or undefined when absent. */
  num: (flag: string) => number | undefined;
}

/** Runs a section from the command line: `run` gets the parsed flags; rows are printed, children killed. */
export function runStandalone(name: string, run: (a: StandaloneArgs) => Promise<Row[]>): void {
  const argv = process.argv.slice(2);
  const val = (k: string): string | undefined => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const reg = new ProcessRegistry();
  const t0 = Date.now();
  const log = (l: string): void => { process.stderr.write(`[${name} ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${l}\n`); };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { void reg.killAll().then(() => process.exit(130)); });
  const num = (k: string): number | undefined => (val(k) ? Number(val(k)) : undefined);
  run({ reg, log, quick: argv.includes('--quick'), out: val('--out') ?? join(REPO_ROOT, 'bench/results'), num })
    .then(async (rows) => {
      await reg.killAll();
      for (const r of rows) process.stdout.write(`${r.figure}: ours ${r.ours} | serf ${r.serf} | ratio ${r.ratio?.toFixed(2) ?? '—'}\n`);
    }).catch(async (e: Error) => { await reg.killAll(); process.stderr.write(`${e.stack}\n`); process.exit(1); });
}
