// The single executable (tools/build-sea.mjs, issue 17) with the plug-ins'
// modules loaded when they start: by default from V8's code cache of the
// bundle, or (make binary-snapshot, CLOUDY_AGENT_BIN=dist/cloudy-agent-snapshot)
// from a V8 startup snapshot taken after module evaluation, where what was
// evaluated at build time must not leak into a run. Checked on the built
// executable (make binary; make test sets CLOUDY_AGENT_BIN):
// - it starts (from its snapshot, when it has one), and the start-up trace
//   reads its environment at run time (not the build's);
// - two agents from it are two nodes (own names, own identity, random state
//   reseeded) that join each other over gossip;
// - the plug-ins, whose modules were not evaluated in the snapshot, load and
//   start from it (info shows their sections), and a lazily loaded CLI verb runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStartupTrace } from '../../agent/obs/startup-trace.ts';
import { freePort } from '../support/net.ts';
import { waitFor } from '../support/wait.ts';

const bin = process.env.CLOUDY_AGENT_BIN ?? 'dist/cloudy-agent';
const tmp = mkdtempSync(join(tmpdir(), 'fp-sea-'));
const procs: ChildProcess[] = [];
const { NODE_OPTIONS: _drop, ...baseEnv } = process.env;
const unitEnv = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };

test.after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { ...baseEnv, ...unitEnv, ...env }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('the executable starts (from its snapshot, if built with one); the trace follows the run\'s environment', () => {
  assert.ok(existsSync(bin), `${bin} missing: run make binary`);
  const on = run(['help'], { CLOUDY_AGENT_STARTUP_TRACE: '1' });
  assert.is(on.code, 0, on.err);
  assert.match(on.out, /Usage: cloudy-agent/);
  const phases = parseStartupTrace(on.err).map((t) => t.phase);
  assert.equal(phases, ['node bootstrap done', /snapshot/.test(bin) ? 'snapshot deserialized' : 'bundle compiled', 'modules evaluated']);
  const off = run(['help'], { CLOUDY_AGENT_STARTUP_TRACE: '' });
  assert.is(off.code, 0);
  assert.equal(parseStartupTrace(off.err), []);
  assert.not.match(off.err + on.err, /rejected|snapshot.*(mismatch|invalid)/i);
});

interface Agent { name: string; bind: string; rpc: string; p: ChildProcess; log: () => string }

async function startAgent(name: string, join: string[] = []): Promise<Agent> {
  const bind = `127.0.0.1:${await freePort()}`;
  const rpc = `127.0.0.1:${await freePort()}`;
  let log = '';
  const p = spawn(bin, ['agent', '-node', name, '-bind', bind, '-rpc-addr', rpc, '-profile', 'lan', '-data-dir', `${tmp}/${name}`, ...join.flatMap((j) => ['-join', j])], { env: { ...baseEnv, ...unitEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  p.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  p.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  await waitFor(`${name} running`, () => /Cloudy agent running!/.test(log), 60_000);
  return { name, bind, rpc, p, log: () => log };
}

test('two agents from one executable are two nodes that join each other, and the plug-ins start', async () => {
  const a = await startAgent('fp-sea-a');
  const b = await startAgent('fp-sea-b', [a.bind]);
  await waitFor('both see each other', () => {
    const m = run(['members', '-rpc-addr', a.rpc]).out;
    return m.includes('fp-sea-a') && m.includes('fp-sea-b') && !/fp-sea-b\s+\S+\s+(failed|left)/.test(m);
  }, 60_000);
  // Plug-ins loaded from the snapshot's script: their sections in info (discovery, containers, api, memory-governor...).
  await waitFor('plug-ins started', () => /plug-in|discovery/.test(run(['info', '-rpc-addr', b.rpc]).out), 60_000);
  const info = run(['info', '-rpc-addr', b.rpc, '-format', 'json']);
  const sections = Object.keys(JSON.parse(info.out) as Record<string, unknown>);
  for (const s of ['discovery', 'containers', 'guifi', 'remote']) assert.ok(sections.includes(s), `${s} in ${sections.join(',')}`);
  // A lazily loaded verb (its module was not evaluated in the snapshot) runs against the agent.
  const services = run(['services', '-rpc-addr', b.rpc]);
  assert.is(services.code, 0, services.err);
  // Own keys per node: the remote plug-in's answer-signing keys differ (random at run time, not in the snapshot).
  await waitFor('node keys written', () => existsSync(`${tmp}/${a.name}/remote/node.key`) && existsSync(`${tmp}/${b.name}/remote/node.key`), 60_000);
  const keys = [a, b].map((x) => readFileSync(`${tmp}/${x.name}/remote/node.key`, 'utf8'));
  assert.is.not(keys[0], keys[1]);
  const lxc = run(['lxc', 'list', '-rpc-addr', b.rpc, '-format', 'json']);
  assert.ok(lxc.code === 0 || /unavailable|not installed|E_UNAVAILABLE/i.test(lxc.err + lxc.out), lxc.err);
});

test.run();
