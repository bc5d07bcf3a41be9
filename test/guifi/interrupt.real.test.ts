// A registration cut at every step, by SIGKILL of the real CLI process (the
// bundled executable's code): once right after guifi.net made a change and
// before the reply reached the box (the box never learns the result), once
// between two steps (the next request never leaves). The next run finishes the
// job: one cloudy device, one link, one service per type, and a state file
// that names that device and holds no password. Each scenario has its own
// guifi.net user (one token per user) and node, so they run side by side.
// A *.real test: it builds the bundled executable and SIGKILLs real processes
// (about 10 CPU-s), so it runs in `make test`, not in `make check`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { world, PASSWORD, type World } from './helpers.ts';
import type { Who } from './stand-in.ts';
import { parseState } from '../../agent/guifi/state.ts';

let w: World;
let bundle = '';
let pwFile = '';
test.before(async () => {
  w = await world();
  w.server.beforeRequest = async (what, who) => before.get(keyOf(who))?.(what);
  w.server.afterChange = async (what, who) => { await after.get(keyOf(who))?.(what); };
  const dir = w.tmp();
  bundle = join(dir, 'cloudy-agent.cjs');
  execFileSync(process.execPath, ['tools/bundle.mjs', 'agent/main.ts', bundle], { stdio: 'inherit' });
  pwFile = join(dir, 'password');
  writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
});
test.after(async () => { await w.close(); });

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function cli(args: string[], onChild?: (c: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bundle, 'guifi', ...args, '-api', w.server.apiUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    onChild?.(c);
    c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function killNow(c: ChildProcess): Promise<void> {
  return new Promise((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else { c.once('exit', () => r()); c.kill('SIGKILL'); } });
}

let seq = 0x10;
interface Scenario { user: string; nodeId: number; dir: string; mac: string }

function freshScenario(title: string): Scenario {
  const k = seq++;
  const user = `u${k}`;
  w.server.addUser(user, PASSWORD);
  const nodeId = w.server.addNode(title, user);
  w.server.addDevice({ nodeId, nick: `${title}-RB`, type: 'radio', ipv4: `10.139.${40 + k}.1`, mask: '255.255.255.224' });
  return { user, nodeId, dir: w.tmp(), mac: `AA:BB:CC:00:01:${k.toString(16).toUpperCase().padStart(2, '0')}` };
}

type Hook = (what: string) => Promise<'drop' | void>;
const before = new Map<string, Hook>();
const after = new Map<string, Hook>();
function route(n: Scenario, map: Map<string, Hook>, h: Hook | null): void {
  for (const key of [n.user, `node:${n.nodeId}`]) { if (h) map.set(key, h); else map.delete(key); }
}
const keyOf = (who: Who): string => (who.user !== null ? who.user : `node:${who.nodeId}`);

function checkOneOfEach(n: Scenario, services: string[] = []): void {
  const cloudy = w.server.devicesOf(n.nodeId).filter((d) => d.type === 'cloudy');
  assert.is(cloudy.length, 1, 'exactly one cloudy device');
  const dev = cloudy[0]!;
  assert.is(dev.interfaces.length, 1, 'exactly one interface (one addlink)');
  assert.is(w.server.linksOf(dev.id).length, 1, 'exactly one link');
  assert.equal(w.server.servicesOf(dev.id).map((s) => s.type).sort(), [...services].sort());
  const st = parseState(readFileSync(join(n.dir, 'guifi.conf'), 'utf8')).state;
  assert.is(st.deviceId, dev.id);
  assert.is(st.nodeId, n.nodeId);
  assert.is(st.username, n.user);
  assert.is(st.token, w.server.tokenOf(n.user));
  for (const f of readdirSync(n.dir)) assert.not.ok(readFileSync(join(n.dir, f), 'utf8').includes(PASSWORD), `no password in ${f}`);
}

/** Kills the CLI at `point` (`what#nth`) of a registration, checks what was left, runs it again to the end. */
async function cutAndResume(point: string, when: 'after-change' | 'before', runAgain = false): Promise<void> {
  const n = freshScenario(`cut-${when}-${point.replace(/[^a-z0-9]/g, '')}`);
  const args = ['register', '-node-id', String(n.nodeId), '-mac', n.mac, '-data-dir', n.dir, '-user', n.user, '-password-file', pwFile];
  let child: ChildProcess | null = null;
  let fired = false;
  let seen = 0;
  const [kind, nth] = point.includes('#') ? [point.split('#')[0]!, Number(point.split('#')[1])] : [point, 1];
  const hook: Hook = async (what) => {
    if (fired || (what !== kind && !(kind === 'cnml' && what.startsWith('cnml ')))) return;
    if (++seen !== nth) return;
    fired = true;
    await killNow(child!);
    return 'drop';
  };
  route(n, when === 'after-change' ? after : before, hook);
  const first = await cli(args, (c) => { child = c; });
  route(n, when === 'after-change' ? after : before, null);
  assert.ok(fired, `${point} was reached: ${first.stderr}`);
  assert.is(first.signal, 'SIGKILL', `killed at ${point} (${when}): ${first.stderr}`);
  if (existsSync(join(n.dir, 'guifi.conf'))) parseState(readFileSync(join(n.dir, 'guifi.conf'), 'utf8'));
  const second = await cli(args);
  assert.is(second.code, 0, `resume after ${point} (${when}): ${second.stderr}`);
  checkOneOfEach(n);
  if (!runAgain) return;
  const third = await cli(args);
  assert.is(third.code, 0);
  assert.match(third.stdout, /already registered: nothing added/);
  checkOneOfEach(n);
}

async function all(label: string, runs: Promise<void>[]): Promise<void> {
  const r = await Promise.allSettled(runs);
  const bad = r.map((x, i) => (x.status === 'rejected' ? `#${i}: ${String((x.reason as Error)?.message ?? x.reason)}` : '')).filter(Boolean);
  assert.equal(bad, [], `${label}: ${bad.join('; ')}`);
}

test('killed after guifi.net did login / device.add / cloudy.addlink, before the box heard back: the next run finishes, nothing twice', async () => {
  await all('after change', ['guifi.auth.login', 'guifi.device.add', 'guifi.cloudy.addlink'].map((p) => cutAndResume(p, 'after-change', p === 'guifi.device.add')));
});

test('killed between steps (before cnml.clear, the CNML read, device.add, addlink, the final clear and read): the next run finishes, nothing twice', async () => {
  await all('between steps', ['guifi.cnml.clear#1', 'cnml#1', 'guifi.device.add', 'guifi.cloudy.addlink', 'guifi.cnml.clear#2', 'cnml#2'].map((p) => cutAndResume(p, 'before')));
});

test('service-add killed after guifi.net stored the service, or before asking: declared once', async () => {
  await all('service-add', (['after-change', 'before'] as const).map(async (when) => {
    const n = freshScenario(`svc-${when}`);
    const base = ['-data-dir', n.dir, '-password-file', pwFile];
    const reg = await cli(['register', '-node-id', String(n.nodeId), '-mac', n.mac, '-user', n.user, ...base]);
    assert.is(reg.code, 0, reg.stderr);
    let child: ChildProcess | null = null;
    let fired = false;
    route(n, when === 'after-change' ? after : before, async (c) => {
      if (c !== 'guifi.service.add' || fired) return;
      fired = true;
      await killNow(child!);
      return 'drop';
    });
    const cut = await cli(['service-add', '-type', 'DNS', ...base], (c) => { child = c; });
    route(n, when === 'after-change' ? after : before, null);
    assert.is(cut.signal, 'SIGKILL');
    const again = await cli(['service-add', '-type', 'DNS', ...base]);
    assert.is(again.code, 0, again.stderr);
    assert.match(again.stdout, when === 'after-change' ? /already declared/ : /DNS declared/);
    const once = await cli(['service-add', '-type', 'DNS', ...base]);
    assert.match(once.stdout, /already declared/);
    checkOneOfEach(n, ['DNS']);
  }));
});

test.run();
