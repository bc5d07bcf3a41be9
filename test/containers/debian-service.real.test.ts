// A Debian-based Cloudy service template (Squid, Cloudy type proxy3) built with
// debootstrap from this host's mirror and the rootfs cache under
// /var/cache/cloudy-agent (the first run on a fresh machine builds the cache;
// later runs copy it). The proxy must answer through the port forward on the
// host's community address, and the service must be announced.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir } from 'node:fs/promises';
import { createBridge, deleteLink, destroyContainers, exec, removeDir, startTestAgent, type TestAgent } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const BR = 'catbr4';
const NET = { bridge: BR, cidr: '10.213.4.0/24', gateway: '10.213.4.1' };
const COMMUNITY_IP = '10.213.4.1';
const NAME = 'cattest-squid1';
let agent: TestAgent;

test.before(async () => {
  await destroyContainers('cattest-squid');
  await createBridge(BR, '10.213.4.1/24');
  agent = await startTestAgent({ network: NET, communityIp: COMMUNITY_IP, intervalMs: 1000 });
});

test.after(async () => {
  try { await agent?.stop(); } catch { /* best effort */ }
  await destroyContainers('cattest-squid');
  await deleteLink(BR);
  if (agent) await removeDir(agent.stateDir);
});

test('squid template: create + start, proxy answers on the community address, proxy3 announced', async () => {
  const cached = (await readdir('/var/cache/cloudy-agent/rootfs').catch(() => [] as string[])).some((d) => d.startsWith('base-'));
  const t0 = Date.now();
  const created = (await agent.rpc.call('lxc-create', { Name: NAME, Template: 'squid', Memory: '256M', HostPort: 13128 } as never, 'on-success')) as Record<string, unknown>;
  const tCreate = Date.now() - t0;
  const svc = created.Service as Record<string, unknown>;
  assert.is(svc.Type, 'proxy3');
  assert.is(svc.Port, 3128);
  assert.is(svc.Txt, 'Federated=Yes');
  await agent.rpc.call('lxc-start', { Name: NAME } as never, 'on-success');
  const tStart = Date.now() - t0;
  const rec = await waitFor('proxy3 announced', () => agent.announced().find((r) => r.s === 'proxy3'), 60_000, 500);
  const tService = Date.now() - t0;
  assert.is(rec.p, '13128');
  assert.is(rec.i, COMMUNITY_IP);
  // A proxied request to a closed port: squid itself answers (error page, Server: squid).
  const r = await exec.run('curl', ['-s', '-i', '-m', '10', '-x', `http://${COMMUNITY_IP}:13128`, `http://${NET.gateway}:9/`], { timeoutMs: 20_000 });
  assert.match(r.stdout, /^HTTP\/1\.1 \d{3}/);
  assert.match(r.stdout, /Server: squid/i);
  console.log(`squid (Debian) container: create ${tCreate} ms (${cached ? 'rootfs cache present' : 'cold: debootstrap + apt, cache built now'}), create+start ${tStart} ms, service announced after ${tService} ms`);
  const stopT = Date.now();
  await agent.rpc.call('lxc-stop', { Name: NAME } as never, 'on-success');
  console.log(`squid stop: ${Date.now() - stopT} ms`);
  assert.is(agent.announced().some((x) => x.s === 'proxy3'), false);
});

test.run();
