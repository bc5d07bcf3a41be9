// `-discover NAME` against the real Debian serf 0.9.4 (`serf agent -discover`),
// both directions, on a bridge inside network namespaces this test creates:
// - serf finds ours: our agent (polling only every 10 min) runs first; a serf agent
//   started later finds it with its first mDNS poll and joins it (serf logs the join);
// - ours finds serf: a serf agent runs first; our agent started later finds it with
//   its first poll and joins it (our log says so, serf sees our node alive).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan, sh, waitFor } from './lan.ts';

const lan = new Lan('md', 1);
const dir = mkdtempSync(join(tmpdir(), 'img-mdns-'));
const SERF_IP = '10.223.1.2';
const OURS_IP = '10.223.1.3';
let serfNs = '';
let oursNs = '';

function serfMembers(): { name: string; addr: string; status: string }[] {
  const out = sh(`ip netns exec ${serfNs} serf members -rpc-addr=127.0.0.1:7373 -format=json`, true);
  try { return (JSON.parse(out) as { members: { name: string; addr: string; status: string }[] }).members; } catch { return []; }
}

function startOurs(discover: string, log: string, extra: string[] = []) {
  return lan.spawnIn(oursNs, [process.execPath, '--import', 'tsx', 'agent/main.ts', 'agent', '-node=ours-img', `-bind=${OURS_IP}:5000`,
    '-rpc-addr=127.0.0.1:7373', `-discover=${discover}`, '-containers=false', '-log-level=debug', ...extra], log);
}

function startSerf(discover: string, log: string) {
  return lan.spawnIn(serfNs, ['serf', 'agent', '-node=serf-img', `-bind=${SERF_IP}:5000`, '-rpc-addr=127.0.0.1:7373',
    `-discover=${discover}`, '-log-level=debug'], log);
}

test.before(() => {
  lan.up();
  serfNs = lan.host('s', 2);
  oursNs = lan.host('o', 3);
});

test.after(async () => {
  await lan.stopAll();
  lan.down();
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); else console.log(dir);
});

test.after.each(async () => { await lan.stopAll(); });

test('serf agent -discover finds our agent and joins it', async () => {
  const oursLog = join(dir, 'ours1.log');
  const serfLog = join(dir, 'serf1.log');
  startOurs('imgone', oursLog, ['-limit', 'mdnsPollIntervalMs=600000']);
  await waitFor(() => /discovering peers by mDNS as _serf_imgone._tcp/.test(Lan.readLog(oursLog)) && /Serf agent running/.test(Lan.readLog(oursLog)),
    'our agent up', 60_000);
  // Our first poll (at start) found nobody; the next one is 10 minutes away.
  await waitFor(() => /mdns/.test(Lan.readLog(oursLog)), 'our first poll', 10_000);
  startSerf('imgone', serfLog);
  const ours = await waitFor(() => serfMembers().find((m) => m.name === 'ours-img' && m.status === 'alive'), 'serf sees our node', 60_000);
  assert.is(ours.addr, `${OURS_IP}:5000`);
  // serf also finds itself (its own responder answers its poll), so it joins "2 hosts".
  assert.match(Lan.readLog(serfLog), new RegExp(`agent: joining: \\[[^\\]]*${OURS_IP.replace(/\./g, '\\.')}:5000`), 'serf\'s own mDNS join');
  assert.match(Lan.readLog(serfLog), /agent\.mdns: Joined \d+ hosts/);
  assert.not.match(Lan.readLog(oursLog), /found by mDNS/, 'our agent did not initiate the join');
});

test('our agent -discover finds a serf agent and joins it', async () => {
  const oursLog = join(dir, 'ours2.log');
  const serfLog = join(dir, 'serf2.log');
  startSerf('imgtwo', serfLog);
  await waitFor(() => sh(`ip netns exec ${serfNs} serf members -rpc-addr=127.0.0.1:7373`, true).includes('serf-img'), 'serf up', 30_000);
  // serf's first poll found nobody; its next is 60 s away, so a join within that window is ours.
  const t0 = Date.now();
  startOurs('imgtwo', oursLog);
  await waitFor(() => serfMembers().find((m) => m.name === 'ours-img' && m.status === 'alive'), 'serf sees our node', 50_000);
  assert.ok(Date.now() - t0 < 58_000, 'joined before serf polled again');
  assert.match(Lan.readLog(oursLog), new RegExp(`joined 1 host\\(s\\) found by mDNS: ${SERF_IP.replace(/\./g, '\\.')}:5000`));
  // serf's own first poll found only itself.
  assert.not.match(Lan.readLog(serfLog), new RegExp(`agent: joining: \\[[^\\]]*${OURS_IP.replace(/\./g, '\\.')}`), 'serf did not initiate the join');
});

test.run();
