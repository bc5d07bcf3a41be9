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
// 3. Fan-out: `remote -tag role=^swarm$ status` from our full node to 500
//    swarm members (bench/swarm, in its own process) that answer through
//    agent/remote's real executor (bench/swarm/remote.ts: signature, trust,
//    role, replay window, rate limit, signed answers) and re-gossip the query
//    as serf does. Per round: time until 50 %, 95 % and all answers arrived,
//    answers verified / 500, members that did not answer (listed). 3 rounds,
//    each bounded to 60 s.
// Writes <out>/remote-bench.md and remote-bench.json. Addresses 127.22.3.x and
// the swarm on 127.19.x.y (prefix rc). `--only roundtrips|rss|fanout` runs one part.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile, median, round } from './lib/stats.ts';
import { REPO_ROOT } from './lib/agents.ts';
import { RpcClient } from '../agent/rpc/client.ts';
import { generateKeyPair, rawPublicKey, formatPublicKey } from '../agent/remote/keys.ts';
import { NodePins, OperatorSequence, RemoteClient } from '../agent/remote/sender.ts';
import { serfTransport } from '../agent/remote/transports.ts';
import { freePort, startNode, type TestNode } from '../test/remote/helpers.ts';
import { ProcessRegistry } from './lib/agents.ts';
import { SwarmProcess } from './lib/swarm-process.ts';
import type { QueryTransport } from '../agent/remote/sender.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}
const N = Number(arg('nodes', '50'));
const SAMPLES = Number(arg('samples', '100'));
const OUT = arg('out', join(REPO_ROOT, 'bench/results'));
const HOST = '127.22.3.1';
const ONLY = arg('only', '');
const FANOUT_NODES = Number(arg('fanout-nodes', '500'));
const FANOUT_ROUNDS = 3;
const FANOUT_TIMEOUT_MS = 60_000;
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
    const alive = (n: TestNode): number => n.h.serf.members().filter((m) => m.status === 'alive').length;
    await waitFor(`${N} alive members`, () => alive(full) >= N && alive(edge) >= N, 180_000)
      .catch((e) => { throw new Error(`${(e as Error).message} (full sees ${alive(full)}, edge ${alive(edge)})`); });
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

interface FanoutRound { allMs: number | null; p50Ms: number | null; p95Ms: number | null; answered: number; refused: number; forged: number; missing: string[]; wallMs: number }

async function fanout(): Promise<{ members: number; rounds: FanoutRound[]; swarmStats: Record<string, number> | null; settleMs: number; queuedAtStart: number }> {
  const tmp = mkdtempSync(join(tmpdir(), 'rc-fanout-'));
  const reg = new ProcessRegistry();
  const kp = generateKeyPair();
  const raw = rawPublicKey(kp.publicKey);
  let full: TestNode | null = null;
  try {
    full = await startNode({ name: 'rc-fanfull', host: HOST, dataDir: join(tmp, 'full'), mode: 'full', tags: { mode: 'full' } });
    const swarmPort = await freePort('127.19.0.1');
    const swarm = SwarmProcess.start(reg, {
      base: 19, port: swarmPort, prefix: 'rc-sw', join: [full.gossip], durationS: 900, maxMembers: FANOUT_NODES + 16,
      trustOperators: [`${formatPublicKey(raw)}@viewer`],
    });
    await swarm.ready();
    const grown = await swarm.grow(FANOUT_NODES);
    const names = (): string[] => full!.h.serf.members().filter((m) => m.status === 'alive' && m.tags.role === 'swarm').map((m) => m.name);
    await waitFor(`${grown} swarm members alive at the full node`, () => names().length >= grown, 180_000);
    const expected = names();
    // Let the full node's broadcast queues drain after 500 joins (memberlist's alive messages and serf's
    // intents go out before a query; round 1 would measure that backlog, not the fan-out).
    const queued = (): number => {
      const st = full!.h.serf.stats();
      // memberlist's queue is not in serf's stats; the bench reads it from the serf object (private there).
      const ml = (full!.h.serf as unknown as { memberlist(): { stats(): Record<string, number> } }).memberlist().stats();
      return Number(st.intent_queue ?? 0) + Number(st.event_queue ?? 0) + Number(st.query_queue ?? 0) + Number(ml['memberlist.broadcast-queue'] ?? 0);
    };
    const settleStart = performance.now();
    await waitFor('broadcast queues drained', () => queued() === 0, 180_000).catch(() => {});
    const settleMs = round(performance.now() - settleStart, 0);
    // Time of each first response per node, measured on the serf responses as they arrive.
    let t0 = 0;
    let arrivals: number[] = [];
    const seen = new Set<string>();
    const inner = serfTransport(full.h.serf);
    const transport: QueryTransport = {
      async query(p, onResponse, signal) {
        const ac = new AbortController();
        signal.addEventListener('abort', () => ac.abort(), { once: true });
        await inner.query(p, (from, bytes) => {
          onResponse(from, bytes);
          if (seen.has(from)) return;
          seen.add(from);
          arrivals.push(performance.now() - t0);
          // Every member answered: stop waiting (a moment for the last verification).
          if (seen.size >= expected.length) setTimeout(() => ac.abort(), 200);
        }, ac.signal);
      },
    };
    const client = new RemoteClient({ transport, key: { privateKey: kp.privateKey, raw }, sequence: new OperatorSequence(null), pins: await NodePins.load(null), replyHost: HOST, maxAnswerBytes: 1 << 20 });
    const rounds: FanoutRound[] = [];
    for (let i = 0; i < FANOUT_ROUNDS; i++) {
      seen.clear();
      arrivals = [];
      t0 = performance.now();
      const r = await client.run({ tag: 'role', expr: '^swarm$' }, 'status', [], { timeoutMs: FANOUT_TIMEOUT_MS, expected });
      const wallMs = performance.now() - t0;
      const ok = r.results.filter((x) => x.status === 'ok' && /name = rc-sw-/.test(x.stdout));
      const at = (q: number): number | null => (arrivals.length >= Math.ceil(expected.length * q) ? round(arrivals[Math.ceil(expected.length * q) - 1]!, 0) : null);
      rounds.push({
        allMs: ok.length === expected.length ? at(1) : null, p50Ms: at(0.5), p95Ms: at(0.95), answered: ok.length,
        refused: r.results.filter((x) => x.status === 'refused').length, forged: r.results.filter((x) => x.status === 'forged').length,
        missing: r.missing, wallMs: round(wallMs, 0),
      });
      await sleep(1000);
    }
    await client.close();
    const st = await swarm.stats().catch(() => null);
    return { members: expected.length, rounds, swarmStats: st, settleMs, queuedAtStart: queued() };
  } finally {
    await full?.h.stop().catch(() => {});
    await reg.killAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const want = (part: string): boolean => ONLY === '' || ONLY === part;
  const load = (): string => loadavg().map((x) => x.toFixed(1)).join(' / ');
  const md: string[] = [`# Remote control bench (${new Date().toISOString()})`, '', `Load average (1/5/15 min) at the start: ${load()}, on ${cpus().length} CPUs.`, ''];
  const json: Record<string, unknown> = { date: new Date().toISOString() };
  if (want('roundtrips')) {
    const rt = await roundTrips();
    const base = percentile(rt['serf query ack, sent by our full node']!, 50);
    md.push(`## Round trips, ${N} nodes: ${N - 2} real serf agents + our full and edge node`, '',
      '| round trip from the full node to one edge node | samples | p50 ms | p99 ms |', '|---|---|---|---|',
      ...Object.entries(rt).map(([k, v]) => `| ${k} | ${v.length} | ${round(percentile(v, 50), 1)} | ${round(percentile(v, 99), 1)} |`), '',
      `remote status p50 / plain serf query ack p50 (our full node) = ${round(percentile(rt['remote status (TCP answer)']!, 50) / base, 2)}`, '');
    Object.assign(json, { nodes: N, samples: SAMPLES, roundTripsMs: rt });
  }
  if (want('rss')) {
    const rss: { before: number[]; after: number[]; cost: number[] } = { before: [], after: [], cost: [] };
    for (let i = 0; i < 3; i++) { const r = await idleRss(); rss.before.push(r.before); rss.after.push(r.after); rss.cost.push(r.after - r.before); }
    const costKb = median(rss.cost);
    md.push('| idle edge node (in-process agent under tsx), median of 3 runs | VmRSS KiB |', '|---|---|',
      `| idle, before the proxy starts | ${median(rss.before)} |`, `| idle, proxy listening | ${median(rss.after)} |`,
      `| proxy cost, per run: ${rss.cost.join(', ')} (target < 1024 KiB) | ${costKb} (${costKb < 1024 ? 'met' : 'NOT met'}) |`, '');
    json.rssKb = rss;
  }
  if (want('fanout')) {
    const f = await fanout();
    const ms = (v: number | null): string => (v === null ? 'never' : String(v));
    md.push(`## Fan-out: remote \`status\` to ${f.members} swarm members by tag (bench/swarm, real executor), from our full node`, '',
      '| round | all answered, ms | 50 % answered, ms | 95 % answered, ms | answers verified | refused | rejected | did not answer |', '|---|---|---|---|---|---|---|---|',
      ...f.rounds.map((r, i) => `| ${i + 1} | ${ms(r.allMs)} | ${ms(r.p50Ms)} | ${ms(r.p95Ms)} | ${r.answered}/${f.members} | ${r.refused} | ${r.forged} | ${r.missing.length === 0 ? 'none' : r.missing.join(', ')} |`), '',
      `Before round 1 the full node's memberlist and serf broadcast queues were left to drain (${f.settleMs} ms after the members joined; ${f.queuedAtStart} queued at the end). `
      + 'Members re-gossip the query as serf does (3 random members per 200 ms gossip interval, 4 intervals) and answer through agent/remote\'s executor; '
      + 'the swarm runs in its own process on the same machine.', '');
    json.fanout = f;
  }
  md.push(`Load average at the end: ${load()}.`, '');
  writeFileSync(join(OUT, ONLY === '' ? 'remote-bench.md' : `remote-bench-${ONLY}.md`), md.join('\n'));
  writeFileSync(join(OUT, ONLY === '' ? 'remote-bench.json' : `remote-bench-${ONLY}.json`), JSON.stringify(json, null, 2) + '\n');
  process.stdout.write(md.join('\n'));
}

main().then(() => process.exit(0), (e) => { for (const c of children) c.kill('SIGKILL'); process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
