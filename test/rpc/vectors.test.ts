// Replays the client side of every captured RPC conversation (rpc-*.json)
// against our RPC server, backed by a scripted Serf populated to match the
// capture, and compares what our server writes with what serf wrote: exact
// bytes where serf's output is deterministic, structure (keys, msgpack types,
// values) where it is not (Go map order, log timestamps, runtime stats).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { decodeMulti } from '@msgpack/msgpack';
import { RpcServer } from '../../agent/rpc/server.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { decodeGo } from '../../agent/gossip/wire/msgpack.ts';
import { FakeSerf, member, type QueryCall } from '../support/fakes.ts';
import { VECTOR_DIR, rpcVectorFiles } from '../support/vectors.ts';
import { waitFor } from '../support/wait.ts';


interface Frame { hex: string; value: unknown }
interface Vector { kind: string; client_frames: Frame[]; server_frames: Frame[]; notes: string }

const files = rpcVectorFiles();
const te = new TextEncoder();
const u8 = (s: string) => te.encode(s);

/** Splits a byte stream into msgpack objects (hex each). */
function frames(buf: Uint8Array): string[] {
  const out: string[] = [];
  let off = 0;
  while (off < buf.length) {
    let end: number;
    try { end = decodeGo(buf, off).end; } catch { break; }
    out.push(Buffer.from(buf.subarray(off, end)).toString('hex'));
    off = end;
  }
  return out;
}

/** Typed decoding for structural comparison: str -> string, bin -> {bin: hex}. */
function typed(hex: string): unknown {
  const [v] = [...decodeMulti(Buffer.from(hex, 'hex'))];
  const walk = (x: unknown): unknown => {
    if (x instanceof Uint8Array) return { bin: Buffer.from(x).toString('hex') };
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(x)) o[k] = walk(val);
      return o;
    }
    return x;
  };
  return walk(v);
}

function keyOrder(hex: string): string[] {
  const v = typed(hex);
  return v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : [];
}

interface Scenario {
  serf: FakeSerf;
  logger: Logger;
  /** Called after the reply header of each request arrived. */
  after?(command: string, serf: FakeSerf): void;
  /** Structural normalisation for nondeterministic frames (index -> value transform). */
  normalize?(v: unknown, index: number): unknown;
  check?(serf: FakeSerf): void;
}

const n1 = member('n1', { port: 7946, tags: { dc: 'east', role: 'web' } });
const n2 = member('n2', { port: 7947, tags: { role: 'db' } });
const n3 = member('n3', { port: 7948, tags: {} });

function scenario(file: string, v: Vector): Scenario {
  const logger = Logger.root({ write: null, level: 'INFO' });
  const plain = () => { const s = new FakeSerf(n1); s.memberList = [n1, n2, n3]; return s; };
  const emitQueryResults = (acks: string[], resps: [string, string][]) => (q: QueryCall) => {
    setTimeout(() => {
      for (const a of acks) q.handlers.onAck?.(a);
      for (const [f, p] of resps) q.handlers.onResponse?.(f, u8(p));
      q.handlers.onDone?.();
    }, 20);
  };
  switch (file) {
    case 'rpc-members-and-ping-query.json': {
      const s = plain();
      s.onQuery = emitQueryResults(['n1', 'n3', 'n2'], []);
      return { serf: s, logger, check: (x) => {
        assert.is(x.queries[0]!.name, '_serf_ping');
        assert.is(x.queries[0]!.params.requestAck, true);
      } };
    }
    case 'rpc-members-filtered.json': {
      const s = plain();
      s.memberList = [n3, { ...n1, tags: { role: 'web', dc: 'east' } }, n2];
      return { serf: s, logger };
    }
    case 'rpc-members-filtered-with-filters.json': {
      const r1 = member('r1', { port: 7976, tags: { role: 'api' } });
      const s = new FakeSerf(r1);
      s.memberList = [r1, member('r2', { port: 7977, tags: {} }), member('x3', { port: 7978, tags: { role: 'api' } }), member('r4', { port: 7979, tags: { role: 'api' }, status: 'failed' })];
      return { serf: s, logger };
    }
    case 'rpc-query.json': {
      const s = plain();
      s.onQuery = (q) => setTimeout(() => {
        q.handlers.onAck?.('n1');
        q.handlers.onResponse?.('n1', u8('resp-from-n1\n'));
        q.handlers.onAck?.('n2');
        q.handlers.onAck?.('n3');
        q.handlers.onResponse?.('n2', u8('resp-from-n2\n'));
        q.handlers.onResponse?.('n3', u8('resp-from-n3\n'));
        q.handlers.onDone?.();
      }, 20);
      return { serf: s, logger, check: (x) => {
        assert.is(Buffer.from(x.queries[0]!.payload).toString(), 'qpayload');
        assert.is(x.queries[0]!.params.timeoutMs, 0);
      } };
    }
    case 'rpc-query-filtered.json': {
      const s = plain();
      s.onQuery = emitQueryResults(['n2'], [['n2', 'resp-from-n2\n']]);
      return { serf: s, logger, check: (x) => {
        const p = x.queries[0]!.params;
        assert.equal(p.filterNodes, ['n2']);
        assert.equal(p.filterTags, { role: 'd.*' });
        assert.is(p.relayFactor, 1);
        assert.is(p.timeoutMs, 2000);
        assert.is(p.requestAck, true);
      } };
    }
    case 'rpc-event.json':
      return { serf: plain(), logger, check: (x) => {
        const c = x.calls.find((k) => k.op === 'event')!;
        assert.is(c.args[0], 'deploy');
        assert.is(Buffer.from(c.args[1] as Uint8Array).toString(), 'payload-v1');
        assert.is(c.args[2], true);
      } };
    case 'rpc-force-leave.json':
      return { serf: plain(), logger, check: (x) => assert.equal(x.calls.find((k) => k.op === 'force-leave')!.args, ['n3', false]) };
    case 'rpc-join.json': {
      const s = new FakeSerf(n2);
      return { serf: s, logger, check: (x) => assert.equal(x.calls.find((k) => k.op === 'join')!.args, [['127.0.0.1:7946'], true]) };
    }
    case 'rpc-leave.json':
      return { serf: plain(), logger, check: (x) => assert.ok(x.calls.some((k) => k.op === 'leave')) };
    case 'rpc-tags.json': {
      const s = new FakeSerf(n3);
      return { serf: s, logger, check: (x) => assert.equal(x.calls.find((k) => k.op === 'tags')!.args, [{ foo: 'bar' }]) };
    }
    case 'rpc-get-coordinate.json': {
      const s = plain();
      const body = (v.server_frames[2]!.value as { Coord: { Adjustment: number; Error: number; Height: number; Vec: number[] } }).Coord;
      const body2 = (v.server_frames[4]!.value as { Coord: { Adjustment: number; Error: number; Height: number; Vec: number[] } }).Coord;
      s.coords.set('n1', { adjustment: body.Adjustment, error: body.Error, height: body.Height, vec: body.Vec });
      s.coords.set('n2', { adjustment: body2.Adjustment, error: body2.Error, height: body2.Height, vec: body2.Vec });
      return { serf: s, logger };
    }
    case 'rpc-keys-install.json': case 'rpc-keys-remove.json': case 'rpc-keys-use.json': case 'rpc-keys-list.json': {
      const s = new FakeSerf(member('e1', { port: 7956, tags: { role: 'web' } }));
      const r = { messages: {}, numNodes: 2, numResp: 2, numErr: 0 };
      s.keyResponses = { install: r, use: r, remove: r, list: { ...r, keys: { 'AAECAwQFBgcICQoLDA0ODw==': 2 } } };
      const op = file.includes('install') ? 'key-install' : file.includes('remove') ? 'key-remove' : file.includes('use') ? 'key-use' : 'key-list';
      return { serf: s, logger, check: (x) => assert.ok(x.calls.some((k) => k.op === op)) };
    }
    case 'rpc-stats.json': {
      const r1 = member('r1', { port: 7976, tags: { role: 'api' } });
      const s = new FakeSerf(r1);
      s.statsMap = { query_queue: '0', encrypted: 'false', query_time: '2', failed: '0', left: '0', health_score: '0', member_time: '2', event_time: '1', intent_queue: '0', event_queue: '0', members: '2', coordinate_resets: '0' };
      return { serf: s, logger, normalize: (val, i) => {
        if (i !== 2) return val;
        const { memory: _memory, ...o } = val as Record<string, Record<string, string>>;
        // runtime values describe the process (Go vs Node): compare the key set only.
        // Our additions (the `memory` section, runtime.v8_flags) are printed by serf's CLI like any section.
        return { ...o, runtime: Object.keys(o.runtime!).filter((k) => k !== 'v8_flags').sort() };
      } };
    }
    case 'rpc-monitor.json': {
      const s = plain();
      // Populate our log ring with the lines serf had in its buffer.
      logger.info('Serf agent starting');
      logger.child('serf').info('EventMemberJoin: n2 127.0.0.1');
      logger.info('Received event: member-join');
      return { serf: s, logger, normalize: (val) => {
        const o = val as { Log?: string };
        // Strip the timestamp (Go log.LstdFlags vs ISO-8601) and the client port.
        if (typeof o.Log === 'string') return { Log: o.Log.slice(o.Log.indexOf(' [')).replace(/:\d+$/, ':PORT') };
        return val;
      } };
    }
    case 'rpc-respond.json': {
      const s = plain();
      let responded: Uint8Array | null = null;
      return { serf: s, logger,
        after: (cmd, x) => {
          if (cmd === 'stream') x.emit({ type: 'query', query: { ltime: 1, id: 77, name: 'ping-me', payload: u8('abc'), sourceNode: 'n2', deadline: Date.now() + 5000, respond: async (p) => { responded = p; } } });
        },
        check: () => assert.is(Buffer.from(responded!).toString(), 'pong:abc') };
    }
    case 'rpc-stream.json': {
      const s = plain();
      const q = (ltime: number, payload: Uint8Array) => ({ type: 'query' as const, query: { ltime, id: ltime, name: 'whoami', payload, sourceNode: 'n1', deadline: Date.now() + 5000, respond: async () => {} } });
      return { serf: s, logger, after: (cmd, x) => {
        if (cmd !== 'stream') return;
        x.emit({ type: 'user', ltime: 2, name: 'restart', payload: new Uint8Array(0), coalesce: false });
        x.emit({ type: 'user', ltime: 1, name: 'deploy', payload: u8('payload-v1'), coalesce: true });
        x.emit(q(1, u8('qpayload')));
        x.emit(q(2, u8('filtered')));
        x.emit(q(3, new Uint8Array(0)));
      } };
    }
    case 'rpc-stream-member-events.json': {
      const s1 = member('s1', { port: 7986 });
      const s2 = member('s2', { port: 7987 });
      const s = new FakeSerf(s1);
      return { serf: s, logger, after: (cmd, x) => {
        if (cmd !== 'stream') return;
        x.emit({ type: 'member-join', members: [s2] });
        x.emit({ type: 'member-update', members: [{ ...s2, tags: { zone: 'z1' } }] });
        x.emit({ type: 'user', ltime: 1, name: 'hello', payload: u8('world'), coalesce: false });
        x.emit({ type: 'member-leave', members: [{ ...s2, status: 'left', tags: { zone: 'z1' } }] });
      } };
    }
    default:
      throw new Error(`no scenario for ${file}: add one`);
  }
}

async function replay(file: string): Promise<void> {
  const v = JSON.parse(readFileSync(join(VECTOR_DIR, file), 'utf8')) as Vector;
  const sc = scenario(file, v);
  const server = new RpcServer({
    serf: sc.serf, logger: sc.logger, counters: new Counters(),
    limits: defaultLimits(), addr: '127.0.0.1:0', hooks: { shutdown: () => {} },
  });
  const { port } = await server.listen();
  const sock: Socket = connect({ host: '127.0.0.1', port });
  let received = Buffer.alloc(0);
  sock.on('data', (d) => { received = Buffer.concat([received, d]); });
  await new Promise((r) => sock.once('connect', r));
  try {
    // Group client frames into requests (header + optional body).
    const cf = v.client_frames;
    for (let i = 0; i < cf.length; i++) {
      const h = cf[i]!.value as { Command?: string; Seq?: number };
      const next = cf[i + 1]?.value as { Command?: string } | undefined;
      const hasBody = next !== undefined && next.Command === undefined;
      sock.write(Buffer.from(cf[i]!.hex + (hasBody ? cf[i + 1]!.hex : ''), 'hex'));
      if (hasBody) i++;
      const seq = h.Seq!;
      // Wait for the reply header of this request.
      await waitFor(`${file}: reply to ${h.Command} (got ${frames(received).length} frames)`, () => frames(received).some((f) => {
        const t = typed(f) as { Seq?: number; Error?: string };
        return t && typeof t === 'object' && t.Seq === seq && 'Error' in t;
      }), 10_000, 10);
      sc.after?.(h.Command!, sc.serf);
    }
    const expected = v.server_frames.map((f) => f.hex);
    // The monitor capture was cut after a record header whose record is missing.
    if (file === 'rpc-monitor.json') expected.pop();
    await waitFor(`${file}: ${expected.length} frames`, () => frames(received).length >= expected.length, 10_000, 10);
    await new Promise((r) => setTimeout(r, 50));
    const got = frames(received);
    if (file === 'rpc-monitor.json') {
      // The capture was cut after a record header: our stream may go on (more log lines).
      assert.ok(got.length >= expected.length, `${file}: frame count`);
    } else assert.is(got.length, expected.length, `${file}: frame count`);
    for (let i = 0; i < expected.length; i++) {
      if (got[i] === expected[i]) continue;
      // Not byte-identical: must be structurally identical after normalisation,
      // with struct keys in the same (sorted) order.
      const norm = sc.normalize ?? ((x: unknown) => x);
      assert.equal(norm(typed(got[i]!), i), norm(typed(expected[i]!), i), `${file}: frame ${i}\n got ${got[i]}\nwant ${expected[i]}`);
      const isGoMap = file === 'rpc-stats.json' && i === 2;
      if (!isGoMap) assert.equal(keyOrder(got[i]!), keyOrder(expected[i]!), `${file}: key order of frame ${i}`);
    }
    sc.check?.(sc.serf);
  } finally {
    sock.destroy();
    await server.close();
  }
}

for (const f of files) test(`vector ${f}`, () => replay(f));

test('every rpc vector has a scenario', () => {
  assert.ok(files.length >= 19, `found ${files.length} rpc vectors`);
});

test.run();
