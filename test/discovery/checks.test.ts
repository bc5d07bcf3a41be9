// Liveness checks against real listeners on loopback: the service is withdrawn
// from the tag after N failed runs and announced again once it passes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer as createTcpServer, type Server } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { createExec } from '../../agent/system/exec.ts';
import { ServiceAnnouncer } from '../../agent/discovery/services.ts';
import { MemoryServiceStore } from '../../agent/discovery/store.ts';
import { ServiceChecker } from '../../agent/discovery/checks.ts';
import { createProber, type Prober } from '../../agent/discovery/probes.ts';
import { decodeServicesTag, SERVICES_TAG } from '../../agent/discovery/codec.ts';
import { TagHolder } from '../support/fakes.ts';
import { waitFor } from '../support/wait.ts';

const HOST = '127.0.5.20';

function setup(prober: Prober = createProber(createExec()), concurrency = 4) {
  const serf = new TagHolder();
  const counters = new Counters();
  const announcer = new ServiceAnnouncer({
    serf, store: new MemoryServiceStore(), facts: { hostname: 'h', communityIp: '10.0.0.1', microcloud: 'guifi' },
    logger: Logger.silent(), counters, maxServices: 64,
  });
  const checker = new ServiceChecker({ announcer, prober, logger: Logger.silent(), counters, concurrency });
  const announced = (): string[] => (serf.tags[SERVICES_TAG] ? decodeServicesTag(serf.tags[SERVICES_TAG]!, 65536).map((r) => `${r.s}:${r.p}`) : []);
  return { serf, counters, announcer, checker, announced };
}

function listen(server: Server | ReturnType<typeof createHttpServer>, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve());
  });
}
function close(server: Server | ReturnType<typeof createHttpServer>): Promise<void> {
  return new Promise((resolve) => {
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close(() => resolve());
  });
}

test('tcp: listener goes away -> withdrawn after N failures -> back when it listens again', async () => {
  const port = 20511;
  const { announcer, checker, announced, counters } = setup();
  let srv = createTcpServer((s) => s.destroy());
  await listen(srv, port);
  try {
    await announcer.publish({ type: 'serf', description: 'self', port: 5000 });
    await announcer.publish({
      type: 'syncthing', description: 'sync', port,
      check: { probe: { kind: 'tcp', host: HOST }, intervalMs: 150, timeoutMs: 1000, failuresToWithdraw: 3 },
    });
    checker.start();
    await waitFor('first passing run', () => checker.status()[0]?.lastRunAt > 0);
    assert.equal(announced(), ['serf:5000', `syncthing:${port}`]);
    await close(srv);
    await waitFor('withdrawal', () => !announced().includes(`syncthing:${port}`));
    assert.ok(counters.get('discovery.check_failed') >= 3, `failures counted: ${counters.get('discovery.check_failed')}`);
    assert.is(checker.status()[0]!.failures >= 3, true);
    assert.equal(announced(), ['serf:5000']);
    assert.ok(announcer.list().find((e) => e.service.type === 'syncthing')!.withdrawn);
    srv = createTcpServer((s) => s.destroy());
    await listen(srv, port);
    await waitFor('re-announcement', () => announced().includes(`syncthing:${port}`));
    assert.is(counters.get('discovery.check_restored'), 1);
  } finally {
    await checker.stop();
    await close(srv);
  }
});

test('http: 2xx/3xx pass, 5xx and a dead server fail', async () => {
  const port = 20512;
  let status = 200;
  const srv = createHttpServer((req, res) => { res.statusCode = status; res.end('x'); });
  await listen(srv, port);
  const { announcer, checker, announced } = setup();
  try {
    await announcer.publish({
      type: 'ipfs', description: 'gw', port,
      check: { probe: { kind: 'http', url: `http://${HOST}:${port}/health` }, intervalMs: 150, timeoutMs: 1000, failuresToWithdraw: 2 },
    });
    checker.start();
    await waitFor('first run', () => checker.status()[0]?.lastRunAt > 0);
    status = 302;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(announced(), [`ipfs:${port}`], '302 still counts as up');
    status = 503;
    await waitFor('withdrawal on 503', () => announced().length === 0);
    assert.match(checker.status()[0]!.lastResult, /503/);
    status = 204;
    await waitFor('back on 204', () => announced().length === 1);
    await close(srv);
    await waitFor('withdrawal when the server is gone', () => announced().length === 0);
  } finally {
    await checker.stop();
    await close(srv);
  }
});

test('exec: command through agent/system/exec.ts, exit status decides', async () => {
  const { announcer, checker, announced } = setup();
  try {
    await announcer.publish({
      type: 'x', description: 'y', port: 1,
      check: { probe: { kind: 'exec', command: ['/bin/false'] }, intervalMs: 100, failuresToWithdraw: 2 },
    });
    checker.start();
    await waitFor('withdrawal', () => announced().length === 0);
    await announcer.publish({
      type: 'x', description: 'y', port: 1,
      check: { probe: { kind: 'exec', command: ['/bin/true'] }, intervalMs: 100, failuresToWithdraw: 2 },
    });
    await waitFor('announced', () => announced().length === 1);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(announced(), ['x:1']);
  } finally {
    await checker.stop();
  }
});

test('bounded concurrency: never more than the limit of probes at once', async () => {
  let active = 0;
  let peak = 0;
  let runs = 0;
  const slow: Prober = {
    async run() {
      active++; runs++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 60));
      active--;
      return { ok: true, detail: 'ok' };
    },
  };
  const { announcer, checker } = setup(slow, 2);
  try {
    for (let i = 0; i < 6; i++) {
      await announcer.publish({ type: 't', description: 'd', port: 100 + i, check: { probe: { kind: 'tcp' }, intervalMs: 50 } });
    }
    checker.start();
    await waitFor('many runs', () => runs >= 24);
    assert.ok(peak <= 2, `peak ${peak}`);
    assert.is(peak, 2);
  } finally {
    await checker.stop();
  }
});

test.run();
