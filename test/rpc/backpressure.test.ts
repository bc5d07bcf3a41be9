// Memory bounds of the RPC server: subscribers (stream + monitor) that never
// read get records dropped and counted, never unbounded buffering, and the
// agent keeps serving other clients; the client limit is enforced.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type Socket } from 'node:net';
import { RpcServer } from '../../agent/rpc/server.ts';
import { RpcClient } from '../../agent/rpc/client.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { encodeGo } from '../../agent/gossip/wire/msgpack.ts';
import { FakeSerf, member } from '../support/fakes.ts';

function frame(cmd: string, seq: number, body?: Parameters<typeof encodeGo>[0]): Buffer {
  const h = encodeGo({ Command: cmd, Seq: seq }, 'rpc');
  return Buffer.concat([h, ...(body === undefined ? [] : [encodeGo(body, 'rpc')])]);
}

async function stalledSubscriber(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  await new Promise((r) => s.once('connect', r));
  s.write(Buffer.concat([
    frame('handshake', 1, { Version: 1 }),
    frame('stream', 2, { Type: '*' }),
    frame('monitor', 3, { LogLevel: 'debug' }),
  ]));
  // Read the three replies, then stop reading forever.
  await new Promise((r) => setTimeout(r, 100));
  s.pause();
  return s;
}

test('stalled stream/monitor subscribers: records dropped and counted, memory bounded, others served', async () => {
  const limits = { ...defaultLimits(), rpcSubscriberBacklog: 64, rpcSocketBufferBytes: 256 * 1024, maxRpcClients: 40 };
  const counters = new Counters();
  const logger = Logger.root({ write: null, level: 'INFO', ringSize: 512 });
  const serf = new FakeSerf(member('n1', { port: 7946 }));
  const server = new RpcServer({ serf, logger, counters, limits, addr: '127.0.0.1:0', hooks: { shutdown: () => {} } });
  const { port } = await server.listen();
  const stalled: Socket[] = [];
  try {
    for (let i = 0; i < 20; i++) stalled.push(await stalledSubscriber(port));
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const payload = new Uint8Array(8 * 1024).fill(0x61);
    const log = logger.child('flood');
    // 20 subscribers x 3000 events x 8 KiB = 480 MB if anything buffered without bound.
    for (let i = 0; i < 3000; i++) {
      serf.emit({ type: 'user', ltime: i, name: 'flood', payload, coalesce: false });
      log.info(`line ${i} ${'x'.repeat(200)}`);
      if (i % 200 === 0) await new Promise((r) => setImmediate(r));
    }
    const dropped = counters.get('drop.rpc_stream_record');
    assert.ok(dropped > 20 * 3000, `dropped ${dropped} records`);
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    assert.ok(rssGrowth < 120 * 1024 * 1024, `rss grew by ${(rssGrowth / 1048576).toFixed(1)} MiB`);
    // A well-behaved client is still served.
    const c = await RpcClient.connect(`127.0.0.1:${port}`);
    const ms = await c.members();
    assert.is(ms[0]!.name, 'n1');
    c.close();
    console.log(`  dropped=${dropped} rssGrowth=${(rssGrowth / 1048576).toFixed(1)}MiB`);
  } finally {
    for (const s of stalled) s.destroy();
    await server.close();
  }
});

test('client limit: extra connections are closed and counted', async () => {
  const limits = { ...defaultLimits(), maxRpcClients: 3 };
  const counters = new Counters();
  const serf = new FakeSerf(member('n1', { port: 7946 }));
  const server = new RpcServer({ serf, logger: Logger.silent(), counters, limits, addr: '127.0.0.1:0' });
  const { port } = await server.listen();
  const clients: RpcClient[] = [];
  try {
    for (let i = 0; i < 3; i++) clients.push(await RpcClient.connect(`127.0.0.1:${port}`));
    let failed = false;
    try { await RpcClient.connect(`127.0.0.1:${port}`, { timeoutMs: 3000 }); } catch { failed = true; }
    assert.ok(failed, 'fourth client refused');
    assert.is(counters.get('drop.rpc_client_limit'), 1);
    clients.pop()!.close();
    await new Promise((r) => setTimeout(r, 100));
    const again = await RpcClient.connect(`127.0.0.1:${port}`);
    clients.push(again);
    assert.is((await again.members()).length, 1);
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
});

test.run();
