// Issue 13 points 7 and 8 with real LXC on a private bridge (fdbr1, 10.225.1.0/24):
//  8. IPAM skips addresses the agent did not hand out: a container made by hand
//     with plain lxc-create holding 10.225.1.2 in its config, a running
//     container given 10.225.1.3 by hand, a host on the bridge at 10.225.1.4.
//  7. `-t busybox` resolving to LXC's stock template (whose rcS runs udhcpc,
//     no DHCP server on the bridge) keeps the agent's address and its service
//     is announced; a container whose address is changed by hand is reported
//     in lxc list / lxc info and as an event + log line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBridge, deleteLink, exec, removeDir, sh, startTestAgent, TEMPLATES, type TestAgent } from './helpers.ts';
import { PortForwarder } from '../../agent/containers/port-forward.ts';
import { Logger } from '../../agent/obs/log.ts';
import { waitFor, sleep } from '../support/wait.ts';

const BR = 'fdbr1';
const NET = { bridge: BR, cidr: '10.225.1.0/24', gateway: '10.225.1.1' };
const PREFIX = 'fdaddr';
const NS = 'fdn1';
const NS2 = 'fdn2';
const TABLE = 'fd_agent';
let agent: TestAgent | undefined;
let stockAgent: TestAgent | undefined;
let tmp = '';

type Wire = Record<string, unknown>;
const call = (a: TestAgent, cmd: string, body?: Record<string, unknown>): Promise<Wire> => a.rpc.call(cmd, body as never, 'on-success') as Promise<Wire>;

async function cleanup(): Promise<void> {
  const names = (await sh('lxc-ls', ['-1'], true)).split(/\s+/).filter((n) => n.startsWith(PREFIX));
  for (const n of names) await sh('lxc-destroy', ['-f', '-n', n], true);
  await sh('ip', ['netns', 'del', NS], true);
  await sh('ip', ['link', 'del', 'fdv1'], true);
  await sh('ip', ['netns', 'del', NS2], true);
  await sh('ip', ['link', 'del', 'fdv2'], true);
  await new PortForwarder({ exec, logger: Logger.silent(), table: TABLE, enableForwarding: async () => {} }).clear().catch(() => {});
}

/** IPv4 addresses on the container's eth0, read inside it. */
async function addrsIn(name: string): Promise<string[]> {
  const out = await sh('lxc-attach', ['-n', name, '--', '/bin/ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], true);
  return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!);
}

test.before(async () => {
  await cleanup();
  await createBridge(BR, '10.225.1.1/24');
  tmp = await mkdtemp(join(tmpdir(), 'fd-addr-'));
});

test.after(async () => {
  for (const a of [agent, stockAgent]) { try { await a?.stop(); } catch { /* best effort */ } }
  await cleanup();
  await deleteLink(BR);
  for (const a of [agent, stockAgent]) if (a) await removeDir(a.stateDir);
  if (tmp) await removeDir(tmp);
});

/** A host on the bridge: network namespace `ns` holding `addr` on the peer of veth `veth` (enslaved to BR). */
async function hostOnBridge(ns: string, veth: string, addr: string): Promise<void> {
  await sh('ip', ['netns', 'add', ns]);
  await sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
  await sh('ip', ['link', 'set', `${veth}p`, 'netns', ns]);
  await sh('ip', ['link', 'set', veth, 'master', BR, 'up']);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', addr, 'dev', `${veth}p`]);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', `${veth}p`, 'up']);
}

test('point 8: addresses held by a hand-made container, a running container and a host on the bridge are not handed out again', async () => {
  // 1. plain lxc-create, static address in its config, never started.
  const cfg = join(tmp, 'hand.conf');
  await writeFile(cfg, `lxc.net.0.type = veth\nlxc.net.0.link = ${BR}\nlxc.net.0.flags = up\nlxc.net.0.ipv4.address = 10.225.1.2/24\n`);
  await sh('lxc-create', ['-n', `${PREFIX}-hand`, '-t', join(TEMPLATES, 'cloudy-busybox'), '-f', cfg]);
  // 2. running, no address in its config, given one by hand.
  const cfg2 = join(tmp, 'hand2.conf');
  await writeFile(cfg2, `lxc.net.0.type = veth\nlxc.net.0.link = ${BR}\nlxc.net.0.flags = up\n`);
  await sh('lxc-create', ['-n', `${PREFIX}-hand2`, '-t', join(TEMPLATES, 'cloudy-busybox'), '-f', cfg2]);
  await sh('lxc-start', ['-n', `${PREFIX}-hand2`]);
  await sh('lxc-wait', ['-n', `${PREFIX}-hand2`, '-s', 'RUNNING', '-t', '30']);
  await sh('lxc-attach', ['-n', `${PREFIX}-hand2`, '--', '/bin/ip', 'addr', 'add', '10.225.1.3/24', 'dev', 'eth0']);
  // 3. a host on the bridge (another agent's container in another LXC path looks like this).
  await hostOnBridge(NS, 'fdv1', '10.225.1.4/24');
  await waitFor('10.225.1.4 in the bridge\'s neighbour table', async () => {
    await sh('ip', ['netns', 'exec', NS, 'busybox', 'ping', '-c', '1', '-W', '2', '10.225.1.1'], true);
    return (await readFile('/proc/net/arp', 'utf8')).split('\n').some((l) => l.startsWith('10.225.1.4 ') && l.includes(BR) && !/0x0\s/.test(l));
  }, 60_000, 500);
  // 4. a silent host at .5 (never sent a packet): found by ARP when the agent asks.
  await hostOnBridge(NS2, 'fdv2', '10.225.1.5/24');
  assert.not.ok((await readFile('/proc/net/arp', 'utf8')).split('\n').some((l) => l.startsWith('10.225.1.5 ') && !/0x0\s/.test(l)), 'silent so far');

  agent = await startTestAgent({ network: NET, communityIp: '10.225.1.1', firewallTable: TABLE });
  const created = await call(agent, 'lxc-create', { Name: `${PREFIX}-a1`, Template: 'busybox', HostPort: 18181 });
  assert.is(created.IPv4, '10.225.1.6', 'not .2 (config), .3 (running), .4 (neighbour), .5 (silent host, ARP)');
  const cfgText = await readFile(`/var/lib/lxc/${PREFIX}-a1/config`, 'utf8').catch(async () => readFile(join((await sh('lxc-config', ['lxc.lxcpath'])).trim(), `${PREFIX}-a1`, 'config'), 'utf8'));
  assert.match(cfgText, /lxc\.net\.0\.ipv4\.address = 10\.225\.1\.6\/24/);
  await sh('lxc-stop', ['-k', '-n', `${PREFIX}-hand2`], true);
});

test('point 7: -t busybox as LXC\'s stock template (udhcpc in its init) keeps the agent\'s address; the service is announced', async () => {
  // No cloudy template dirs: `busybox` resolves to /usr/share/lxc/templates/lxc-busybox, as on the host.
  stockAgent = await startTestAgent({ network: NET, communityIp: '10.225.1.1', firewallTable: TABLE, templateDirs: [] });
  const name = `${PREFIX}-stock`;
  const created = await call(stockAgent, 'lxc-create', { Name: name, Template: 'busybox', ServiceType: 'web', ServicePort: 80, HostPort: 18182, Start: true });
  const ip = String(created.IPv4);
  assert.match(ip, /^10\.225\.1\.\d+$/);
  const lxcpath = (await sh('lxc-config', ['lxc.lxcpath'])).trim();
  assert.match(await readFile(join(lxcpath, name, 'rootfs/etc/init.d/rcS'), 'utf8'), /^# \/bin\/udhcpc/m, 'udhcpc turned off');
  // udhcpc would have run (and flushed eth0) within a few seconds of init.
  await sleep(5_000);
  assert.equal(await addrsIn(name), [ip]);
  await sh('lxc-attach', ['-n', name, '--', '/bin/busybox', 'httpd', '-p', '80', '-h', '/etc']);
  await waitFor('service announced', () => stockAgent!.announced().some((r) => r.s === 'web' && r.p === '18182'), 60_000, 300);
  const list = (await call(stockAgent, 'lxc-list')).Containers as Wire[];
  assert.is(list.find((c) => c.Name === name)?.AddressError, '');
});

test('point 7: a running container whose address is changed by hand is reported in lxc list, lxc info and the log', async () => {
  const a = stockAgent!;
  const name = `${PREFIX}-stock`;
  const ip = String(((await call(a, 'lxc-list')).Containers as Wire[]).find((c) => c.Name === name)!.IPv4);
  await sh('lxc-attach', ['-n', name, '--', '/bin/ip', 'addr', 'flush', 'dev', 'eth0']);
  await sh('lxc-attach', ['-n', name, '--', '/bin/ip', 'addr', 'add', '10.225.1.77/24', 'dev', 'eth0']);
  const row = await waitFor('lxc list reports it', async () => ((await call(a, 'lxc-list')).Containers as Wire[]).find((c) => c.Name === name && String(c.AddressError) !== ''), 30_000, 300);
  assert.match(String(row.AddressError), new RegExp(`${ip.replace(/\./g, '\\.')} missing: the container has 10\\.225\\.1\\.77 instead`));
  const info = await call(a, 'lxc-info', { Name: name });
  assert.match(String(info.AddressError), /10\.225\.1\.77/);
  await waitFor('address-mismatch event', () => a.events.some((e) => e.name === name && e.kind === 'address-mismatch'), 30_000, 300);
  assert.ok(a.counters.get('containers.address_mismatch') >= 1);
  // Given back: the error clears.
  await sh('lxc-attach', ['-n', name, '--', '/bin/ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await waitFor('error cleared', async () => ((await call(a, 'lxc-list')).Containers as Wire[]).find((c) => c.Name === name)?.AddressError === '', 30_000, 300);
});

test.run();
