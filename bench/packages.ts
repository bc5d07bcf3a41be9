// `make bench`, packages section: the agent as the packages run it, side by
// side in one real cluster (10 Debian `serf agent`s on a bridge):
//   executable  dist/cloudy-agent (Node 22 SEA, re-executes itself with the V8 flags)
//   node20      the bundle on this host's Node 20 through the launcher (cloudy-agent-js,
//               OpenWrt 24.10's node)
//   node18      the bundle on Debian 12's nodejs 18 through the launcher, inside a
//               Debian 12 container (cloudy-agent-js on Debian, OpenWrt 23.05's node)
//   serf        one of the serf agents, the anchor
// Figures: start to joined (spawn until the serf seed lists the node alive),
// VmRSS / RssAnon after settling (median of 5 samples), CPU s per minute of a
// steady cluster. Ratios are against the executable.
//   node --import tsx bench/packages.ts [--out DIR]
// Needs root (bridge, LXC), dist/cloudy-agent and dist/cloudy-agent.cjs.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessRegistry, REPO_ROOT } from './lib/agents.ts';
import { dropPageCache, readCpuSeconds, readMemory, type MemorySample } from './lib/procfs.ts';
import { median } from './lib/stats.ts';
import { DebianContainer, createBridge, debianRoot, deleteLink, run } from '../test/packages/debian-container.ts';
import { freePort } from '../test/support/net.ts';

const BRIDGE = 'pkbr2';
const HOST_IP = '10.224.2.1';
const CT_IP = '10.224.2.2';
const SERFS = 10;
const SETTLE_S = 30;
const CPU_WINDOW_S = 60;

type Kind = 'executable' | 'node20' | 'node18' | 'serf';
interface Figures { kind: Kind; runtime: string; joinMs: number | null; memory: MemorySample | null; cpuSPerMin: number | null }

const out = (() => { const i = process.argv.indexOf('--out'); return i > 0 ? process.argv[i + 1]! : join(REPO_ROOT, 'bench/results'); })();
const started = Date.now();
const log = (l: string) => process.stderr.write(`[bench-packages ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${l}\n`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process a chain of single children ends in (lxc-attach -> launcher exec'd into node). */
function leafPid(pid: number): number {
  for (let i = 0; i < 5; i++) {
    let kids: string[] = [];
    try { kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean); } catch { return pid; }
    if (kids.length !== 1) return pid;
    pid = Number(kids[0]);
  }
  return pid;
}

async function members(rpc: string): Promise<{ name: string; status: string }[]> {
  const r = await run('serf', ['members', `-rpc-addr=${rpc}`, '-format=json'], 10_000, true);
  try { return (JSON.parse(r.stdout) as { members: { name: string; status: string }[] }).members; } catch { return []; }
}

async function main(): Promise<void> {
  for (const f of ['dist/cloudy-agent', 'dist/cloudy-agent.cjs']) if (!existsSync(join(REPO_ROOT, f))) throw new Error(`${f} missing: make binary`);
  const reg = new ProcessRegistry();
  const tmp = mkdtempSync('/tmp/pk-bench-');
  const share = join(tmp, 'share');
  mkdirSync(share);
  copyFileSync(join(REPO_ROOT, 'dist/cloudy-agent.cjs'), join(share, 'cloudy-agent.cjs'));
  copyFileSync(join(REPO_ROOT, 'packaging/common/node-launcher.sh'), join(share, 'node-launcher.sh'));
  let ct: DebianContainer | null = null;
  const results: Figures[] = [];
  try {
    const root = await debianRoot();
    await createBridge(BRIDGE, `${HOST_IP}/24`);
    ct = new DebianContainer({ name: 'pkbench', bridge: BRIDGE, cidr: `${CT_IP}/24`, gateway: HOST_IP, share }, root);
    await ct.start();
    const node18 = (await ct.sh('node --version')).stdout.trim();
    log(`container up, nodejs ${node18}`);

    // The serf cluster.
    const serfs: { bind: string; rpc: string; pid: number }[] = [];
    for (let i = 0; i < SERFS; i++) {
      const bind = `${HOST_IP}:${await freePort(HOST_IP)}`;
      const rpc = `127.0.0.1:${await freePort('127.0.0.1')}`;
      const args = ['agent', `-node=pkserf${i}`, `-bind=${bind}`, `-rpc-addr=${rpc}`, '-profile=lan', '-log-level=warn'];
      if (i > 0) args.push(`-join=${serfs[0]!.bind}`);
      const c = reg.spawn('serf', args);
      serfs.push({ bind, rpc, pid: c.pid! });
      if (i === 0) await sleep(1000);
    }
    const seedRpc = serfs[0]!.rpc;
    const wait = async (what: string, ok: () => Promise<boolean>, ms = 120_000) => {
      const end = Date.now() + ms;
      while (!(await ok())) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await sleep(100); }
    };
    await wait('serf cluster', async () => (await members(seedRpc)).filter((m) => m.status === 'alive').length === SERFS);
    log(`${SERFS} serf agents up`);

    const common = (name: string, bind: string, rpc: string, data: string) =>
      ['agent', '-node', name, '-bind', bind, '-rpc-addr', rpc, '-profile', 'lan', '-log-level', 'warn', '-join', serfs[0]!.bind, '-data-dir', data, '-containers=false'];
    const joinedAfter = async (name: string, t0: number) => {
      await wait(`${name} joined`, async () => (await members(seedRpc)).some((m) => m.name === name && m.status === 'alive'));
      return Date.now() - t0;
    };
    const measured: { kind: Kind; runtime: string; pid: number; joinMs: number | null }[] = [];

    // One at a time for the start figure (2 cores), all together for the steady ones.
    dropPageCache(join(REPO_ROOT, 'dist/cloudy-agent'));
    const argsExe = common('pk-executable', `${HOST_IP}:${await freePort(HOST_IP)}`, `127.0.0.1:${await freePort('127.0.0.1')}`, join(tmp, 'exe'));
    let t0 = Date.now();
    const exe = reg.spawn(join(REPO_ROOT, 'dist/cloudy-agent'), argsExe);
    measured.push({ kind: 'executable', runtime: 'Node 22 (SEA)', pid: exe.pid!, joinMs: await joinedAfter('pk-executable', t0) });

    dropPageCache(process.execPath);
    dropPageCache(join(REPO_ROOT, 'dist/cloudy-agent.cjs'));
    // The launcher reads these (the registry's children inherit this environment).
    process.env.CLOUDY_AGENT_BUNDLE = join(REPO_ROOT, 'dist/cloudy-agent.cjs');
    process.env.CLOUDY_AGENT_NODE = process.execPath;
    const args20 = common('pk-node20', `${HOST_IP}:${await freePort(HOST_IP)}`, `127.0.0.1:${await freePort('127.0.0.1')}`, join(tmp, 'n20'));
    t0 = Date.now();
    const n20 = reg.spawn('sh', [join(REPO_ROOT, 'packaging/common/node-launcher.sh'), ...args20]);
    const joined20 = await joinedAfter('pk-node20', t0);
    measured.push({ kind: 'node20', runtime: `Node ${process.version}`, pid: n20.pid!, joinMs: joined20 });

    t0 = Date.now();
    const n18 = reg.spawn('lxc-attach', ['-P', ct.lxcPath, '-n', 'pkbench', '--clear-env',
      '--set-var', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '--set-var', 'CLOUDY_AGENT_BUNDLE=/mnt/pk/cloudy-agent.cjs', '--',
      'sh', '/mnt/pk/node-launcher.sh', ...common('pk-node18', `${CT_IP}:5000`, '127.0.0.1:7373', '/tmp/n18')]);
    const joined18 = await joinedAfter('pk-node18', t0);
    measured.push({ kind: 'node18', runtime: `Debian nodejs ${node18}`, pid: leafPid(n18.pid!), joinMs: joined18 });
    measured.push({ kind: 'serf', runtime: 'serf 0.9.4', pid: serfs[1]!.pid, joinMs: null });
    log(`joined: ${measured.map((m) => `${m.kind} ${m.joinMs ?? '-'} ms (pid ${m.pid})`).join(', ')}`);

    await sleep(SETTLE_S * 1000);
    const samples = new Map<number, MemorySample[]>();
    for (let i = 0; i < 5; i++) {
      for (const m of measured) { const s = readMemory(m.pid); if (s) samples.set(m.pid, [...(samples.get(m.pid) ?? []), s]); }
      await sleep(2000);
    }
    const cpu0 = new Map(measured.map((m) => [m.pid, readCpuSeconds(m.pid)]));
    const c0 = Date.now();
    await sleep(CPU_WINDOW_S * 1000);
    const minutes = (Date.now() - c0) / 60_000;
    const alive = (await members(seedRpc)).filter((m) => m.status === 'alive').length;
    log(`steady window done; seed sees ${alive} alive`);
    for (const m of measured) {
      const s = samples.get(m.pid) ?? [];
      const a = cpu0.get(m.pid);
      const b = readCpuSeconds(m.pid);
      results.push({
        kind: m.kind, runtime: m.runtime, joinMs: m.joinMs,
        memory: s.length ? { vmRssKb: median(s.map((x) => x.vmRssKb)), rssAnonKb: median(s.map((x) => x.rssAnonKb)), rssFileKb: median(s.map((x) => x.rssFileKb)) } : null,
        cpuSPerMin: a !== null && a !== undefined && b !== null ? (b - a) / minutes : null,
      });
    }
  } finally {
    await reg.killAll();
    try { await ct?.destroy(); } catch { /* best effort */ }
    await deleteLink(BRIDGE);
    rmSync(tmp, { recursive: true, force: true });
  }

  const exe = results.find((r) => r.kind === 'executable');
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? `×${(a / b).toFixed(2)}` : '—');
  const mb = (kb: number | undefined) => (kb === undefined ? '—' : `${(kb / 1024).toFixed(1)} MB`);
  const lines = [
    '# cloudy-agent as packaged: executable, bundle on Node 20, bundle on Node 18',
    '',
    `Run ${new Date().toISOString()}: one cluster of ${SERFS} Debian serf agents (lan profile) on a bridge; the three agents joined it`,
    'one after another and then ran side by side (edge mode, default limits). The bundle runs through its launcher, which',
    'asks it for the edge V8 flags (--max-semi-space-size=1 in NODE_OPTIONS) and malloc settings; Node 18 has no Maglev and',
    `no --max-opt, so it runs with --no-opt. Memory: median of 5 samples after ${SETTLE_S} s; CPU: utime+stime over ${CPU_WINDOW_S} s.`,
    'Ratios against the executable.',
    '',
    '| agent | runtime | start to joined | VmRSS | RssAnon | RssFile | CPU s/min | VmRSS ratio | CPU ratio |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.kind} | ${r.runtime} | ${r.joinMs === null ? '—' : `${r.joinMs} ms`} | ${mb(r.memory?.vmRssKb)} | ${mb(r.memory?.rssAnonKb)} | ${mb(r.memory?.rssFileKb)} | ${r.cpuSPerMin === null ? '—' : r.cpuSPerMin.toFixed(3)} | ${ratio(r.memory?.vmRssKb, exe?.memory?.vmRssKb)} | ${ratio(r.cpuSPerMin, exe?.cpuSPerMin)} |`),
    '',
  ];
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'packages.md'), lines.join('\n'));
  writeFileSync(join(out, 'packages.json'), JSON.stringify({ date: new Date().toISOString(), serfs: SERFS, settleS: SETTLE_S, cpuWindowS: CPU_WINDOW_S, results }, null, 2) + '\n');
  process.stdout.write(lines.join('\n'));
}

main().catch((e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
