// The other Debian-based Cloudy service templates (Syncthing, DNS, SNMP): each
// is built (rootfs cache), started, its service answers through the port
// forward on the community address, and it is announced with its Cloudy type.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { Socket } from 'node:net';
import { createBridge, deleteLink, destroyContainers, removeDir, startTestAgent, type TestAgent } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const BR = 'catbr7';
const NET = { bridge: BR, cidr: '10.213.7.0/24', gateway: '10.213.7.1' };
const IP = '10.213.7.1';
let agent: TestAgent;

test.before(async () => {
  await destroyContainers('cattest-tpl');
  await createBridge(BR, '10.213.7.1/24');
  agent = await startTestAgent({ network: NET, communityIp: IP, intervalMs: 1000 });
});

test.after(async () => {
  try { await agent?.stop(); } catch { /* best effort */ }
  await destroyContainers('cattest-tpl');
  await deleteLink(BR);
  if (agent) await removeDir(agent.stateDir);
});

async function createStarted(name: string, template: string, hostPort: number): Promise<Record<string, unknown>> {
  const t0 = Date.now();
  const v = (await agent.rpc.call('lxc-create', { Name: name, Template: template, HostPort: hostPort, Start: true } as never, 'on-success')) as Record<string, unknown>;
  console.log(`${template}: create+start ${Date.now() - t0} ms`);
  return v;
}

function tcpBanner(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 3000);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(t); resolve(false); });
    s.connect(port, host);
  });
}

test('syncthing: announced as syncthing, sync port answers on the community address', async () => {
  const v = await createStarted('cattest-tpl-st', 'syncthing', 22000);
  assert.is((v.Service as Record<string, unknown>).Type, 'syncthing');
  const rec = await waitFor('syncthing announced', () => agent.announced().find((r) => r.s === 'syncthing'), 60_000, 500);
  assert.is(rec.p, '22000');
  assert.is(rec.d, 'Syncthing_instance_running');
  // txt node_id=<device id> like Cloudy's syncthing.service (the codec turns '&' into spaces; none here).
  assert.match((rec as unknown as { t: string }).t, /^node_id=[A-Z0-9]{7}(-[A-Z0-9]{7}){7}$/);
  assert.ok(await tcpBanner(IP, 22000));
});

test('dns: announced as dnsservice; a query over UDP through the forward is answered', async () => {
  await createStarted('cattest-tpl-dns', 'dns', 10053);
  await waitFor('dnsservice announced', () => agent.announced().find((r) => r.s === 'dnsservice'), 60_000, 500);
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`${IP}:10053`]);
  // dnsmasq answers names from the container's /etc/hosts itself.
  const a = await waitFor('dns answer', () => r.resolve4('localhost').catch(() => null), 20_000, 500);
  assert.equal(a, ['127.0.0.1']);
});

test('snmp: announced as snpservice (exec check), answers an SNMPv1 GET of sysDescr over UDP', async () => {
  const v = await createStarted('cattest-tpl-snmp', 'snmp', 10161);
  assert.is((v.Service as Record<string, unknown>).Protocol, 'udp');
  await waitFor('snpservice announced', () => agent.announced().find((r) => r.s === 'snpservice'), 60_000, 500);
  // GetRequest, community "public", OID 1.3.6.1.2.1.1.1.0 (sysDescr.0).
  const req = Buffer.from('302602010004067075626c6963a019020101020100020100300e300c06082b060102010101000500', 'hex');
  const answer = await waitFor('snmp response', () => new Promise<Buffer | null>((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve(null); }, 2000);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m); });
    s.send(req, 10161, IP);
  }), 20_000, 100);
  assert.is(answer[0], 0x30);
  assert.match(answer.toString('latin1'), 'Linux');
});

test.run();
