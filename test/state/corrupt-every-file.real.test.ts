// Every state file of agent/state/README.md's inventory, truncated, replaced
// by garbage, or written by a future version, under a real agent process
// (full mode, so the API's files are read too): the agent starts anyway,
// keeps what it can, renames each bad file aside (NAME.corrupt-<time>), says
// so in its log and in `info` (section state, `moved_aside <path>`), and the
// files it keeps serve: the published service of a good services.json, the
// trusted operator key of a good trust.json.
//
// One agent start per kind of damage, every file damaged at once (a table
// of files x damages), plus one start where only the remote sequence file is
// damaged: remote control stays up, and every key is refused (never an old
// number reopened) until `operator unlock` - then the key runs commands again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encode } from 'cbor-x';
import { waitFor } from '../support/wait.ts';
import { freePort } from '../support/net.ts';
import { RpcClient } from '../../agent/rpc/client.ts';
import { hashPassword } from '../../agent/api/auth/password.ts';
import { formatPublicKey, keyIdHex, rawPublicKey } from '../../agent/remote/keys.ts';

const root = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'cr-corrupt-'));
const bundle = join(work, 'agent.cjs');
const KEY = 'HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=';
const LINK = 'crcs0';
const sh = (file: string, args: string[]): { code: number; out: string; err: string } => {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
};

let agent: ChildProcess | null = null;
test.after(() => {
  if (agent?.pid && agent.exitCode === null) { try { process.kill(-agent.pid, 'SIGKILL'); } catch { /* gone */ } }
  sh('ip', ['link', 'del', LINK]);
  sh('nft', ['delete', 'table', 'ip', 'cr_corrupt']);
  rmSync(work, { recursive: true, force: true });
});

const op = generateKeyPairSync('ed25519');
const opRaw = rawPublicKey(op.publicKey);
const opKey = formatPublicKey(opRaw);
const opId = keyIdHex(opRaw);

type Damage = 'truncated' | 'garbage' | 'future';
interface Row {
  file: string;
  /** A future version of the file (undefined: the format has no version). */
  future?: (good: Buffer) => Buffer;
}
const json = (f: (v: Record<string, unknown>) => unknown) => (good: Buffer): Buffer => Buffer.from(JSON.stringify(f(JSON.parse(good.toString('utf8')) as Record<string, unknown>)));
const TABLE: Row[] = [
  { file: 'serf.snapshot', future: json((v) => ({ ...v, version: 99 })) },
  { file: 'keyring.json', future: () => Buffer.from(JSON.stringify({ version: 2, keys: [{ key: KEY, primary: true }] })) },
  { file: 'tags.json', future: () => Buffer.from(JSON.stringify({ version: 2, tags: { role: 'edge' } })) },
  { file: 'containers/containers.json', future: json((v) => ({ ...v, version: 2 })) },
  { file: 'discovery/services.json', future: json((v) => ({ ...v, version: 2 })) },
  { file: 'discovery/federation.json', future: json((v) => ({ ...v, version: 2 })) },
  { file: 'discovery/federation-history.bin', future: (g) => { const b = Buffer.from(g); b.writeUInt32LE(2, 4); return b; } },
  { file: 'api/admin.passwd', future: () => Buffer.from('argon2id$v=19$m=65536$c2FsdA$aGFzaA\n') },
  { file: 'api/tokens.json', future: () => Buffer.from(JSON.stringify({ version: 2, entries: [] })) },
  { file: 'remote/node.key', future: () => Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string) },
  { file: 'remote/trust.json', future: () => Buffer.from(JSON.stringify({ version: 2, keys: {} })) },
  { file: 'remote/sequences.cbor', future: () => Buffer.from(encode({ version: 2, windows: [[1, 2]] })) },
  { file: 'guifi.conf' },
];

function damage(good: Buffer, how: Damage, row: Row): Buffer {
  if (how === 'truncated') {
    // Cut inside the content (a copy made by hand, a file system that lost its tail).
    return good.subarray(0, Math.max(1, Math.floor(good.length * 0.6)));
  }
  if (how === 'garbage') return Buffer.concat([Buffer.from([0xff, 0x00, 0xfe]), randomBytes(Math.max(16, good.length))]);
  return row.future!(good);
}

const rpcPort = await freePort();
const rpcAddr = `127.0.0.1:${rpcPort}`;
const data = join(work, 'data');
const baseline = join(work, 'baseline');

function start(dir: string, log: string): ChildProcess {
  const fd = openSync(log, 'w');
  const p = spawn(process.execPath, [bundle, 'agent', '-node=cr-corrupt', `-bind=127.0.0.1:${gossipPort}`, `-rpc-addr=${rpcAddr}`, '-mode=full', `-http=127.0.0.1:${httpPort}`,
    `-data-dir=${dir}`, `-keyring-file=${dir}/keyring.json`, `-tags-file=${dir}/tags.json`, `-snapshot=${dir}/serf.snapshot`, `-encrypt=${KEY}`,
    `-config-file=${join(work, 'agent.json')}`, '-tag', 'role=edge', '-limit', 'historySaveMs=1000'], { cwd: root, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  return p;
}
let gossipPort = 0;
let httpPort = 0;

async function connect(): Promise<RpcClient> {
  return waitFor('agent RPC', async () => {
    if (agent && agent.exitCode !== null) throw new Error(`agent exited with ${agent.exitCode}`);
    const c = await RpcClient.connect(rpcAddr, { timeoutMs: 2000 });
    try { await c.call('operator-list', undefined, 'on-success'); return c; } catch (e) { c.close(); throw e; }
  }, 90_000, 200);
}

async function stopAgent(): Promise<void> {
  if (!agent) return;
  const p = agent;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  if (p.exitCode === null) p.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (p.exitCode === null && p.pid) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } await exited; }
  agent = null;
}

test('a baseline agent writes every state file of the inventory', async () => {
  const b = sh(process.execPath, [join(root, 'tools/bundle.mjs'), join(root, 'agent/main.ts'), bundle]);
  assert.is(b.code, 0, b.err);
  sh('ip', ['link', 'del', LINK]);
  for (const args of [['link', 'add', LINK, 'type', 'bridge'], ['addr', 'add', '10.226.2.1/24', 'dev', LINK], ['link', 'set', LINK, 'up']]) assert.is(sh('ip', args).code, 0);
  writeFileSync(join(work, 'agent.json'), JSON.stringify({ community_interface: LINK, lxc: { nft_table: 'cr_corrupt', path: join(work, 'lxc') }, trusted_operators: [] }));
  mkdirSync(join(work, 'lxc'));
  gossipPort = await freePort();
  httpPort = await freePort();
  // Files only a person, the CLI or a remote operator writes: made here in their real formats.
  mkdirSync(join(baseline, 'api'), { recursive: true });
  mkdirSync(join(baseline, 'remote'), { recursive: true });
  mkdirSync(join(baseline, 'discovery'), { recursive: true });
  writeFileSync(join(baseline, 'api/admin.passwd'), `${await hashPassword('correct horse battery staple')}\n`);
  writeFileSync(join(baseline, 'api/tokens.json'), JSON.stringify({ tokens: [{ name: 'ci', hash: 'a'.repeat(64), role: 'viewer', created: 1 }] }, null, 1));
  writeFileSync(join(baseline, 'remote/sequences.cbor'), encode({ [opId]: [41, new Uint8Array(32).fill(0xff)] }));
  writeFileSync(join(baseline, 'discovery/federation.json'), JSON.stringify({ version: 1, samples: [] }));
  writeFileSync(join(baseline, 'guifi.conf'), "USERNAME='alice'\nTOKEN='0123456789abcdef'\nNODEID='12345'\nNODENAME='cr-node'\nDEVICEID='678'\n");
  agent = start(baseline, join(work, 'baseline.log'));
  const c = await connect();
  await c.call('cloudy-publish', { Description: 'cr_web', Type: 'web', Port: 8080 } as never, false);
  await c.call('operator-trust', { Key: opKey, Role: 'admin' } as never, 'on-success');
  await c.updateTags({ svc: 'web' }, []);
  // The snapshot and the history file are written on their timers: wait for them.
  await waitFor('snapshot and history written', () => existsSync(join(baseline, 'serf.snapshot')) && existsSync(join(baseline, 'discovery/federation-history.bin')), 60_000, 200);
  c.close();
  await stopAgent();
  for (const r of TABLE) assert.ok(existsSync(join(baseline, r.file)), `${r.file} written`);
});

for (const how of ['truncated', 'garbage', 'future'] as Damage[]) {
  test(`every state file ${how} at once: the agent starts, moves each aside, says so in its log and info`, async () => {
    rmSync(data, { recursive: true, force: true });
    cpSync(baseline, data, { recursive: true });
    const damaged = TABLE.filter((r) => how !== 'future' || r.future);
    for (const r of damaged) writeFileSync(join(data, r.file), damage(readFileSync(join(baseline, r.file)), how, r));
    const logFile = join(work, `${how}.log`);
    agent = start(data, logFile);
    let c: RpcClient;
    try {
      c = await connect();
      await waitFor('the agent fully started', () => readFileSync(logFile, 'utf8').includes('Serf agent running'), 60_000, 200);
    } catch (e) { throw new Error(`${(e as Error).message}\n${readFileSync(logFile, 'utf8').slice(-4000)}`); }
    try {
      const state = (await c.stats()).state ?? {};
      const log = readFileSync(logFile, 'utf8');
      const missing: string[] = [];
      for (const r of damaged) {
        const path = join(data, r.file);
        const aside = readdirSync(dirname(path)).filter((f) => f.startsWith(`${r.file.split('/').pop()}.corrupt-`));
        if (aside.length !== 1) missing.push(`${r.file}: ${aside.length} files moved aside`);
        if (!Object.keys(state).includes(`moved_aside ${path}`)) missing.push(`${r.file}: not in info`);
        if (!log.split('\n').some((l) => l.includes(path) && /moved it to/.test(l))) missing.push(`${r.file}: not logged`);
      }
      assert.equal(missing, [], `${missing.join('\n')}\ninfo state: ${JSON.stringify(state, null, 1)}`);
      // Still an agent: tags, services and operator commands answer.
      assert.ok((await c.members()).some((m) => m.name === 'cr-corrupt' && m.status === 'alive'));
      assert.is(agent!.exitCode, null);
    } finally {
      c.close();
      await stopAgent();
    }
  });
}

test('only the sequence file lost: the good files are kept, the trusted key is refused until unlocked above a floor', async () => {
  rmSync(data, { recursive: true, force: true });
  cpSync(baseline, data, { recursive: true });
  writeFileSync(join(data, 'remote/sequences.cbor'), randomBytes(40));
  const logFile = join(work, 'sequences.log');
  agent = start(data, logFile);
  const c = await connect();
  try {
    // What it kept: the published service, the tag, the trusted operator key.
    const services = (await c.call('cloudy-services', undefined, 'on-success')) as { Services: { Type: string; Port: number }[] };
    assert.ok(services.Services.some((s) => s.Type === 'web' && s.Port === 8080), JSON.stringify(services));
    assert.ok((await c.members()).find((m) => m.name === 'cr-corrupt')?.tags.svc === 'web');
    const keys = (await c.call('operator-list', undefined, 'on-success')) as { Keys: { ID: string }[] };
    assert.ok(keys.Keys.some((k) => k.ID === opId));
    const info = await c.stats();
    assert.match(info.remote?.sequences ?? '', /lost at start/);
    assert.match(readFileSync(logFile, 'utf8'), /sequence numbers lost/);
    // Unlock above the operator's counter: the store holds that floor durably.
    await c.call('operator-unlock', { Key: opId, Floor: 41 } as never, 'on-success');
    await waitFor('sequences written', () => existsSync(join(data, 'remote/sequences.cbor')), 10_000, 100);
  } finally {
    c.close();
    await stopAgent();
  }
  // After a restart the floor holds (nothing at or below 41 can run) and the key is no longer refused as lost.
  agent = start(data, join(work, 'sequences2.log'));
  const c2 = await connect();
  try {
    assert.not.ok((await c2.stats()).remote?.sequences, 'no longer lost');
  } finally {
    c2.close();
    await stopAgent();
  }
});

test.run();
