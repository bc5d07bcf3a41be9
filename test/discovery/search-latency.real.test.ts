// Search over a 50-node mixed cluster on loopback: 10 real Debian serf agents
// (tags set with avahi-ps's pipeline) + 40 of our nodes (services published by
// our announcer). Measures our search (in-process and CLI over RPC) and, for
// comparison, avahi-ps's way (serf members -format json | jq | base64 -d |
// bunzip2 per member, as the serf plug's serf_find_ does). Prints the figures;
// the only bounds are generous deadlines.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { createExec } from '../../agent/system/exec.ts';
import { CommandRegistry } from '../../agent/commands/registry.ts';
import { rpcVerbs } from '../../agent/commands/rpc-verbs.ts';
import { RpcServer } from '../../agent/rpc/server.ts';
import { createSerf, type SerfInstance } from '../../agent/gossip/serf/create.ts';
import { startDiscovery, type Discovery } from '../../agent/discovery/index.ts';
import { searchCommand } from '../../agent/discovery/cli.ts';
import { waitFor } from '../support/wait.ts';
import { SerfAgent } from '../support/real-serf.ts';

const REAL_COUNT = 10;
const OUR_COUNT = 40;
const realNode = (i: number) => ({ ip: `127.0.5.${70 + i}`, bind: 20700 + i, rpc: 20720 + i, name: `real-${i}` });
const ourNode = (i: number) => ({ ip: `127.0.5.${100 + i}`, bind: 20800 + i, name: `ours-${i}` });
const RPC_ADDR = '127.0.5.100:20799';
const exec = createExec();

const serfs: SerfAgent[] = [];
const nodes: SerfInstance[] = [];
const discs: Discovery[] = [];
let rpc: RpcServer | null = null;

async function sh(script: string, input?: string): Promise<string> {
  const r = await exec.run('/bin/sh', ['-c', script], { input: input ?? '', timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`${script}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

test.before(async () => {
  for (let i = 0; i < REAL_COUNT; i++) {
    const n = realNode(i);
    const seed = realNode(0);
    const agent = new SerfAgent({ name: n.name, ip: n.ip, port: n.bind, rpcPort: n.rpc, eventHandler: false, logLevel: 'info', join: i > 0 ? [`${seed.ip}:${seed.bind}`] : [] });
    agent.start();
    serfs.push(agent);
    // The seed first: a serf agent whose start-up -join is refused exits.
    if (i === 0) await agent.waitReady(30_000);
  }
  for (let i = 0; i < REAL_COUNT; i++) {
    const n = realNode(i);
    await serfs[i]!.waitReady(30_000);
    const recs = [`{"s":"serf","d":"SERF_instance_running","m":"${n.name}.guifi.local","i":"${n.ip}","p":"${n.bind}","e":"guifi","t":""}`];
    if (i % 2 === 0) recs.push(`{'s':'syncthing','d':'Syncthing_instance_running','m':'${n.name}.guifi.local','i':'${n.ip}','p':'22000','e':'guifi','t':'node_id=X${i}'}`);
    await sh(`/usr/bin/serf tags -rpc-addr=${n.ip}:${n.rpc} -set services=$(bzip2 | base64 -w0)`, `[${recs.join(',')}]\n`);
  }
  const logger = Logger.silent();
  const limits = defaultLimits('edge');
  // Our nodes start 10 at a time (each start sets tags once, which waits for that broadcast to go out, ~1 s).
  const startOne = async (i: number): Promise<void> => {
    const n = ourNode(i);
    const counters = new Counters();
    const node = await createSerf({
      nodeName: n.name, bindAddr: n.ip, bindPort: n.bind, profile: 'lan', protocolVersion: 4,
      seeds: [`${realNode(i % REAL_COUNT).ip}:${realNode(i % REAL_COUNT).bind}`], snapshotPath: null, rejoin: false,
    }, { logger, counters });
    nodes.push(node);
    await node.start();
    const registry = new CommandRegistry();
    if (i === 0) {
      rpc = new RpcServer({ serf: node.serf, extensions: rpcVerbs(registry), logger, counters, limits, addr: RPC_ADDR });
      await rpc.listen();
    }
    const d = await startDiscovery({
      serf: node.serf, registry, exec, logger, counters, limits, stateDir: null,
      gossipPort: n.bind, communityIp: n.ip, hostname: n.name, federationIntervalMs: 600_000,
    });
    discs[i] = d;
    if (i % 4 === 0) await d.publisher.publish({ type: 'Docker', description: `app ${i}`, port: 8000 + i });
  };
  for (let first = 0; first < OUR_COUNT; first += 10) {
    await Promise.all(Array.from({ length: Math.min(10, OUR_COUNT - first) }, (_, k) => startOne(first + k)))
      .catch((e) => { console.error('setup failed:', e); throw e; });
  }
});

test.after(async () => {
  for (const d of discs) { if (!d) continue; try { await d.stop(); } catch { /* ignore */ } }
  try { await rpc?.close(); } catch { /* ignore */ }
  for (const n of nodes) { try { await n.stop(); } catch { /* ignore */ } }
  for (const a of serfs) await a.stop();
});

test('search over 50 nodes (10 real serf + 40 ours): complete, and its latency', async () => {
  // serf: 50, syncthing: 5 (even real nodes), Docker: 10 (every 4th of ours).
  const expected = REAL_COUNT + OUR_COUNT + REAL_COUNT / 2 + OUR_COUNT / 4;
  const started = Date.now();
  await waitFor('all 50 nodes and their services visible from ours-0', () => discs[0]!.search().entries.length === expected, 120_000, 250);
  const convergeMs = Date.now() - started;

  // In-process search (what the RPC handler runs): cold = fresh decoder cache is not reachable here,
  // so the first call after convergence is warm; measure many.
  const inproc: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = process.hrtime.bigint();
    const r = discs[0]!.search();
    inproc.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.is(r.entries.length, expected);
  }

  // CLI over RPC, end to end (connect, handshake, cloudy-search, JSON line).
  const viaRpc: number[] = [];
  for (let i = 0; i < 30; i++) {
    let out = '';
    const t0 = process.hrtime.bigint();
    const code = await searchCommand.run([`-rpc-addr=${RPC_ADDR}`], { stdout: (s) => { out += s; }, stderr: () => {}, env: {} });
    viaRpc.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.is(code, 0);
    assert.is(JSON.parse(out).length, expected);
  }

  // avahi-ps's serf plug way on a real node, for comparison: one jq + base64 + bunzip2 per member.
  const n0 = realNode(0);
  const avahi: number[] = [];
  const script = `for s in $(/usr/bin/serf members -rpc-addr=${n0.ip}:${n0.rpc} -status=alive -format json | jq -r '.members[].tags.services // empty'); do echo "$s" | base64 -d | bunzip2 | sed "s/'/\\"/g"; done`;
  let avahiCount = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    const out = await sh(script);
    avahi.push(Number(process.hrtime.bigint() - t0) / 1e6);
    avahiCount = out.trim().split('\n').map((l) => JSON.parse(l) as unknown[]).reduce((a, l) => a + l.length, 0);
  }
  assert.is(avahiCount, expected, 'the real serf side sees the same services');

  const f = (x: number) => x.toFixed(2);
  console.log(`50-node mixed cluster: ${expected} services; all visible from our node ${convergeMs} ms after setup`);
  console.log(`search in-process: p50 ${f(pct(inproc, 50))} ms, p99 ${f(pct(inproc, 99))} ms (200 runs)`);
  console.log(`search via CLI over RPC: p50 ${f(pct(viaRpc, 50))} ms, p99 ${f(pct(viaRpc, 99))} ms (30 runs)`);
  console.log(`avahi-ps pipeline on a real serf node: median ${f(pct(avahi, 50))} ms (3 runs)`);
  // Generous deadline only (shared 2-core machine).
  assert.ok(pct(viaRpc, 50) < 5_000);
});

test.run();
