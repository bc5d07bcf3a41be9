// A real agent process whose data directory sits on a small tmpfs that this
// test mounts: full at start, full while running, then remounted read-only.
// The agent must start, keep gossiping (a real serf agent watches) and serving
// RPC, log each failing file once, count it in `info` (section `state`), and
// write its state again by itself once the disk has room / is writable.
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
test.after(async () => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  await serf?.stop(); serf?.cleanup();
  spawnSync('umount', ['-l', mnt]);
  spawnSync('nft', ['delete', 'table', 'ip', 'cr_disk']);
  rmSync(work, { recursive: true, force: true });
});

const KEY = 'HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=';
const OP_KEY = formatPublicKey(rawPublicKey(generateKeyPairSync('ed25519').publicKey));

test('disk full at start, while running, then read-only: the agent keeps going and writes again', async () => {
  sh(`mount -t tmpfs -o size=256k cr-disk ${mnt}`);
  // Fill it before the agent starts (a card that filled up while the box was off).
  spawnSync('sh', ['-c', `dd if=/dev/zero of=${mnt}/fill bs=4k 2>/dev/null; true`]);
  const [sp, sr, ap, ar] = [await freePort(), await freePort(), await freePort(), await freePort()];
  serf = await SerfAgent.launch({ name: 'cr-watch', ip: '127.0.0.1', port: sp, rpcPort: sr, eventHandler: false, encrypt: KEY });
  const rpc = `127.0.0.1:${ar}`;
  const logFile = join(work, 'agent.log');
  const fd = openSync(logFile, 'w');
  // Containers on (containers.json is one of the writers), with our own nft table and lxc path.
  writeFileSync(join(work, 'agent.json'), JSON.stringify({ lxc: { nft_table: 'cr_disk', path: join(work, 'lxc') } }));
  mkdirSync(join(work, 'lxc'), { recursive: true });
  agent = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', 'agent', '-node=cr-a', `-bind=127.0.0.1:${ap}`, `-rpc-addr=${rpc}`,
    `-config-file=${join(work, 'agent.json')}`, `-data-dir=${mnt}`, `-keyring-file=${mnt}/keyring.json`, `-tags-file=${mnt}/tags.json`, `-encrypt=${KEY}`, '-tag', 'role=edge',
    `-join=127.0.0.1:${sp}`, '-limit', 'stateRetryMs=500', '-log-level=debug'], { cwd: root, stdio: ['ignore', fd, fd] });
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
  c.close();
  for (const f of ['discovery/services.json', 'remote/trust.json', 'containers/containers.json', 'remote/node.key']) {
    await waitFor(`${f} failing in info`, () => Object.keys(info().state!).includes(`failures ${join(mnt, f)}`), 30_000);
  }
  await waitFor('serf sees the new tag', async () => (await serf!.member('cr-a'))?.tags.svc === 'web', 30_000);
  await new Promise((r) => setTimeout(r, 1500)); // a few retries fail meanwhile
  const tagLines = log().split('\n').filter((l) => l.includes('cannot write') && l.includes('tags.json'));
  assert.is(tagLines.length, 1, tagLines.join('\n'));
  assert.match(tagLines[0]!, /ENOSPC/);
  assert.ok(Number(info().state!.retries) > 0);

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
  for (const f of ['discovery/services.json', 'remote/trust.json']) {
    assert.is(log().split('\n').filter((l) => l.includes('cannot write') && l.includes(join(mnt, f))).length, 1, `${f} logged once`);
  }
  assert.equal(readdirSync(mnt).filter((f) => f.endsWith('.tmp')), []);

  // Read-only storage: runs from memory, says so, no crash-loop.
  sh(`mount -o remount,ro ${mnt}`);
  assert.is(serfCli(['tags', '-set', 'svc=db', `-rpc-addr=${rpc}`]).code, 0);
  await waitFor('serf sees svc=db', async () => (await serf!.member('cr-a'))?.tags.svc === 'db', 30_000);
  st = info().state!;
  assert.is(st.read_only, 'true', JSON.stringify(st));
  assert.match(log(), /data filesystem is read-only/);
  assert.is(tags().svc, 'web', 'old file intact');
  assert.is(agent.exitCode, null);
  sh(`mount -o remount,rw ${mnt}`);
  await waitFor('writable again', () => { const s = info().state!; return s.dirty_files === '0' && s.read_only === 'false'; }, 30_000);
  assert.is(tags().svc, 'db');
  assert.is((await serf.member('cr-a'))?.status, 'alive');
});

test.run();
