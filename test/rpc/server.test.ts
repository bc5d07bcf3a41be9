// RPC server protocol rules and serf's exact error strings, through our client
// and through raw frames.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { decodeMulti } from '@msgpack/msgpack';
import { RpcServer } from '../../agent/rpc/server.ts';
import { CommandRegistry, defineCommand } from '../../agent/commands/registry.ts';
import { rpcVerbs } from '../../agent/commands/rpc-verbs.ts';
import { RpcClient, RpcRemoteError } from '../../agent/rpc/client.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { AgentError } from '../../agent/errors.ts';
import { encodeGo, type GoValue } from '../../agent/gossip/wire/msgpack.ts';
import { FakeSerf, member } from '../support/fakes.ts';

async function setup(opts: { authKey?: string } = {}) {
  const serf = new FakeSerf(member('n1', { port: 7946, tags: { role: 'web' } }));
  serf.memberList = [serf.self, member('n2', { port: 7947, tags: { role: 'db' } }), member('x9', { port: 7948, tags: {}, status: 'failed', addr: '::1' })];
  const registry = new CommandRegistry();
  registry.register(defineCommand({
    name: 'echo', summary: 'echo', role: 'viewer', args: { Msg: { type: 'string', doc: 'text' } },
    handler: async (a) => ({ Echo: a.Msg }),
  }));
  registry.register(defineCommand({
    name: 'fail', summary: 'fail', role: 'viewer', args: {},
    handler: async () => { throw new AgentError('E_NOT_FOUND', 'no such service'); },
  }));
  const logger = Logger.root({ write: null });
  const counters = new Counters();
  let shutdowns = 0;
  const server = new RpcServer({
    serf, extensions: rpcVerbs(registry), logger, counters, limits: defaultLimits(), addr: '127.0.0.1:0',
    ...(opts.authKey ? { authKey: opts.authKey } : {}),
    hooks: { shutdown: () => { shutdowns++; } },
  });
  const { port } = await server.listen();
  return { serf, server, port, logger, counters, addr: `127.0.0.1:${port}`, shutdowns: () => shutdowns };
}

/** Sends raw frames, returns the decoded reply objects received until the server closes or `ms` passes. */
async function raw(port: number, frames: GoValue[], ms = 400): Promise<{ objs: unknown[]; closed: boolean }> {
  const s = connect({ host: '127.0.0.1', port });
  let buf = Buffer.alloc(0);
  let closed = false;
  s.on('data', (d) => { buf = Buffer.concat([buf, d]); });
  s.on('close', () => { closed = true; });
  await new Promise((r) => s.once('connect', r));
  s.write(Buffer.concat(frames.map((f) => encodeGo(f, 'rpc'))));
  const end = Date.now() + ms;
  while (!closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  s.destroy();
  return { objs: [...decodeMulti(buf)], closed };
}

test('handshake required first; connection closed', async () => {
  const t = await setup();
  try {
    const r = await raw(t.port, [{ Command: 'members', Seq: 5 }]);
    assert.equal(r.objs, [{ Error: 'Handshake required', Seq: 5 }]);
    assert.ok(r.closed);
  } finally { await t.server.close(); }
});

test('second handshake, bad version, unsupported command', async () => {
  const t = await setup();
  try {
    const r = await raw(t.port, [
      { Command: 'handshake', Seq: 0 }, { Version: 2 },
      { Command: 'handshake', Seq: 1 }, { Version: 1 },
      { Command: 'handshake', Seq: 2 }, { Version: 1 },
      { Command: 'bogus', Seq: 3 },
      { Command: 'members', Seq: 4 },
    ]);
    assert.equal(r.objs, [
      { Error: 'Unsupported IPC version', Seq: 0 },
      { Error: '', Seq: 1 },
      { Error: 'Handshake already performed', Seq: 2 },
      { Error: 'Unsupported command', Seq: 3 },
    ]);
    assert.ok(r.closed, 'closed after an unsupported command');
  } finally { await t.server.close(); }
});

test('auth: required, invalid token, then accepted', async () => {
  const t = await setup({ authKey: 's3cret' });
  try {
    const r = await raw(t.port, [
      { Command: 'handshake', Seq: 1 }, { Version: 1 },
      { Command: 'members', Seq: 2 },
      { Command: 'auth', Seq: 3 }, { AuthKey: 'wrong' },
      { Command: 'auth', Seq: 4 }, { AuthKey: 's3cret' },
      { Command: 'stop', Seq: 5 }, { Stop: 99 },
    ]);
    assert.equal(r.objs, [
      { Error: '', Seq: 1 },
      { Error: 'Authentication required', Seq: 2 },
      { Error: 'Invalid authentication token', Seq: 3 },
      { Error: '', Seq: 4 },
      { Error: '', Seq: 5 },
    ]);
    let err = '';
    try { await RpcClient.connect(t.addr, { authKey: 'nope' }); } catch (e) { err = (e as Error).message; }
    assert.is(err, 'Invalid authentication token');
    const c = await RpcClient.connect(t.addr, { authKey: 's3cret' });
    assert.is((await c.members()).length, 3);
    c.close();
  } finally { await t.server.close(); }
});

test('members-filtered: anchored regexes; IPv6 address bytes', async () => {
  const t = await setup();
  const c = await RpcClient.connect(t.addr);
  try {
    assert.equal((await c.membersFiltered({ role: 'w.*' }, '', '')).map((m) => m.name), ['n1']);
    assert.equal((await c.membersFiltered({}, 'alive', '')).map((m) => m.name), ['n1', 'n2']);
    assert.equal((await c.membersFiltered({}, '', 'n')).map((m) => m.name), [], 'anchored: "n" does not match n1');
    assert.equal((await c.membersFiltered({ role: 'd' }, '', '')).map((m) => m.name), []);
    assert.equal((await c.membersFiltered({ role: '(?i)WEB' }, '', '')).map((m) => m.name), ['n1'], 'RE2 flag group');
    const x9 = (await c.membersFiltered({}, 'failed', ''))[0]!;
    assert.is(x9.addr, '::1');
    assert.is(x9.status, 'failed');
    let err = '';
    try { await c.membersFiltered({}, '(', ''); } catch (e) { err = (e as Error).message; }
    assert.match(err, /^Failed to compile regex/);
  } finally { c.close(); await t.server.close(); }
});

test('stream: invalid filter, duplicate seq, filtered delivery, stop', async () => {
  const t = await setup();
  try {
    const r = await raw(t.port, [
      { Command: 'handshake', Seq: 1 }, { Version: 1 },
      { Command: 'stream', Seq: 2 }, { Type: 'member-join,bogus' },
      { Command: 'stream', Seq: 3 }, { Type: 'user:deploy' },
      { Command: 'stream', Seq: 3 }, { Type: '*' },
      { Command: 'monitor', Seq: 4 }, { LogLevel: 'loud' },
      { Command: 'respond', Seq: 5 }, { ID: 42, Payload: new Uint8Array([1]) },
    ]);
    assert.equal(r.objs, [
      { Error: '', Seq: 1 },
      { Error: 'Invalid event filter', Seq: 2 },
      { Error: '', Seq: 3 },
      { Error: 'Stream with given sequence exists', Seq: 3 },
      { Error: 'Unknown log level: LOUD', Seq: 4 },
      { Error: 'No pending queries matching ID', Seq: 5 },
    ]);
    const c = await RpcClient.connect(t.addr);
    const got: string[] = [];
    const h = await c.stream('user:deploy,member-failed', (rec) => got.push(`${rec.Event}:${String(rec.Name ?? '')}`));
    t.serf.emit({ type: 'user', ltime: 1, name: 'other', payload: new Uint8Array(0), coalesce: true });
    t.serf.emit({ type: 'user', ltime: 2, name: 'deploy', payload: new Uint8Array(0), coalesce: true });
    t.serf.emit({ type: 'member-join', members: [t.serf.self] });
    t.serf.emit({ type: 'member-failed', members: [t.serf.self] });
    await c.members(); // round trip: records were written before this reply
    assert.equal(got, ['user:deploy', 'member-failed:']);
    await c.stop(h);
    t.serf.emit({ type: 'user', ltime: 3, name: 'deploy', payload: new Uint8Array(0), coalesce: true });
    await c.members();
    assert.is(got.length, 2, 'nothing after stop');
    assert.is(t.serf.listeners.size, 0, 'listener removed on stop');
    c.close();
  } finally { await t.server.close(); }
});

test('query over RPC: records stream until done; respond to a streamed query', async () => {
  const t = await setup();
  const c = await RpcClient.connect(t.addr);
  try {
    t.serf.onQuery = (q) => setTimeout(() => {
      q.handlers.onAck?.('n2');
      q.handlers.onResponse?.('n2', new TextEncoder().encode('hi'));
      q.handlers.onDone?.();
    }, 10);
    const seen: string[] = [];
    let started = false;
    await c.query({ name: 'q', requestAck: true, timeoutMs: 1500 }, {
      onStarted: () => { started = true; },
      onAck: (f) => seen.push(`ack:${f}`),
      onResponse: (f, p) => seen.push(`resp:${f}:${Buffer.from(p).toString()}`),
    });
    assert.ok(started);
    assert.equal(seen, ['ack:n2', 'resp:n2:hi']);
    assert.is(t.serf.queries[0]!.params.timeoutMs, 1500);

    // A client answers a query it received on its stream.
    let answer = '';
    const ids: number[] = [];
    await c.stream('query', (rec) => ids.push(Number(rec.ID)));
    t.serf.emit({ type: 'query', query: { ltime: 9, id: 1, name: 'ask', payload: new Uint8Array(0), sourceNode: 'n2', deadline: Date.now() + 5000, respond: async (p) => { answer = Buffer.from(p).toString(); } } });
    await c.members();
    assert.equal(ids, [1]);
    await c.respond(1, new TextEncoder().encode('pong'));
    assert.is(answer, 'pong');
    let err = '';
    try { await c.respond(7, new Uint8Array(0)); } catch (e) { err = (e as RpcRemoteError).message; }
    assert.is(err, 'No pending queries matching ID');
  } finally { c.close(); await t.server.close(); }
});

test('monitor replays the log ring at the requested level, then live lines', async () => {
  const t = await setup();
  const log = t.logger.child('test');
  log.debug('debug before');
  log.info('info before');
  const c = await RpcClient.connect(t.addr);
  try {
    const lines: string[] = [];
    await c.monitor('info', (l) => lines.push(l));
    log.debug('debug after');
    log.warn('warn after');
    await c.members();
    const text = lines.join('\n');
    assert.ok(text.includes('info before'));
    assert.ok(!text.includes('debug'), text);
    assert.ok(text.includes('[WARN] test: warn after'));
    let err = '';
    try { await c.monitor('debug', () => {}); } catch (e) { err = (e as Error).message; }
    assert.is(err, 'Monitor already exists');
  } finally { c.close(); await t.server.close(); }
});

test('tags merge, leave then shutdown hook, keys error strings, registry commands', async () => {
  const t = await setup();
  const c = await RpcClient.connect(t.addr);
  try {
    await c.updateTags({ dc: 'x' }, ['role']);
    assert.equal(t.serf.self.tags, { dc: 'x' });
    t.serf.keyResponses.install = { messages: { n2: 'boom' }, numNodes: 2, numResp: 2, numErr: 1 };
    let e1: RpcRemoteError | null = null;
    try { await c.keyOp('install-key', 'AAECAwQFBgcICQoLDA0ODw=='); } catch (e) { e1 = e as RpcRemoteError; }
    assert.is(e1!.message, '1/2 nodes reported failure');
    assert.equal((e1!.body as { messages: Record<string, string> }).messages, { n2: 'boom' });
    t.serf.keyResponses.use = { messages: {}, numNodes: 3, numResp: 2, numErr: 0 };
    let e2 = '';
    try { await c.keyOp('use-key', 'AAECAwQFBgcICQoLDA0ODw=='); } catch (e) { e2 = (e as Error).message; }
    assert.is(e2, '2/3 nodes reported success');
    assert.equal(await c.call('cloudy-echo', { Msg: 'hey' }, true), { Echo: 'hey' });
    let e3 = '';
    try { await c.call('cloudy-fail', undefined, false); } catch (e) { e3 = (e as Error).message; }
    assert.is(e3, 'E_NOT_FOUND: no such service');
    await c.leave();
    assert.ok(t.serf.calls.some((x) => x.op === 'leave'));
    await new Promise((r) => setTimeout(r, 50));
    assert.is(t.shutdowns(), 1);
  } finally { c.close(); await t.server.close(); }
});

test('IPv6 listener', async () => {
  const serf = new FakeSerf(member('n1', { port: 7946 }));
  const server = new RpcServer({ serf, logger: Logger.silent(), counters: new Counters(), limits: defaultLimits(), addr: '[::1]:0' });
  let port: number;
  try { ({ port } = await server.listen()); } catch { assert.unreachable('IPv6 loopback unavailable'); return; }
  const c = await RpcClient.connect(`[::1]:${port}`);
  assert.is((await c.members())[0]!.name, 'n1');
  c.close();
  await server.close();
});

test.run();
