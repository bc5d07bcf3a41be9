// The Debian packages in a fresh Debian 12 system container (systemd as init)
// on a bridge this test creates, beside a real serf agent (Debian's serf 0.9.4)
// on the host's side of the bridge:
//   - cloudy-agent (amd64, the single executable), installed with the
//     installer script: runs under systemd and joins serf; upgraded from the
//     previous build: same node name, same published service; removed: serf
//     sees it "left", state kept; purged: state and conffiles gone;
//   - cloudy-agent-js (all) the same way on Debian's nodejs 18, started by its
//     launcher with the edge V8 flags, with the interop that matters against
//     serf (join, tags, events both ways, queries both ways, services);
//   - lintian over both packages (run meanwhile), no error or warning left.
// Needs dist/cloudy-agent and dist/cloudy-agent.cjs (make binary).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { DebianContainer, REPO, createBridge, debianRoot, deleteLink, run } from './debian-container.ts';
import { SerfAgent } from '../support/real-serf.ts';
import { freePort } from '../support/net.ts';
import { decodeServicesTag } from '../../agent/discovery/codec.ts';

const BRIDGE = 'pkbr1';
const HOST_IP = '10.224.1.1';
const CT_IP = '10.224.1.2';
const V1 = '0.1.0+pk1';
const V2 = '0.1.0+pk2';

let share = '';
let ct: DebianContainer | null = null;
let serf: SerfAgent | null = null;
let lintian: Promise<{ code: number | null; out: string }[]> | null = null;

async function until<T>(what: string, probe: () => Promise<T | undefined | false | null | ''>, timeoutMs = 60_000, stepMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (let i = 0; ; i++) {
    try { const v = await probe(); if (v) return v; last = v; } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

function buildDeb(flavour: 'bin' | 'js', version: string, outDir: string): Promise<unknown> {
  // Uncompressed: the test does not need xz's minutes; make deb builds xz.
  return run('sh', ['-c', `VERSION='${version}' DEB_COMPRESS=none packaging/deb/build.sh ${flavour} '${outDir}'`], 300_000);
}

async function sh(cmd: string, timeoutMs = 120_000): Promise<string> {
  return (await ct!.sh(cmd, timeoutMs)).stdout;
}

/** The member of serf's view at the container's address. */
async function agentMember() {
  return (await serf!.members()).find((m) => m.addr === CT_IP || m.addr.startsWith(`${CT_IP}:`));
}

function services(tags: Record<string, string>): { s: string; p: string; d: string }[] {
  return tags.services ? (decodeServicesTag(tags.services, 1 << 20) as unknown as { s: string; p: string; d: string }[]) : [];
}

async function mainPid(): Promise<number> {
  return Number((await sh('systemctl show -p MainPID --value cloudy-agent')).trim());
}

/** Installs/upgrades, then waits until serf sees the agent alive with a new MainPID. */
async function waitRunning(previousPid = 0): Promise<{ pid: number; name: string }> {
  const pid = await until('cloudy-agent.service active', async () => {
    const r = await ct!.sh('systemctl is-active cloudy-agent', 15_000, true);
    const p = await mainPid();
    return r.stdout.trim() === 'active' && p > 0 && p !== previousPid ? p : 0;
  }, 60_000);
  const m = await until('serf sees the agent alive', async () => {
    const x = await agentMember();
    return x && x.status === 'alive' ? x : undefined;
  }, 90_000);
  return { pid, name: m.name };
}

test.before(async () => {
  for (const f of ['dist/cloudy-agent', 'dist/cloudy-agent.cjs']) assert.ok(existsSync(join(REPO, f)), `${f} missing: run make binary`);
  share = mkdtempSync('/tmp/pk-debs-');
  for (const v of [V1, V2]) {
    mkdirSync(join(share, v));
    await Promise.all([buildDeb('bin', v, join(share, v)), buildDeb('js', v, join(share, v))]);
  }
  copyFileSync(join(REPO, 'packaging/deb/install-cloudy-agent.sh'), join(share, 'install-cloudy-agent.sh'));
  // lintian takes a minute over the 120 MB executable: it runs while the container works.
  lintian = Promise.all([`cloudy-agent_${V1}_amd64.deb`, `cloudy-agent-js_${V1}_all.deb`].map(async (f) => {
    // The test's packages are uncompressed to save minutes; make deb's are xz.
    const r = await run('lintian', ['--fail-on', 'error,warning', '--suppress-tags', 'uses-no-compression-for-control-tarball,uses-no-compression-for-data-tarball', join(share, V1, f)], 600_000, true);
    return { code: r.exitCode, out: `${r.stdout}${r.stderr}` };
  }));
  lintian.catch(() => {});
  const root = await debianRoot();
  await createBridge(BRIDGE, `${HOST_IP}/24`);
  serf = new SerfAgent({ name: 'pkserf', ip: HOST_IP, port: await freePort(HOST_IP), rpcPort: await freePort(HOST_IP) });
  serf.start();
  await serf.waitReady();
  ct = new DebianContainer({ name: 'pkdeb', bridge: BRIDGE, cidr: `${CT_IP}/24`, gateway: HOST_IP, share }, root);
  await ct.start();
  // Where to join: a config file of the administrator's (not the package's).
  await sh(`mkdir -p /etc/cloudy-agent && printf '{"retry_join": ["${HOST_IP}:${serf.port}"]}\\n' > /etc/cloudy-agent/join.json`);
});

test.after(async () => {
  try { await ct?.destroy(); } catch { /* best effort */ }
  try { await serf?.stop(); } catch { /* best effort */ }
  serf?.cleanup();
  await deleteLink(BRIDGE);
  if (share) rmSync(share, { recursive: true, force: true });
});

test('amd64 .deb: installed by the installer, runs under systemd and joins serf; upgrade keeps name and service; remove leaves; purge clears state', async () => {
  const out = await sh(`sh /mnt/pk/install-cloudy-agent.sh /mnt/pk/${V1} --no-update 2>&1`, 300_000);
  assert.match(out, /package cloudy-agent\b/);
  assert.is((await sh("dpkg-query -W -f='${Package} ${Version} ${Status}' cloudy-agent")).trim(), `cloudy-agent ${V1} install ok installed`);
  assert.is((await sh('systemctl is-enabled cloudy-agent')).trim(), 'enabled');
  const first = await waitRunning();
  assert.is((await sh(`readlink /proc/${first.pid}/exe`)).trim(), '/usr/bin/cloudy-agent');
  assert.is((await sh('stat -c %a /var/lib/cloudy-agent')).trim(), '750');
  // The unit's watchdog (WatchdogSec=90): systemd's watchdog timestamp moves past the start only when a
  // WATCHDOG=1 from the agent arrives (its first ping is due a third of WatchdogSec after start).
  await until('systemd received a watchdog ping from the agent', async () => {
    const v = (await sh('systemctl show -p WatchdogTimestampMonotonic -p ExecMainStartTimestampMonotonic --value cloudy-agent')).trim().split('\n').map(Number);
    return v.length === 2 && v[0]! - v[1]! > 20e6;
  }, 120_000);

  await sh('cloudy-agent publish "pk web" web 8080');
  await until('serf sees the published service', async () => services((await agentMember())?.tags ?? {}).find((s) => s.s === 'web' && s.p === '8080'));

  await sh(`dpkg -i /mnt/pk/${V2}/cloudy-agent_${V2}_amd64.deb`, 300_000);
  assert.is((await sh("dpkg-query -W -f='${Version}' cloudy-agent")).trim(), V2);
  const second = await waitRunning(first.pid);
  assert.is(second.name, first.name, 'same node name after the upgrade');
  const svc = await until('the service is still published after the upgrade', async () =>
    services((await agentMember())?.tags ?? {}).find((s) => s.s === 'web' && s.p === '8080'));
  assert.is(svc.d, 'pk_web'); // Cloudy's record: spaces as underscores

  await sh('apt-get remove -y -q cloudy-agent', 120_000);
  await until('serf sees the agent left', async () => (await serf!.statusOf(first.name)) === 'left', 60_000);
  assert.is((await ct!.sh('systemctl is-active cloudy-agent', 15_000, true)).stdout.trim(), 'inactive');
  assert.ok((await sh('ls /var/lib/cloudy-agent')).trim() !== '', 'remove keeps the state');
  assert.ok((await sh('test -f /etc/cloudy-agent/agent.json && echo yes')).includes('yes'), 'remove keeps the conffiles');

  await sh('dpkg --purge cloudy-agent', 120_000);
  assert.is((await sh('test -e /var/lib/cloudy-agent && echo kept || echo gone')).trim(), 'gone');
  assert.is((await sh('test -e /etc/cloudy-agent/agent.json || test -e /etc/default/cloudy-agent && echo kept || echo gone')).trim(), 'gone');
  assert.is((await sh("dpkg-query -W -f='${Status}' cloudy-agent 2>/dev/null || true")).trim().endsWith('installed'), false);
});

test('all .deb on Debian nodejs 18 (installed from a URL): launcher flags, join, tags, events, queries, services against serf; upgrade, remove, purge', async () => {
  // The installer fetches from a base URL + version (a web server on the host's side of the bridge).
  const web = createHttpServer((req, res) => {
    const file = join(share, decodeURIComponent((req.url ?? '/').split('?')[0]!));
    if (!file.startsWith(share) || !existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => web.listen(0, HOST_IP, r));
  const base = `http://${HOST_IP}:${(web.address() as { port: number }).port}`;
  try {
    const out = await sh(`sh /mnt/pk/install-cloudy-agent.sh --js ${base}/${V1}/ --version ${V1} --no-update 2>&1`, 300_000);
    assert.match(out, /installed cloudy-agent-js 0\.1\.0\+pk1/);
  } finally {
    web.close();
  }
  assert.match(await sh('node --version'), /^v18\./);
  const first = await waitRunning();
  assert.match((await sh(`readlink /proc/${first.pid}/exe`)).trim(), /\/node(js)?$/);
  // The launcher started node with the edge-mode heap flags and malloc settings.
  const env = (await sh(`tr '\\0' '\\n' < /proc/${first.pid}/environ`)).split('\n');
  assert.ok(env.includes('CLOUDY_AGENT_V8=1'), env.join(' '));
  assert.ok(env.some((e) => e.startsWith('NODE_OPTIONS=') && e.includes('--max-semi-space-size=1')), env.join(' '));
  assert.ok(env.includes('MALLOC_ARENA_MAX=2'));
  const info = JSON.parse(await sh('cloudy-agent info -format json')) as { runtime: { v8_flags: string } };
  assert.match(info.runtime.v8_flags, /--max-semi-space-size=1.*--no-opt/, info.runtime.v8_flags);
  assert.not.match(await sh('journalctl -u cloudy-agent --no-pager -q'), /unrecognized flag/);

  // Tags.
  await sh('cloudy-agent tags -set pk=js');
  await until('serf sees the tag', async () => (await agentMember())?.tags.pk === 'js');
  // Events: serf -> agent, agent -> serf.
  assert.is((await serf!.cli(['event', 'pkev', 'hello'])).code, 0);
  await until('the agent received serf\'s event', async () => /Received event: user-event: pkev\b/.test(await sh('journalctl -u cloudy-agent --no-pager -q')));
  await sh('cloudy-agent event pkev2 hi');
  await until('serf received the agent\'s event', async () => serf!.events().some((e) => e.startsWith('user|pkev2||hi')));
  // Queries: serf -> agent (ack), agent -> serf (response of serf's handler).
  // A query is sent once over UDP; on this loaded machine one may go unanswered in time, so up to 3 are sent.
  await until('serf\'s query acknowledged by the agent', async () => {
    const q = await serf!.cli(['query', '-format=json', '-timeout=8s', 'pkq', 'x'], 30_000);
    return (JSON.parse(q.out) as { Acks: string[] | null }).Acks?.includes(first.name);
  }, 90_000, 100);
  await until('the agent\'s query answered by serf\'s handler', async () => {
    const q = JSON.parse(await sh('cloudy-agent query -format json -timeout 8s pkq2 y', 30_000)) as { Responses: Record<string, string> | null };
    return q.Responses?.pkserf === 'resp:pkserf:y';
  }, 90_000, 100);
  // Services.
  await sh('cloudy-agent publish "pk js" web 8081');
  await until('serf sees the published service', async () => services((await agentMember())?.tags ?? {}).find((s) => s.p === '8081'));

  await sh(`dpkg -i /mnt/pk/${V2}/cloudy-agent-js_${V2}_all.deb`, 300_000);
  const second = await waitRunning(first.pid);
  assert.is(second.name, first.name, 'same node name after the upgrade');
  await until('the service is still published after the upgrade', async () => services((await agentMember())?.tags ?? {}).find((s) => s.p === '8081' && s.d === 'pk_js'));

  await sh('apt-get remove -y -q cloudy-agent-js', 120_000);
  await until('serf sees the agent left', async () => (await serf!.statusOf(first.name)) === 'left', 60_000);
  await sh('dpkg --purge cloudy-agent-js', 120_000);
  assert.is((await sh('test -e /var/lib/cloudy-agent && echo kept || echo gone')).trim(), 'gone');
});

test('lintian: no error or warning on either package (overrides carry their reasons)', async () => {
  const results = await lintian!;
  for (const r of results) assert.is(r.code, 0, r.out);
});

test.run();
