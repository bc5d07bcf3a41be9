// A real agent process whose data directory sits on a small tmpfs that this
// test mounts: full at start, full while running, then remounted read-only.
// The agent must start, keep gossiping (a real serf agent watches) and serving
// RPC, log each failing file once, count it in `info` (section `state`), and
// write its state again by itself once the disk has room / is writable.
// The agent runs in full mode so every writer is on: tags, keyring, services,
// trust, containers.json, node.key, guifi.conf (a guifi.net login against a
// stand-in guifi.net on loopback), the federation history; admin.passwd and
// tokens.json are written by the local CLI (`passwd`, `token create`), not by the
// running agent, so for them "fails cleanly" means: the command fails with the
// reason and a non-zero exit, the old file is untouched, no temp file is left,
// and the same command works once there is room (a person re-runs it: there is
// nothing in memory to retry). A second test starts an agent with an automatic
// (Cloudy) node name on a full disk: HostID and node-name.json cannot be written
// at their very first write, and the agent starts anyway.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { RpcClient } from '../../agent/rpc/client.ts';
import { formatPublicKey, rawPublicKey } from '../../agent/remote/keys.ts';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerfAgent } from '../support/real-serf.ts';
import { waitFor } from '../support/wait.ts';
import { serfCli } from '../cli/helpers.ts';
import { GuifiStandIn } from '../guifi/stand-in.ts';
import { decodeHistoryInto, TieredHistory } from '../../agent/discovery/history-tiers.ts';
import { historyTierSpecs } from '../../agent/discovery/history-recorder.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { freePort } from '../support/net.ts';

const root = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'cr-disk-'));
const mnt = join(work, 'data');
mkdirSync(mnt);
const sh = (cmd: string): string => {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};


let serf: SerfAgent | null = null;
let agent: ChildProcess | null = null;
let agent2: ChildProcess | null = null;
const guifi = new GuifiStandIn();
const mnt2 = join(work, 'data2');
mkdirSync(mnt2);
test.after(async () => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  if (agent2 && agent2.exitCode === null) agent2.kill('SIGKILL');
  await guifi.close().catch(() => {});
  spawnSync('umount', ['-l', mnt2]);
  await serf?.stop(); serf?.cleanup();
  spawnSync('umount', ['-l', mnt]);
  spawnSync('nft', ['delete', 'table', 'ip', 'cr_disk']);
  rmSync(work, { recursive: true, force: true });
});

const KEY = 'HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=';
const OP_KEY = formatPublicKey(rawPublicKey(generateKeyPairSync('ed25519').publicKey));
/** The local CLI (admin password, API tokens) run as a user does: its exit code and output. */
const cli = (args: string[], input = ''): { code: number; out: string } => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'agent/main.ts', ...args], { cwd: root, encoding: 'utf8', input, timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
};
const bytesOf = (f: string): string => readFileSync(f).toString('base64');
/** The saved federation history decodes (never a torn file) and holds `n` samples at least. */
const historySamples = (f: string): number => {
  const h = new TieredHistory(historyTierSpecs(defaultLimits('full')));
  decodeHistoryInto(h, new Uint8Array(readFileSync(f)));
  return h.tiers[0]!.count.reduce((a, b) => a + b, 0);
};

test('disk full at start, while running, then read-only: the agent keeps going and writes again', async () => {
  // 2 MB: the federation history alone is ~0.5 MB (fixed size, history-tiers.ts).
  sh(`mount -t tmpfs -o size=2m cr-disk ${mnt}`);
  // An admin password and a token made while there was room (the CLI writes them, not the agent).
  assert.is(cli(['passwd', `-data-dir=${mnt}`], 'first passphrase\n').code, 0);
  assert.is(cli(['token', 'create', 'ci', `-data-dir=${mnt}`]).code, 0);
  const passwd = join(mnt, 'api/admin.passwd');
  const tokens = join(mnt, 'api/tokens.json');
  const [passwdBytes, tokensBytes] = [bytesOf(passwd), bytesOf(tokens)];
  await guifi.listen();
  guifi.addUser('cr-alice', 'cr pass');
  // Fill it before the agent starts (a card that filled up while the box was off).
  spawnSync('sh', ['-c', `dd if=/dev/zero of=${mnt}/fill bs=4k 2>/dev/null; true`]);
  const [sp, sr, ap, ar] = [await freePort(), await freePort(), await freePort(), await freePort()];
  serf = await SerfAgent.launch({ name: 'cr-watch', ip: '127.0.0.1', port: sp, rpcPort: sr, eventHandler: false, encrypt: KEY });
  const rpc = `127.0.0.1:${ar}`;
  const logFile = join(work, 'agent.log');
  const fd = openSync(logFile, 'w');
  // Containers on (containers.json is one of the writers), with our own nft table and lxc path.
  writeFileSync(join(work, 'agent.json'), JSON.stringify({ lxc: { nft_table: 'cr_disk', path: join(work, 'lxc') }, guifi: { api: guifi.apiUrl } }));
  mkdirSync(join(work, 'lxc'), { recursive: true });
  agent = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', 'agent', '-node=cr-a', `-bind=127.0.0.1:${ap}`, `-rpc-addr=${rpc}`,
    `-config-file=${join(work, 'agent.json')}`, `-data-dir=${mnt}`, `-keyring-file=${mnt}/keyring.json`, `-tags-file=${mnt}/tags.json`, `-encrypt=${KEY}`, '-tag', 'role=edge',
    `-join=127.0.0.1:${sp}`, '-limit', 'stateRetryMs=500', '-log-level=debug',
    // Full mode (GUI on a port of ours): the federation history is recorded and saved every second.
    '-mode=full', `-http=127.0.0.1:${await freePort()}`, '-limit', 'historySampleMs=200', '-limit', 'historySaveMs=1000'], { cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const log = (): string => readFileSync(logFile, 'utf8');
  const info = (): Record<string, Record<string, string>> => {
    const r = serfCli(['info', '-format=json', `-rpc-addr=${rpc}`]);
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as Record<string, Record<string, string>>;
  };
  try {
    await waitFor('agent RPC on a full disk', () => serfCli(['members', `-rpc-addr=${rpc}`]).code === 0, 60_000);
  } catch (e) { throw new Error(`${(e as Error).message}\n${log().slice(-3000)}`); }
  try {
    await waitFor('serf sees cr-a alive', async () => (await serf!.member('cr-a'))?.status === 'alive', 30_000);
  } catch (e) { throw new Error(`${(e as Error).message}\n${log().slice(-3000)}`); }
  let st = info().state!;
  assert.ok(Number(st.dirty_files) >= 2, JSON.stringify(st));
  assert.ok(Object.keys(st).some((k) => k.includes('keyring.json')), JSON.stringify(st));
  assert.ok(Object.values(st).some((v) => v.includes('ENOSPC')), JSON.stringify(st));
  assert.is(st.read_only, 'false');

  // Still running on a full disk: tags, services and operator trust change in memory (and gossip), logged once per file.
  assert.is(serfCli(['tags', '-set', 'svc=web', `-rpc-addr=${rpc}`]).code, 0);
  const c = await RpcClient.connect(rpc);
  await c.call('cloudy-publish', { Description: 'cr_web', Type: 'web', Port: 8080 } as never, false);
  await c.call('operator-trust', { Key: OP_KEY, Role: 'viewer' } as never, 'on-success');
  // A guifi.net login: its token goes to guifi.conf.
  await c.call('guifi-login', { User: 'cr-alice', Password: 'cr pass' } as never, 'on-success');
  c.close();
  const STATE = ['discovery/services.json', 'remote/trust.json', 'containers/containers.json', 'remote/node.key', 'guifi.conf', 'discovery/federation-history.bin'];
  for (const f of STATE) {
    await waitFor(`${f} failing in info`, () => Object.keys(info().state!).includes(`failures ${join(mnt, f)}`), 30_000);
  }
  await waitFor('serf sees the new tag', async () => (await serf!.member('cr-a'))?.tags.svc === 'web', 30_000);
  await new Promise((r) => setTimeout(r, 1500)); // a few retries fail meanwhile
  const tagLines = log().split('\n').filter((l) => l.includes('cannot write') && l.includes('tags.json'));
  assert.is(tagLines.length, 1, tagLines.join('\n'));
  assert.match(tagLines[0]!, /ENOSPC/);
  assert.ok(Number(info().state!.retries) > 0);
  // The local CLI on a full disk: refused with the reason, the old files untouched, no temp file.
  for (const [args, input, file, before] of [
    [['passwd', `-data-dir=${mnt}`], 'second passphrase\n', passwd, passwdBytes],
    [['token', 'create', 'ci2', `-data-dir=${mnt}`], '', tokens, tokensBytes],
  ] as const) {
    const r = cli([...args], input);
    assert.is.not(r.code, 0, r.out);
    assert.match(r.out, /ENOSPC|no space left/i);
    assert.is(bytesOf(file), before, `${file} untouched`);
  }
  assert.equal(readdirSync(join(mnt, 'api')).filter((f) => f.endsWith('.tmp')), []);

  // Space back: everything written by itself, nothing truncated, no temp file left.
  rmSync(join(mnt, 'fill'));
  await waitFor('state written again', () => info().state!.dirty_files === '0', 30_000);
  const tags = (): Record<string, string> => JSON.parse(readFileSync(join(mnt, 'tags.json'), 'utf8')) as Record<string, string>;
  assert.equal([tags().role, tags().svc], ['edge', 'web']);
  assert.equal(JSON.parse(readFileSync(join(mnt, 'keyring.json'), 'utf8')), [KEY]);
  assert.match(log(), /tags\.json written again/);
  const services = JSON.parse(readFileSync(join(mnt, 'discovery/services.json'), 'utf8')) as { services: { type: string }[] };
  assert.ok(services.services.some((x) => x.type === 'web'), 'published service written once space came back');
  assert.match(readFileSync(join(mnt, 'remote/trust.json'), 'utf8'), new RegExp(OP_KEY.replace(/[+/]/g, '.')));
  assert.ok(existsSync(join(mnt, 'containers/containers.json')) && existsSync(join(mnt, 'remote/node.key')));
  assert.match(readFileSync(join(mnt, 'guifi.conf'), 'utf8'), /^USERNAME="cr-alice"$/m);
  assert.match(readFileSync(join(mnt, 'guifi.conf'), 'utf8'), /^TOKEN="[^"\n]+"$/m);
  assert.ok(historySamples(join(mnt, 'discovery/federation-history.bin')) > 0, 'history written whole once space came back');
  for (const f of STATE) {
    assert.is(log().split('\n').filter((l) => l.includes('cannot write') && l.includes(join(mnt, f))).length, 1, `${f} logged once`);
  }
  assert.equal(readdirSync(mnt).filter((f) => f.endsWith('.tmp')), []);
  // The CLI works again, as the person re-running it expects.
  assert.is(cli(['passwd', `-data-dir=${mnt}`], 'second passphrase\n').code, 0);
  assert.is(cli(['token', 'create', 'ci2', `-data-dir=${mnt}`]).code, 0);
  const [passwd2, tokens2] = [bytesOf(passwd), bytesOf(tokens)];
  assert.is.not(passwd2, passwdBytes);

  // Read-only storage: runs from memory, says so, no crash-loop.
  sh(`mount -o remount,ro ${mnt}`);
  assert.is(serfCli(['tags', '-set', 'svc=db', `-rpc-addr=${rpc}`]).code, 0);
  await waitFor('serf sees svc=db', async () => (await serf!.member('cr-a'))?.tags.svc === 'db', 30_000);
  st = info().state!;
  assert.is(st.read_only, 'true', JSON.stringify(st));
  assert.match(log(), /data filesystem is read-only/);
  assert.is(tags().svc, 'web', 'old file intact');
  assert.is(agent.exitCode, null);
  // guifi.conf (a new login) and the history fail with EROFS too, their files intact.
  const guifiBefore = readFileSync(join(mnt, 'guifi.conf'), 'utf8');
  const c2 = await RpcClient.connect(rpc);
  await c2.call('guifi-login', { User: 'cr-alice', Password: 'cr pass' } as never, 'on-success');
  c2.close();
  for (const f of ['guifi.conf', 'discovery/federation-history.bin']) {
    await waitFor(`${f} read-only in info`, () => /EROFS/.test(info().state![`failures ${join(mnt, f)}`] ?? ''), 30_000);
  }
  assert.is(readFileSync(join(mnt, 'guifi.conf'), 'utf8'), guifiBefore);
  assert.ok(historySamples(join(mnt, 'discovery/federation-history.bin')) > 0);
  for (const [args, input, file, before] of [
    [['passwd', `-data-dir=${mnt}`], 'third passphrase\n', passwd, passwd2],
    [['token', 'create', 'ci3', `-data-dir=${mnt}`], '', tokens, tokens2],
  ] as const) {
    const r = cli([...args], input);
    assert.is.not(r.code, 0, r.out);
    assert.match(r.out, /EROFS|read-only/i);
    assert.is(bytesOf(file), before, `${file} untouched`);
  }
  sh(`mount -o remount,rw ${mnt}`);
  await waitFor('writable again', () => { const s = info().state!; return s.dirty_files === '0' && s.read_only === 'false'; }, 30_000);
  assert.is(tags().svc, 'db');
  assert.is.not(readFileSync(join(mnt, 'guifi.conf'), 'utf8'), guifiBefore, 'the new login written once writable');
  assert.is((await serf.member('cr-a'))?.status, 'alive');
});

test('first start on a full disk with a Cloudy node name: HostID and node-name.json not written, the agent starts anyway and writes them later; a damaged HostID next time is moved aside and the name kept', async () => {
  sh(`mount -t tmpfs -o size=128k cr-disk2 ${mnt2}`);
  spawnSync('sh', ['-c', `dd if=/dev/zero of=${mnt2}/fill bs=4k 2>/dev/null; true`]);
  const [ap, ar] = [await freePort(), await freePort()];
  const rpc = `127.0.0.1:${ar}`;
  const logFile = join(work, 'agent2.log');
  const fd = openSync(logFile, 'w');
  // No -node: the name is Cloudy's <HostID>-<ns>-<host>-<ip>:<port>, kept in the data dir.
  agent2 = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', 'agent', `-bind=127.0.0.1:${ap}`, `-rpc-addr=${rpc}`,
    `-data-dir=${mnt2}`, '-containers=false', '-limit', 'stateRetryMs=500'], { cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const log = (): string => readFileSync(logFile, 'utf8');
  try {
    await waitFor('agent RPC on a full disk at first start', () => serfCli(['members', `-rpc-addr=${rpc}`]).code === 0, 60_000);
  } catch (e) { throw new Error(`${(e as Error).message}\n${log().slice(-3000)}`); }
  const r = serfCli(['info', '-format=json', `-rpc-addr=${rpc}`]);
  const st = (JSON.parse(r.stdout) as Record<string, Record<string, string>>).state!;
  const name = (JSON.parse(r.stdout) as Record<string, Record<string, string>>).agent!.name!;
  assert.match(name, /^[0-9a-f]{32}-\d{9}-/);
  for (const f of ['HostID', 'node-name.json']) {
    assert.match(st[`failures ${join(mnt2, f)}`] ?? '', /ENOSPC/, JSON.stringify(st));
    assert.is(log().split('\n').filter((l) => l.includes('cannot write') && l.includes(join(mnt2, f))).length, 1, `${f} logged once`);
  }
  rmSync(join(mnt2, 'fill'));
  await waitFor('identity written once space is back', () => existsSync(join(mnt2, 'HostID')) && existsSync(join(mnt2, 'node-name.json')), 30_000);
  assert.is(readFileSync(join(mnt2, 'HostID'), 'utf8').trim(), name.slice(0, 32));
  assert.is(JSON.parse(readFileSync(join(mnt2, 'node-name.json'), 'utf8')).nodeName, name, 'the name it runs under is the one kept');
  assert.is(agent2.exitCode, null);

  // A damaged HostID at the next start: moved aside, said in the log and in info, the node name kept.
  const exited = new Promise<void>((r) => agent2!.once('exit', () => r()));
  agent2.kill('SIGTERM');
  await exited;
  writeFileSync(join(mnt2, 'HostID'), 'garbage after a bad card\n');
  const fd2 = openSync(logFile, 'a');
  agent2 = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', 'agent', `-bind=127.0.0.1:${ap}`, `-rpc-addr=${rpc}`,
    `-data-dir=${mnt2}`, '-containers=false'], { cwd: root, stdio: ['ignore', fd2, fd2] });
  closeSync(fd2);
  try {
    await waitFor('agent RPC after a damaged HostID', () => serfCli(['members', `-rpc-addr=${rpc}`]).code === 0, 60_000);
  } catch (e) { throw new Error(`${(e as Error).message}\n${log().slice(-3000)}`); }
  const again = JSON.parse(serfCli(['info', '-format=json', `-rpc-addr=${rpc}`]).stdout) as Record<string, Record<string, string>>;
  assert.is(again.agent!.name, name, 'same node name');
  assert.match(again.state![`moved_aside ${join(mnt2, 'HostID')}`] ?? '', /HostID\.corrupt-.*not a 32-hex HostID/, JSON.stringify(again.state));
  assert.match(log(), /HostID: not a 32-hex HostID: moved it to .*HostID\.corrupt-\S+; kept the HostID [0-9a-f]{32}, recovered from .*node-name\.json/);
  assert.is(readFileSync(join(mnt2, 'HostID'), 'utf8').trim(), name.slice(0, 32));
});

test.run();
