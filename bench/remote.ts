// `make bench` section of remote control (also alone:
//   node --import tsx bench/remote.ts [--nodes 50] [--samples 100] [--out DIR]).
//
// 1. Round trip of a remote command beside a plain serf query, in ONE cluster
//    and run: N-2 real `serf agent`s plus our full node and our edge node (the
//    full node joins through a serf agent). Measured from the full node:
//      - remote `status`  (signed, checked, run, answer > 1 KiB so it comes back over TCP)
//      - remote `config get log_level` (small answer, inside the serf response)
//      - plain serf query with ack to the same edge node, sent by our full node
//      - plain serf query with ack to the same edge node, sent by a real serf agent (its RPC)
// 2. RSS cost of the management proxy on an idle edge node: an edge agent in a
//    child process, idle, VmRSS after a full GC before and after the proxy
//    starts listening (bench/remote-proxy-child.ts); median of 3 runs.
// Writes <out>/remote-bench.md and remote-bench.json. Addresses 127.22.3.x (prefix rc).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile, median, round } from './lib/stats.ts';
import { REPO_ROOT } from './lib/agents.ts';
import { RpcClient } from '../agent/rpc/client.ts';
import { generateKeyPair, rawPublicKey, formatPublicKey } from '../agent/remote/keys.ts';
import { NodePins, OperatorSequence, RemoteClient } from '../agent/remote/sender.ts';
import { serfTransport } from '../agent/remote/transports.ts';
import { freePort, startNode, type TestNode } from '../test/remote/helpers.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}
const N = Number(arg('nodes', '50'));
const SAMPLES = Number(arg('samples', '100'));
const OUT = arg('out', join(REPO_ROOT, 'bench/results'));
const HOST = '127.22.3.1';
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await fn()) return; await sleep(200); }
  throw new Error(`timed out: ${what}`);
}

async function roundTrips(): Promise<Record<string, number[]>> {
  const tmp = mkdtempSync(join(tmpdir(), 'rc-bench-'));
  const serfs: { gossip: string; rpc: string }[] = [];
  for (let i = 0; i < N - 2; i++) {
    const gp = await freePort(HOST); const rp = await freePort(HOST);
    const a = { gossip: `${HOST}:${gp}`, rpc: `${HOST}:${rp}` };
    children.push(spawn('serf', ['agent', `-node=rc-bserf${i}`, `-bind=${a.gossip}`, `-rpc-addr=${a.rpc}`, '-profile=lan', '-log-level=err',
      ...(i > 0 ? [`-join=${serfs[0]!.gossip}`] : [])], { stdio: 'ignore' }));
    serfs.push(a);
    if (i === 0) await sleep(500);
  }
  const kp = generateKeyPair();
  const raw = rawPublicKey(kp.publicKey);
  const nodes: TestNode[] = [];
  try {
    const full = await startNode({ name: 'rc-bfull', host: HOST, dataDir: join(tmp, 'full'), mode: 'full', join: [serfs[0]!.gossip] });
    const edge = await startNode({ name: 'rc-bedge', host: HOST, dataDir: join(tmp, 'edge'), join: [serfs[1 % serfs.length]!.gossip], trust: [formatPublicKey(raw)],
      limits: { remoteRateBurst: 1_000_000, remoteRatePerMinute: 1_000_000 } });
    nodes.push(full, edge);
    await waitFor(`${N} alive members`, () => full.h.serf.members().filter((m) => m.status === 'alive').length >= N
      && edge.h.serf.members().filter((m) => m.status === 'alive').length >= N, 120_000);
    await sleep(3000);
    const client = new RemoteClient({ transport: serfTransport(full.h.serf), key: { privateKey: kp.privateKey, raw }, sequence: new OperatorSequence(null),
      pins: await NodePins.load(null), replyHost: HOST, maxAnswerBytes: 1 << 20 });
    const serfRpc = await RpcClient.connect(serfs[2 % serfs.length]!.rpc);
    const out: Record<string, number[]> = { 'remote status (TCP answer)': [], 'remote config get (inline answer)': [], 'serf query ack, sent by our full node': [], 'serf query ack, sent by a real serf agent': [] };
    const ack = (send: (onAck: () => void) => Promise<unknown>): Promise<number> => new Promise((resolve, reject) => {
      const t0 = performance.now();
      let got = false;
      send(() => { if (!got) { got = true; resolve(performance.now() - t0); } }).then(() => { if (!got) reject(new Error('no ack')); }, reject);
    });
    for (let i = 0; i < SAMPLES; i++) {
      let t0 = performance.now();
      const st = await client.run({ node: 'rc-bedge' }, 'status', [], { timeoutMs: 10_000 });
      if (st.results[0]?.status === 'ok') out['remote status (TCP answer)']!.push(performance.now() - t0);
      t0 = performance.now();
      const cg = await client.run({ node: 'rc-bedge' }, 'config', ['get', 'log_level'], { timeoutMs: 10_000 });
      if (cg.results[0]?.status === 'ok') out['remote config get (inline answer)']!.push(performance.now() - t0);
      out['serf query ack, sent by our full node']!.push(await ack((onAck) => new Promise<void>((resolve) => {
        void full.h.serf.query('rc-bench-ping', new Uint8Array(0), { filterNodes: ['rc-bedge'], requestAck: true, timeoutMs: 5000 }, {
          onAck: () => { onAck(); }, onDone: () => resolve(),
        }).then((h) => setTimeout(() => h.close(), 3000));
      })).catch(() => NaN));
      out['serf query ack, sent by a real serf agent']!.push(await ack((onAck) => serfRpc.query({ name: 'rc-bench-ping', filterNodes: ['rc-bedge'], requestAck: true, timeoutMs: 1000 }, { onAck: () => onAck() })).catch(() => NaN));
      // serf gives queries sent at once one LTime: keep them apart.
      await sleep(50);
    }
    serfRpc.close();
    await client.close();
    for (const k of Object.keys(out)) out[k] = out[k]!.filter((x) => Number.isFinite(x));
    return out;
  } finally {
    for (const n of nodes) await n.h.stop().catch(() => {});
    for (const c of children) c.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function idleRss(): Promise<{ before: number; after: number }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(REPO_ROOT, 'bench/remote-proxy-child.ts')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  await new Promise((r) => child.on('exit', r));
  const m = /before_kb=(\d+) after_kb=(\d+)/.exec(out);
  if (!m) throw new Error(`child said: ${out}`);
  return { before: Number(m[1]), after: Number(m[2]) };
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const rt = await roundTrips();
  const rss: { before: number[]; after: number[]; cost: number[] } = { before: [], after: [], cost: [] };
  for (let i = 0; i < 3; i++) { const r = await idleRss(); rss.before.push(r.before); rss.after.push(r.after); rss.cost.push(r.after - r.before); }
  const rows = Object.entries(rt).map(([k, v]) => `| ${k} | ${v.length} | ${round(percentile(v, 50), 1)} | ${round(percentile(v, 99), 1)} |`);
  const base = percentile(rt['serf query ack, sent by our full node']!, 50);
  const costKb = median(rss.cost);
  const md = [
    `# Remote control bench (${new Date().toISOString()}, ${N} nodes: ${N - 2} real serf agents + our full and edge node)`,
    '',
    '| round trip from the full node to one edge node | samples | p50 ms | p99 ms |',
    '|---|---|---|---|',
    ...rows,
    '',
    `remote status p50 / plain serf query ack p50 (our full node) = ${round(percentile(rt['remote status (TCP answer)']!, 50) / base, 2)}`,
    '',
    '| idle edge node (in-process agent under tsx), median of 3 runs | VmRSS KiB |',
    '|---|---|',
    `| idle, before the proxy starts | ${median(rss.before)} |`,
    `| idle, proxy listening | ${median(rss.after)} |`,
    `| proxy cost, per run: ${rss.cost.join(', ')} (target < 1024 KiB) | ${costKb} (${costKb < 1024 ? 'met' : 'NOT met'}) |`,
    '',
  ].join('\n');
  writeFileSync(join(OUT, 'remote-bench.md'), md);
  writeFileSync(join(OUT, 'remote-bench.json'), JSON.stringify({ date: new Date().toISOString(), nodes: N, samples: SAMPLES, roundTripsMs: rt, rssKb: rss }, null, 2) + '\n');
  process.stdout.write(md);
}

main().then(() => process.exit(0), (e) => { for (const c of children) c.kill('SIGKILL'); process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
