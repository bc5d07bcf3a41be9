// `make bench` section "api" (bench/run.ts --only api): the full node's HTTP side.
//   1. server stack: RSS of a two-route server on node:http alone vs hono on @hono/node-server
//   2. full-node RSS idle with the HTTP server vs without it (-http off)
//   3. API latency (p50/p99) of the members list and of the services search at
//      1,000 and 10,000 members (swarm tool), beside `serf members -format json`
//      on a real serf agent of the same size.
// Writes <out>/api.md and <out>/api.json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentKind, type ProcessRegistry, aliveCount, waitRpc } from '../lib/agents.ts';
import { readMemory } from '../lib/procfs.ts';
import { SwarmProcess } from '../lib/swarm-process.ts';
import { median, percentile, pollUntil, sleep } from '../lib/stats.ts';
import { measureServerStacks } from './server-stack.ts';
import { TokenStore } from '../../agent/api/auth/tokens.ts';
import { authFiles } from '../../agent/api/auth/index.ts';

export interface ApiBenchOptions {
  sizes: number[];
  requests: (size: number) => number;
  out: string;
  log: (line: string) => void;
}

interface Latency { size: number; agentAlive: number; p50: number; p99: number; n: number; bytes?: number }

function get(port: number, path: string, token: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => { n += d.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: n }));
    });
    r.on('error', reject);
    r.setTimeout(60_000, () => r.destroy(new Error('timeout')));
    r.end();
  });
}

async function timeMany(n: number, once: () => Promise<number | void>): Promise<{ p50: number; p99: number; n: number; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    bytes = (await once()) ?? bytes;
    ms.push(performance.now() - t0);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), n, bytes };
}

async function idleRss(reg: ProcessRegistry, http: boolean, port: number, log: (l: string) => void): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fn-bench-'));
  const a = reg.startAgent({
    kind: 'ours', name: `rss-${http ? 'http' : 'nohttp'}`, port, rpcPort: port + 1,
    extraArgs: ['-mode', 'full', '-data-dir', dir, '-containers=false', '-http', http ? `127.0.0.1:${port + 2}` : 'off'],
  });
  try {
    const rpc = await waitRpc(a, 30_000);
    if (!rpc) throw new Error(`agent did not start: ${a.output()}`);
    rpc.close();
    if (http) for (let i = 0; i < 20; i++) await get(port + 2, '/api/v1/session', 'none').catch(() => undefined);
    await sleep(8_000);
    const s: number[] = [];
    for (let i = 0; i < 5; i++) { s.push(readMemory(a.pid)?.vmRssKb ?? NaN); await sleep(400); }
    const kb = median(s);
    log(`api: full node idle ${http ? 'with' : 'without'} HTTP: VmRSS ${(kb / 1024).toFixed(1)} MB`);
    return kb;
  } finally {
    a.kill('SIGKILL');
    await a.waitExit(5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function latencyAt(reg: ProcessRegistry, kind: AgentKind, o: ApiBenchOptions, ports: { agent: number; swarmBase: number; swarmPort: number }): Promise<{ members: Latency[]; services: Latency[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'fn-bench-'));
  const httpPort = ports.agent + 2;
  let token = '';
  if (kind === 'ours') token = await new TokenStore(authFiles(dir).tokens, 4).create('bench', 'viewer');
  const a = reg.startAgent({
    kind, name: `lat-${kind}`, port: ports.agent, rpcPort: ports.agent + 1,
    extraArgs: kind === 'ours' ? ['-mode', 'full', '-data-dir', dir, '-containers=false', '-http', `127.0.0.1:${httpPort}`] : [],
  });
  const out = { members: [] as Latency[], services: [] as Latency[] };
  const rpc = await waitRpc(a, 30_000);
  if (!rpc) { a.kill(); throw new Error(`${kind} agent did not start: ${a.output()}`); }
  const swarm = SwarmProcess.start(reg, { base: ports.swarmBase, port: ports.swarmPort, prefix: `api-${kind}`, join: [a.bindAddr], durationS: 1800, maxMembers: Math.max(...o.sizes) });
  try {
    await swarm.ready();
    for (const size of o.sizes) {
      await swarm.grow(size - 1, 240_000);
      let last = -1, stable = 0;
      await pollUntil(90_000, 1000, async () => {
        const c = await aliveCount(rpc);
        stable = c === last ? stable + 1 : 0;
        last = c;
        return c >= size || stable >= 3 ? true : undefined;
      });
      await swarm.pushPull(60_000);
      await sleep(3000);
      const alive = await aliveCount(rpc);
      const n = o.requests(size);
      if (kind === 'ours') {
        const m = await timeMany(n, async () => (await get(httpPort, '/api/v1/members', token)).bytes);
        out.members.push({ size, agentAlive: alive, ...m });
        const s = await timeMany(n, async () => (await get(httpPort, '/api/v1/services?sort=rtt', token)).bytes);
        out.services.push({ size, agentAlive: alive, ...s });
        o.log(`api: ours @${size} (${alive} alive): members p50 ${m.p50.toFixed(1)} ms p99 ${m.p99.toFixed(1)} ms (${m.bytes} B); services p50 ${s.p50.toFixed(1)} ms p99 ${s.p99.toFixed(1)} ms`);
      } else {
        const m = await timeMany(n, async () => {
          const r = spawnSync('serf', ['members', '-format', 'json', `-rpc-addr=${a.rpcAddr}`], { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 });
          if (r.status !== 0) throw new Error(`serf members: ${r.stderr}`);
          return r.stdout.length;
        });
        out.members.push({ size, agentAlive: alive, ...m });
        const r = await timeMany(n, async () => { await rpc.members(); });
        out.services.push({ size, agentAlive: alive, ...r });
        o.log(`api: serf @${size} (${alive} alive): serf members -format json p50 ${m.p50.toFixed(1)} ms p99 ${m.p99.toFixed(1)} ms (${m.bytes} B); RPC members alone p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms`);
      }
    }
  } finally {
    rpc.close();
    await swarm.stop();
    a.kill('SIGKILL');
    await a.waitExit(5000);
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export async function runApiBench(reg: ProcessRegistry, o: ApiBenchOptions): Promise<void> {
  const started = Date.now();
  const stacks = await measureServerStacks();
  for (const s of stacks) o.log(`api: server stack ${s.name}: idle ${(s.idleKiB / 1024).toFixed(1)} MB, after 500 requests ${(s.afterKiB / 1024).toFixed(1)} MB`);
  const withHttp = await idleRss(reg, true, 26700, o.log);
  const withoutHttp = await idleRss(reg, false, 26710, o.log);
  const ours = await latencyAt(reg, 'ours', o, { agent: 26720, swarmBase: 16, swarmPort: 26800 });
  const serf = await latencyAt(reg, 'serf', o, { agent: 26730, swarmBase: 18, swarmPort: 26810 });
  const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
  const ms = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(1)} ms`);
  const lines = [
    '# API bench (issue 11)', '',
    `Run ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s.`, '',
    '## Server stack (a two-route JSON server, median of 3 processes, Node ' + process.version + ')', '',
    '| stack | RSS idle | RSS after 500 requests |', '|---|---|---|',
    ...stacks.map((s) => `| ${s.name} | ${mb(s.idleKiB)} | ${mb(s.afterKiB)} |`), '',
    'Chosen: node:http alone with a ~100-line router (agent/api/router.ts).', '',
    '## Full node idle RSS', '',
    '| full node | VmRSS |', '|---|---|',
    `| HTTP server on (idle, after 20 requests) | ${mb(withHttp)} |`, `| -http off | ${mb(withoutHttp)} |`,
    `| cost of the HTTP server | ${mb(withHttp - withoutHttp)} |`, '',
    '## Members list latency beside serf (sequential requests on loopback)', '',
    '| members | ours GET /api/v1/members p50 | p99 | serf members -format json p50 | p99 | ratio p50 | serf RPC members (no CLI) p50 | p99 | ours GET /api/v1/services p50 | p99 |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...o.sizes.map((size) => {
      const m = ours.members.find((x) => x.size === size), s = serf.members.find((x) => x.size === size), v = ours.services.find((x) => x.size === size);
      const r = serf.services.find((x) => x.size === size);
      return `| ${size} (ours sees ${m?.agentAlive ?? '?'}, serf ${s?.agentAlive ?? '?'}) | ${ms(m?.p50)} | ${ms(m?.p99)} | ${ms(s?.p50)} | ${ms(s?.p99)} | ${m && s ? (m.p50 / s.p50).toFixed(2) : 'n/a'} | ${ms(r?.p50)} | ${ms(r?.p99)} | ${ms(v?.p50)} | ${ms(v?.p99)} |`;
    }), '',
    'serf\'s figure is the whole CLI run (process start, RPC, JSON), as an operator or a script gets it; ours is one HTTP request with a viewer token. The services search has no serf counterpart (serf has no decoding of Cloudy\'s services tag).',
  ];
  writeFileSync(join(o.out, 'api.md'), lines.join('\n') + '\n');
  writeFileSync(join(o.out, 'api.json'), JSON.stringify({ date: new Date().toISOString(), stacks, idleRssKb: { withHttp, withoutHttp }, ours, serf }, null, 2) + '\n');
  o.log(`api: results in ${join(o.out, 'api.md')}`);
}
