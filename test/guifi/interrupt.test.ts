// A registration cut at every step, by SIGKILL of the real CLI process (the
// bundled executable's code): once right after guifi.net made a change and
// before the reply reached the box (the box never learns the result), once
// between two steps (the next request never leaves). The next run finishes the
// job: one cloudy device, one link, one service per type, and a state file
// that names that device and holds no password.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { world, USER, PASSWORD, type World } from './helpers.ts';
import { parseState } from '../../agent/guifi/state.ts';

let w: World;
let bundle = '';
let pwFile = '';
test.before(async () => {
  w = await world();
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

let macSeq = 0x10;
function freshNode(title: string): { nodeId: number; dir: string; mac: string } {
  const nodeId = w.server.addNode(title, USER);
  const third = 40 + macSeq;
  w.server.addDevice({ nodeId, nick: `${title}-RB`, type: 'radio', ipv4: `10.139.${third}.1`, mask: '255.255.255.224' });
  return { nodeId, dir: w.tmp(), mac: `AA:BB:CC:00:01:${(macSeq++).toString(16).toUpperCase().padStart(2, '0')}` };
}

function checkOneOfEach(nodeId: number, dir: string, services: string[] = []): void {
  const cloudy = w.server.devicesOf(nodeId).filter((d) => d.type === 'cloudy');
  assert.is(cloudy.length, 1, 'exactly one cloudy device');
  const dev = cloudy[0]!;
  assert.is(dev.interfaces.length, 1, 'exactly one interface (one addlink)');
  assert.is(w.server.linksOf(dev.id).length, 1, 'exactly one link');
  assert.equal(w.server.servicesOf(dev.id).map((s) => s.type).sort(), [...services].sort());
  const text = readFileSync(join(dir, 'guifi.conf'), 'utf8');
  const st = parseState(text).state;
  assert.is(st.deviceId, dev.id);
  assert.is(st.nodeId, nodeId);
  assert.is(st.username, USER);
  assert.is(st.token, w.server.tokenOf(USER));
  for (const f of readdirSync(dir)) assert.not.ok(readFileSync(join(dir, f), 'utf8').includes(PASSWORD), `no password in ${f}`);
}

/** Kills the CLI at `point` of a registration, checks what was left, runs it again to the end. */
async function cutAndResume(point: string, when: 'after-change' | 'before', runAgain = false): Promise<void> {
  const n = freshNode(`cut-${when}-${point.replace(/[^a-z]/g, '')}`);
  const args = ['register', '-node-id', String(n.nodeId), '-mac', n.mac, '-data-dir', n.dir, '-user', USER, '-password-file', pwFile];
  let child: ChildProcess | null = null;
  let fired = false;
  let seen = 0;
  const [kind, nth] = point.includes('#') ? [point.split('#')[0]!, Number(point.split('#')[1])] : [point, 1];
  const hit = (what: string): boolean => {
    if (fired || (what !== kind && !(kind === 'cnml' && what === `cnml ${n.nodeId}`))) return false;
    seen++;
    return seen === nth;
  };
  if (when === 'after-change') {
    w.server.afterChange = async (cmd) => { if (hit(cmd)) { fired = true; await killNow(child!); } };
  } else {
    w.server.beforeRequest = async (what) => { if (hit(what)) { fired = true; await killNow(child!); return 'drop'; } };
  }
  const first = await cli(args, (c) => { child = c; });
  w.server.afterChange = null;
  w.server.beforeRequest = null;
  assert.ok(fired, `${point} was reached`);
  assert.is(first.signal, 'SIGKILL', `killed at ${point} (${when}): ${first.stderr}`);
  if (existsSync(join(n.dir, 'guifi.conf'))) parseState(readFileSync(join(n.dir, 'guifi.conf'), 'utf8'));
  const second = await cli(args);
  assert.is(second.code, 0, `resume after ${point} (${when}): ${second.stderr}`);
  checkOneOfEach(n.nodeId, n.dir);
  if (!runAgain) return;
  const third = await cli(args);
  assert.is(third.code, 0);
  assert.match(third.stdout, /already registered: nothing added/);
  checkOneOfEach(n.nodeId, n.dir);
}

for (const point of ['guifi.auth.login', 'guifi.device.add', 'guifi.cloudy.addlink']) {
  test(`killed after guifi.net did ${point}, before the box heard back: the next run finishes, nothing twice`, async () => {
    await cutAndResume(point, 'after-change', point === 'guifi.device.add');
  });
}

for (const point of ['guifi.cnml.clear#1', 'cnml#1', 'guifi.device.add', 'guifi.cloudy.addlink', 'guifi.cnml.clear#2', 'cnml#2']) {
  test(`killed between steps, before ${point}: the next run finishes, nothing twice`, async () => {
    await cutAndResume(point, 'before');
  });
}

test('service-add killed after guifi.net stored the service, or before asking: declared once', async () => {
  for (const when of ['after-change', 'before'] as const) {
    const n = freshNode(`svc-${when}`);
    const base = ['-data-dir', n.dir, '-password-file', pwFile];
    assert.is((await cli(['register', '-node-id', String(n.nodeId), '-mac', n.mac, '-user', USER, ...base])).code, 0);
    let child: ChildProcess | null = null;
    let fired = false;
    if (when === 'after-change') w.server.afterChange = async (c) => { if (c === 'guifi.service.add' && !fired) { fired = true; await killNow(child!); } };
    else w.server.beforeRequest = async (c) => { if (c === 'guifi.service.add' && !fired) { fired = true; await killNow(child!); return 'drop'; } };
    const cut = await cli(['service-add', '-type', 'DNS', ...base], (c) => { child = c; });
    w.server.afterChange = null;
    w.server.beforeRequest = null;
    assert.is(cut.signal, 'SIGKILL');
    const again = await cli(['service-add', '-type', 'DNS', ...base]);
    assert.is(again.code, 0, again.stderr);
    assert.match(again.stdout, when === 'after-change' ? /already declared/ : /declared/);
    const once = await cli(['service-add', '-type', 'DNS', ...base]);
    assert.match(once.stdout, /already declared/);
    checkOneOfEach(n.nodeId, n.dir, ['DNS']);
  }
});

test.run();
