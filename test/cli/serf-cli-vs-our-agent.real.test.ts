// The UNMODIFIED Debian `serf` CLI pointed at OUR agent (run as a real
// process: the single executable named by CLOUDY_AGENT_BIN, which `make test`
// sets to the freshly built dist/cloudy-agent so a bundling mistake fails CI;
// otherwise node agent/main.ts agent ...), in a cluster with a real serf
// agent: members, tags, event (+ handler), query (+ handler response), join,
// keys, monitor, info, rtt, force-leave, leave; plus a flood of subscribers
// that never read.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGo } from '../../agent/gossip/wire/msgpack.ts';
import { RpcClient } from '../../agent/rpc/client.ts';
import { serfCli, serfCliAsync, serfCliProc, sortTagsInMembers, startSerfAgent, type SerfAgent } from './helpers.ts';
import { waitFor, sleep } from '../support/wait.ts';

const K1 = 'AAECAwQFBgcICQoLDA0ODw==';
const K2 = 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=';
const O = { name: 'o1', bind: '127.0.4.20:19201', rpc: '127.0.4.20:19211' };
const S = { name: 's2', bind: '127.0.4.21:19202', rpc: '127.0.4.21:19212' };
const rpcO = `-rpc-addr=${O.rpc}`;
const rpcS = `-rpc-addr=${S.rpc}`;
const root = new URL('../..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'serf-cli-ours-'));
const envFile = join(tmp, 'deploy.txt');
const keyringFile = join(tmp, 'o1.keyring');
const logFile = join(tmp, 'o1.log');
let agent: ChildProcess | null = null;
let agentExit: Promise<number | null> = Promise.resolve(null);
const serfAgents: SerfAgent[] = [];

function ourLog(): string { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } }

test.before(async () => {
  const script = join(tmp, 'deploy.sh');
  writeFileSync(script, `#!/bin/sh\nenv | grep ^SERF_ | sort > ${envFile}\necho --- >> ${envFile}\ncat >> ${envFile}\n`, { mode: 0o755 });
  const fd = openSync(logFile, 'w');
  const bin = process.env.CLOUDY_AGENT_BIN;
  if (bin !== undefined && !existsSync(join(root, bin))) throw new Error(`CLOUDY_AGENT_BIN=${bin} does not exist (make binary)`);
  const [file, ...prefix] = bin !== undefined ? [join(root, bin)] : [process.execPath, '--import', 'tsx', 'agent/main.ts'];
  console.log(`our agent: ${[file, ...prefix].join(' ')}`);
  agent = spawn(file!, [...prefix, 'agent',
    '-node', O.name, '-bind', O.bind, `-rpc-addr=${O.rpc}`, '-tag', 'role=web', '--tag=dc=east',
    '-encrypt', K1, '-keyring-file', keyringFile, '-profile=lan', '-log-level=debug',
    // small per-subscriber budgets so the flood test reaches them quickly
    '-limit', 'rpcSubscriberBacklog=128', '-limit', 'rpc-socket-buffer-bytes=131072',
    '-event-handler', `user:deploy=${script}`,
    '-event-handler', 'query:whoami=echo resp-from-$SERF_SELF_NAME',
  ], { cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  agentExit = new Promise((r) => agent!.once('exit', (code) => r(code)));
  serfAgents.push(await startSerfAgent({ ...S, tags: { role: 'db' }, encrypt: K1, handlers: ['query:whoami=echo resp-from-s2'] }));
  await waitFor(`our agent's RPC (log: ${ourLog().slice(-500)})`, () => serfCli(['members', rpcO]).code === 0, 60_000);
});

test.after(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    agent.kill('SIGKILL');
    await agentExit;
  }
  for (const s of serfAgents) await s.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

test('join (serf join -> our agent joins a real serf agent)', async () => {
  const r = serfCli(['join', rpcO, S.bind]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(r.stdout, 'Successfully joined cluster by contacting 1 nodes.\n');
  await waitFor('serf sees o1', () => serfCli(['members', rpcS, '-status=alive']).stdout.includes('o1'));
  await waitFor('we see s2', () => serfCli(['members', rpcO, '-status=alive']).stdout.includes('s2'));
  const bad = serfCli(['join', rpcO, '127.0.4.29:1']);
  assert.is(bad.code, 1);
  assert.match(bad.stdout, /^Error joining the cluster: /);
});

test('members: text, -detailed, filters, json agree with the real agent\'s view', async () => {
  const lines = (s: string) => sortTagsInMembers(s).trim().split('\n').sort();
  const ours = serfCli(['members', rpcO]);
  const theirs = serfCli(['members', rpcS]);
  assert.is(ours.code, 0);
  assert.equal(lines(ours.stdout), lines(theirs.stdout));
  // Our agent announces itself in Cloudy's `services` tag (bzip2+base64, "QlpoOTFBWSZTW" = "BZh91AY&SY").
  const ourLines = lines(ours.stdout);
  assert.match(ourLines[0]!, /,services=QlpoOTFBWSZTW[A-Za-z0-9+/=]+$/);
  assert.equal(ourLines.map((l) => l.replace(/,services=\S+$/, '')), [
    'o1  127.0.4.20:19201  alive  dc=east,role=web',
    's2  127.0.4.21:19202  alive  role=db',
  ]);
  const det = serfCli(['members', rpcO, '-detailed']).stdout;
  assert.match(det, /o1\s+127\.0\.4\.20:19201\s+alive\s+\S+\s+Protocol Version: 4\s+Available Protocol Range: \[2, 5\]/);
  assert.is(serfCli(['members', rpcO, '-tag', 'role=d.*']).stdout, serfCli(['members', rpcS, '-tag', 'role=d.*']).stdout);
  assert.is(sortTagsInMembers(serfCli(['members', rpcO, '-name=o1', '-status=alive']).stdout).replace(/,services=\S+/, ''), 'o1  127.0.4.20:19201  alive  dc=east,role=web\n');
  const j = JSON.parse(serfCli(['members', rpcO, '-format=json']).stdout) as { members: { name: string; tags: Record<string, string>; protocol: Record<string, number>; port: number }[] };
  const o1 = j.members.find((m) => m.name === 'o1')!;
  const { services, ...userTags } = o1.tags;
  assert.match(services ?? '', /^QlpoOTFBWSZTW/);
  assert.equal(userTags, { dc: 'east', role: 'web' });
  assert.equal(o1.protocol, { max: 5, min: 2, version: 4 });
  assert.is(o1.port, 19201);
});

test('tags -set / -delete propagate to the real agent', async () => {
  const r = serfCli(['tags', rpcO, '-set', 'foo=bar']);
  assert.is(r.stdout, 'Successfully updated agent tags\n');
  await waitFor('s2 sees foo=bar', () => serfCli(['members', rpcS, '-tag', 'foo=bar']).stdout.includes('o1'));
  const d = serfCli(['tags', rpcO, '-delete', 'foo']);
  assert.is(d.code, 0);
  await waitFor('s2 sees foo removed', () => !serfCli(['members', rpcS, '-name=o1']).stdout.includes('foo='));
});

test('event: dispatched, our handler gets serf\'s env and stdin', async () => {
  const r = serfCli(['event', rpcO, 'deploy', 'v42']);
  assert.is(r.code, 0);
  assert.is(r.stdout, "Event 'deploy' dispatched! Coalescing enabled: true\n");
  await waitFor('handler output', () => existsSync(envFile) && readFileSync(envFile, 'utf8').includes('---\nv42'));
  const text = readFileSync(envFile, 'utf8');
  for (const l of ['SERF_EVENT=user', 'SERF_SELF_NAME=o1', 'SERF_SELF_ROLE=web', 'SERF_TAG_DC=east', 'SERF_TAG_ROLE=web', 'SERF_USER_EVENT=deploy']) {
    assert.ok(text.includes(l + '\n'), `${l} in\n${text}`);
  }
  assert.match(text, /SERF_USER_LTIME=\d+\n/);
  // An event sent through the real agent reaches our handler too.
  writeFileSync(envFile, '');
  assert.is(serfCli(['event', rpcS, '-coalesce=false', 'deploy', 'from-s2']).code, 0);
  await waitFor('handler output for a gossiped event', () => readFileSync(envFile, 'utf8').includes('---\nfrom-s2'), 20_000);
  const big = serfCli(['event', rpcO, 'big', 'x'.repeat(600)]);
  assert.is(big.code, 1);
  assert.match(big.stdout, /^Error sending event: /);
});

test('query: our handler answers; acks and responses from both nodes', async () => {
  const r = await serfCliAsync(['query', rpcO, '-timeout=3s', 'whoami']);
  assert.is(r.code, 0, r.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines[0], "Query 'whoami' dispatched");
  assert.ok(lines.includes("Response from 'o1': resp-from-o1"), r.stdout);
  assert.ok(lines.includes("Response from 's2': resp-from-s2"), r.stdout);
  assert.ok(lines.includes("Ack from 'o1'") && lines.includes("Ack from 's2'"), r.stdout);
  assert.equal(lines.slice(-2), ['Total Acks: 2', 'Total Responses: 2']);
  // The real agent asks; our agent's handler answers.
  const j = await serfCliAsync(['query', rpcS, '-format=json', '-node=o1', '-timeout=3s', 'whoami']);
  assert.equal(JSON.parse(j.stdout), { Acks: ['o1'], Responses: { o1: 'resp-from-o1\n' } });
});

test('info: serf sections, text and json', () => {
  const r = serfCli(['info', rpcO]);
  assert.is(r.code, 0);
  for (const s of ['agent:', '\tname = o1', 'event_handlers:', '\tuser:deploy = ', '\tquery:whoami = echo resp-from-$SERF_SELF_NAME', 'runtime:', 'serf:', '\tmembers = 2', 'tags:', '\trole = web']) {
    assert.ok(r.stdout.includes(s), `${JSON.stringify(s)} in\n${r.stdout}`);
  }
  const j = JSON.parse(serfCli(['info', rpcO, '-format=json']).stdout) as Record<string, Record<string, string>>;
  assert.is(j.agent!.name, 'o1');
  assert.is(j.serf!.encrypted, 'true');
});

test('rtt between our node and the serf node', async () => {
  await waitFor('coordinates', () => serfCli(['rtt', rpcO, 'o1', 's2']).code === 0, 20_000);
  assert.match(serfCli(['rtt', rpcO, 'o1', 's2']).stdout, /^Estimated o1 <-> s2 rtt: \d+\.\d{3} ms\n$/);
  assert.match(serfCli(['rtt', rpcO, 's2']).stdout, /^Estimated s2 <-> o1 rtt: /);
  const none = serfCli(['rtt', rpcO, 'nobody']);
  assert.is(none.code, 1);
  assert.is(none.stdout, 'Could not find a coordinate for node "nobody"\n');
});

test('keys: list, install, use, remove across both nodes; keyring file rewritten', async () => {
  const list = serfCli(['keys', rpcO, '-list']);
  assert.is(list.code, 0, list.stdout);
  assert.is(list.stdout, `==> Asking all members for installed keys...\n==> Keys gathered, listing cluster keys...\n\n${K1}  [2/2]\n`);
  assert.is(serfCli(['keys', rpcO, '-install', K2]).stdout, '==> Installing key on all members...\n==> Successfully installed key!\n');
  assert.match(serfCli(['keys', rpcS, '-list']).stdout, new RegExp(`${K2.replace(/[+/=]/g, '\\$&')}\\s+\\[2/2\\]`));
  assert.is(serfCli(['keys', rpcO, '-use', K2]).code, 0);
  const rm = serfCli(['keys', rpcO, '-remove', K1]);
  assert.is(rm.stdout, '==> Removing key on all members...\n==> Successfully removed key!\n');
  assert.is(serfCli(['keys', rpcO, '-list']).stdout.trim().split('\n').pop(), `${K2}  [2/2]`);
  await waitFor('keyring file = [K2]', () => { try { return JSON.stringify(JSON.parse(readFileSync(keyringFile, 'utf8'))) === JSON.stringify([K2]); } catch { return false; } });
  const fail = serfCli(['keys', rpcO, '-remove', K2]);
  assert.is(fail.code, 1);
  assert.match(fail.stdout, /Error removing key: 2\/2 nodes reported failure/);
  // the cluster still talks after the rotation
  assert.is(serfCli(['members', rpcO, '-status=alive']).stdout.trim().split('\n').length, 2);
});

test('monitor: log replay + live lines, exit 0 on interrupt', async () => {
  const m = serfCliProc(['monitor', rpcO, '-log-level=debug']);
  await sleep(1000);
  serfCli(['event', rpcO, '-coalesce=false', 'during-monitor']);
  await sleep(1000);
  m.interrupt();
  const r = await m.done;
  assert.is(r.code, 0);
  assert.ok(r.stdout.includes('[INFO] agent: Serf agent starting'), r.stdout.slice(0, 400));
  assert.ok(r.stdout.includes('[DEBUG]'), 'debug lines shown');
  assert.ok(r.stdout.includes('Event Info:'), 'event stream shown');
  assert.match(r.stdout, /\tName: "during-monitor"/);
});

function frame(cmd: string, seq: number, body?: Parameters<typeof encodeGo>[0]): Buffer {
  return Buffer.concat([encodeGo({ Command: cmd, Seq: seq }, 'rpc'), ...(body === undefined ? [] : [encodeGo(body, 'rpc')])]);
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

// Subscribers that never read, with a 4 KiB receive buffer (Node cannot set
// SO_RCVBUF; python can), so the agent's side fills up quickly instead of
// after megabytes of kernel autotuned buffers.
const STALLED_CLIENTS = `
import socket, sys, time
host, port, n, hexframes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    s.sendall(bytes.fromhex(hexframes))
    socks.append(s)
print("ready", flush=True)
time.sleep(120)
`;

test('flood of subscribers that never read: drops counted, memory bounded, still responsive', async () => {
  const frames = Buffer.concat([frame('handshake', 1, { Version: 1 }), frame('stream', 2, { Type: '*' }), frame('monitor', 3, { LogLevel: 'trace' })]).toString('hex');
  const py = spawn('python3', ['-c', STALLED_CLIENTS, '127.0.4.20', '19211', '20', frames], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      py.stdout!.on('data', (d) => { if (String(d).includes('ready')) resolve(); });
      py.once('exit', () => reject(new Error('stalled clients exited')));
    });
    const before = rssKb(agent!.pid!);
    const c = await RpcClient.connect(O.rpc);
    const payload = new Uint8Array(400).fill(0x62);
    const end = Date.now() + 30_000;
    let sent = 0;
    // Pipelined in batches: the agent must keep up with (and bound) the fan-out.
    for (let b = 0; b < 60 && Date.now() < end; b++) {
      await Promise.all(Array.from({ length: 200 }, (_x, i) => c.userEvent(`flood${i % 7}`, payload, false).catch(() => {})));
      sent += 200;
    }
    const after = rssKb(agent!.pid!);
    const stats = await c.stats();
    c.close();
    const drops = Number(stats.counters?.['drop.rpc_stream_record'] ?? 0);
    console.log(`  flood: ${sent} events to 20 stalled subscribers, rss ${before} -> ${after} KiB, rpc stream drops ${drops}`);
    assert.ok(drops > 0, 'stalled subscribers had records dropped (counted)');
    assert.ok(after < 300 * 1024, `rss ${after} KiB`);
    assert.ok(after - before < 150 * 1024, `rss grew ${after - before} KiB`);
    assert.is(serfCli(['members', rpcO]).code, 0, 'still answers');
  } finally {
    py.kill('SIGKILL');
  }
});

test('force-leave and leave', async () => {
  const fl = serfCli(['force-leave', rpcO, 'nobody']);
  const flS = serfCli(['force-leave', rpcS, 'nobody']);
  assert.is(fl.code, flS.code, `ours: ${fl.stdout} serf: ${flS.stdout}`);
  const r = serfCli(['leave', rpcO]);
  assert.is(r.code, 0, r.stdout);
  assert.is(r.stdout, 'Graceful leave complete\n');
  const code = await Promise.race([agentExit, sleep(20_000).then(() => 'timeout' as const)]);
  assert.is(code, 0, 'our agent exits 0 after leave');
  await waitFor('s2 sees o1 left', () => /o1\s+\S+\s+left/.test(serfCli(['members', rpcS]).stdout));
});

test.run();
