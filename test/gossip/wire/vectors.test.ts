// Walks every captured udp/tcp vector (test/fixtures/serf-vectors) and checks, layer
// by layer, that our codecs decode what the vector's `decoded` records (types, values,
// derived views such as IPs, tags and coordinates, key order) and that re-encoding our
// decoded values reproduces the captured bytes exactly (except random GCM nonces: there
// the plaintext is compared).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allWireVectors, hex, toHex, type Vector } from '../../support/vectors.ts';
import {
  Keyring, crc32, decodeGo, lzwCompress, lzwDecompress, asMap, asBytes, decodeMessage, encodeMessage, bytesToIp,
  decodePacket, encodePacket, readStreamBytes, encodeStreamMessage, encodePushPull, decodeSerfMessage, encodeSerfMessage,
  decodeTags, decodeFilter, decodeCoordinatePayload, decodeNodeKeyResponse, decodeKeyRequest, encodeKeyRequest,
  encodeNodeKeyResponse, type MemberlistMessage, type SerfMessage, type PushNodeState,
} from '../../../agent/gossip/wire/index.ts';

type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const td = new TextDecoder();
const stats = { files: 0, messages: 0, serf: 0, reencoded: 0, annotations: 0 };

/** Keys of the msgpack map at `offset`, in wire order. */
function keyOrder(buf: Uint8Array, offset: number): string[] {
  return Object.keys(asMap(decodeGo(buf, offset).value));
}

/** A []byte value of a vector body: {hex,...} | number[] (Vsn) | null -> hex or null (empty = null, as Go decodes). */
function normBytes(x: J): string | null {
  if (x === null || x === undefined) return null;
  if (Array.isArray(x)) return x.length ? toHex(Uint8Array.from(x)) : null;
  if (typeof x === 'object' && typeof x.hex === 'string') return x.hex === '' ? null : x.hex;
  throw new Error(`not a bytes value: ${JSON.stringify(x)}`);
}
const hb = (b: Uint8Array | null | undefined): string | null => (b && b.length ? toHex(b) : null);

/** Checks the derived annotations the capture tool attached to a []byte value. */
function checkAnnotations(where: string, x: J, bytes: Uint8Array | null): void {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return;
  const b = bytes ?? new Uint8Array(0);
  if ('ip' in x) { assert.is(bytesToIp(b), x.ip, `${where}.ip`); stats.annotations++; }
  if ('tags' in x) { assert.equal(decodeTags(b), x.tags ?? {}, `${where}.tags`); stats.annotations++; }
  if ('utf8' in x) { assert.is(td.decode(b), x.utf8, `${where}.utf8`); stats.annotations++; }
  if ('b64' in x) { assert.is(Buffer.from(b).toString('base64'), x.b64, `${where}.b64`); stats.annotations++; }
  if ('coordinate' in x) {
    const c = decodeCoordinatePayload(b);
    assert.equal({ Adjustment: c.adjustment, Error: c.error, Height: c.height, Vec: c.vec }, x.coordinate, `${where}.coordinate`);
    assert.is(b[0], x.pingVersion);
    stats.annotations++;
  }
  if ('asSerf' in x) { verifyPayloadSerf(`${where}.asSerf`, x.asSerf, b); stats.annotations++; }
}

/** Compares a Go-named view of our decoded struct with the vector's body. */
function compareBody(where: string, body: J, view: Record<string, unknown>, bytesFields: string[], skip: string[] = []): void {
  assert.equal(Object.keys(view).sort(), Object.keys(body).sort(), `${where}: field set`);
  for (const k of Object.keys(body)) {
    if (skip.includes(k)) continue;
    if (bytesFields.includes(k)) {
      assert.is(view[k], normBytes(body[k]), `${where}.${k}`);
    } else {
      assert.equal(view[k], body[k], `${where}.${k}`);
    }
  }
}

function memberlistView(m: MemberlistMessage): { view: Record<string, unknown>; bytes: Record<string, Uint8Array | null> } {
  const src = (x: { sourceAddr?: Uint8Array; sourcePort?: number; sourceNode?: string }): Record<string, unknown> => ({
    ...(x.sourceAddr ? { SourceAddr: hb(x.sourceAddr) } : {}),
    ...(x.sourceNode !== undefined ? { SourceNode: x.sourceNode } : {}),
    ...(x.sourcePort !== undefined ? { SourcePort: x.sourcePort } : {}),
  });
  switch (m.type) {
    case 'ping': return { view: { Node: m.node, SeqNo: m.seqNo, ...src(m) }, bytes: { SourceAddr: m.sourceAddr ?? null } };
    case 'indirectPing': return { view: { Nack: m.nack, Node: m.node, Port: m.port, SeqNo: m.seqNo, Target: hb(m.target), ...src(m) }, bytes: { Target: m.target, SourceAddr: m.sourceAddr ?? null } };
    case 'ack': return { view: { Payload: hb(m.payload), SeqNo: m.seqNo }, bytes: { Payload: m.payload } };
    case 'nack': return { view: { SeqNo: m.seqNo }, bytes: {} };
    case 'err': return { view: { Error: m.error }, bytes: {} };
    case 'suspect': case 'dead': return { view: { From: m.from, Incarnation: m.incarnation, Node: m.node }, bytes: {} };
    case 'alive': return { view: { Addr: hb(m.addr), Incarnation: m.incarnation, Meta: hb(m.meta), Node: m.node, Port: m.port, Vsn: hb(m.vsn) }, bytes: { Addr: m.addr, Meta: m.meta, Vsn: m.vsn } };
    case 'user': return { view: {}, bytes: {} };
  }
}

function nodeStateView(n: PushNodeState): Record<string, unknown> {
  return { Addr: hb(n.addr), Incarnation: n.incarnation, Meta: hb(n.meta), Name: n.name, Port: n.port, State: n.state, Vsn: hb(n.vsn) };
}

function serfView(m: SerfMessage): { view: Record<string, unknown>; bytes: Record<string, Uint8Array | null> } {
  switch (m.type) {
    case 'leave': return { view: { LTime: m.ltime, Node: m.node, Prune: m.prune }, bytes: {} };
    case 'join': return { view: { LTime: m.ltime, Node: m.node }, bytes: {} };
    case 'userEvent': return { view: { CC: m.cc, LTime: m.ltime, Name: m.name, Payload: hb(m.payload) }, bytes: { Payload: m.payload } };
    case 'query': return {
      view: {
        Addr: hb(m.addr), Filters: m.filters.length ? m.filters.map(toHex) : null, Flags: m.flags, ID: m.id, LTime: m.ltime, Name: m.name,
        Payload: hb(m.payload), Port: m.port, RelayFactor: m.relayFactor, SourceNode: m.sourceNode, Timeout: m.timeoutNs,
      },
      bytes: { Addr: m.addr, Payload: m.payload },
    };
    case 'queryResponse': return { view: { Flags: m.flags, From: m.from, ID: m.id, LTime: m.ltime, Payload: hb(m.payload) }, bytes: { Payload: m.payload } };
    default: throw new Error(`no view for ${m.type}`);
  }
}

function verifySerfPushPull(where: string, body: J, m: Extract<SerfMessage, { type: 'pushPull' }>): void {
  assert.is(m.ltime, body.LTime, `${where}.LTime`);
  assert.is(m.eventLTime, body.EventLTime, `${where}.EventLTime`);
  assert.is(m.queryLTime, body.QueryLTime, `${where}.QueryLTime`);
  assert.equal(m.leftMembers, body.LeftMembers, `${where}.LeftMembers`);
  // StatusLTimes in the sender's (random Go map) order, preserved by our decoder.
  assert.equal([...m.statusLTimes.entries()], Object.entries(body.StatusLTimes), `${where}.StatusLTimes`);
  const ev = body.Events;
  let slots: Record<string, J> = ev.nonNilSlots ?? {};
  if (Array.isArray(ev)) {
    slots = {};
    ev.forEach((e: J, i: number) => { if (e !== null) slots[String(i)] = e; });
  }
  const len = Array.isArray(ev) ? ev.length : ev.arrayLength;
  assert.is(m.events.length, len, `${where}.Events length`);
  const ours: Record<string, J> = {};
  m.events.forEach((e, i) => {
    if (e) ours[String(i)] = { LTime: e.ltime, Events: e.events.map((x) => ({ Name: x.name, Payload: hb(x.payload) })) };
  });
  const theirs: Record<string, J> = {};
  for (const [k, e] of Object.entries(slots ?? {}) as [string, J][]) {
    theirs[k] = { LTime: e.LTime, Events: e.Events.map((x: J) => ({ Name: x.Name, Payload: normBytes(x.Payload) })) };
  }
  assert.equal(ours, theirs, `${where}.Events`);
}

/** A serf message (node.serf / userState.serf) over its raw bytes. */
function verifySerf(where: string, node: J, raw: Uint8Array): void {
  const m = decodeSerfMessage(raw);
  stats.serf++;
  assert.is(raw[0], node.serfType, `${where}.serfType`);
  assert.is(m.type, node.serfTypeName === 'userEvent' ? 'userEvent' : node.serfTypeName, `${where}.type`);
  const again = encodeSerfMessage(m);
  assert.is(toHex(again), toHex(raw), `${where}: re-encode`);
  stats.reencoded++;
  if (m.type === 'relay') {
    const h = node.relayHeader;
    assert.is(hb(m.destAddr), normBytes(h.DestAddr.IP), `${where}.DestAddr.IP`);
    checkAnnotations(`${where}.DestAddr.IP`, h.DestAddr.IP, m.destAddr);
    assert.is(m.destPort, h.DestAddr.Port);
    assert.is(h.DestAddr.Zone, '');
    assert.is(m.destName, h.DestName);
    assert.equal(keyOrder(again, 1), node.relayHeaderKeyOrder, `${where}: relay key order`);
    verifySerf(`${where}.inner`, node.inner, m.inner);
    return;
  }
  if (node.keyOrder) assert.equal(keyOrder(again, 1), node.keyOrder, `${where}: key order`);
  if (m.type === 'pushPull') return verifySerfPushPull(where, node.body, m);
  const { view, bytes } = serfView(m);
  compareBody(where, node.body, view, ['Addr', 'Payload'], ['Filters']);
  if (m.type === 'query') {
    const f = node.body.Filters;
    assert.equal(m.filters.map(toHex), (f ?? []).map((x: J) => x.hex), `${where}.Filters`);
    (f ?? []).forEach((x: J, i: number) => {
      const d = decodeFilter(m.filters[i]!);
      assert.is(m.filters[i]![0], x.filterType);
      assert.equal(d.kind === 'node' ? d.names : { Expr: d.expr, Tag: d.tag }, x.value, `${where}.Filters[${i}]`);
      stats.annotations++;
    });
  }
  for (const [k, b] of Object.entries(bytes)) checkAnnotations(`${where}.${k}`, node.body[k], b);
}

/** Serf-encoded payloads nested in queries/responses (keyRequest, keyResponse). */
function verifyPayloadSerf(where: string, node: J, raw: Uint8Array): void {
  assert.is(raw[0], node.serfType, `${where}.serfType`);
  if (node.serfType === 7) {
    const r = decodeKeyRequest(raw);
    assert.is(hb(r.key), normBytes(node.body.Key), `${where}.Key`);
    checkAnnotations(`${where}.Key`, node.body.Key, r.key);
    assert.is(toHex(encodeKeyRequest(r.key)), toHex(raw), `${where}: re-encode`);
  } else if (node.serfType === 8) {
    const r = decodeNodeKeyResponse(raw);
    assert.equal({ Keys: r.keys, Message: r.message, PrimaryKey: r.primaryKey, Result: r.result }, node.body, `${where}.body`);
    assert.is(toHex(encodeNodeKeyResponse(r)), toHex(raw), `${where}: re-encode`);
  } else {
    verifySerf(where, node, raw);
    return;
  }
  assert.equal(keyOrder(raw, 1), node.keyOrder, `${where}: key order`);
  stats.reencoded++;
}

/** One memberlist-level UDP message node over its bytes; returns the leaf messages. */
function verifyUdpNode(where: string, node: J, buf: Uint8Array): MemberlistMessage[] {
  assert.is(buf[0], node.type, `${where}.type`);
  switch (node.type) {
    case 12: {
      assert.is(toHex(buf.subarray(1, 5)), node.crc, `${where}.crc`);
      assert.is(crc32(buf.subarray(5)) === new DataView(buf.buffer, buf.byteOffset).getUint32(1), node.crcValid, `${where}.crcValid`);
      return verifyUdpNode(`${where}.inner`, node.inner, buf.subarray(5));
    }
    case 9: {
      const inner = verifyCompress(where, node, buf);
      return verifyUdpNode(`${where}.inner`, node.inner, inner);
    }
    case 7: {
      const n = buf[1]!;
      assert.is(n, node.count, `${where}.count`);
      const lengths = Array.from({ length: n }, (_, i) => (buf[2 + 2 * i]! << 8) | buf[3 + 2 * i]!);
      assert.equal(lengths, node.lengths, `${where}.lengths`);
      let off = 2 + 2 * n;
      const out: MemberlistMessage[] = [];
      node.parts.forEach((p: J, i: number) => {
        out.push(...verifyUdpNode(`${where}.parts[${i}]`, p, buf.subarray(off, off + lengths[i]!)));
        off += lengths[i]!;
      });
      return out;
    }
    default: {
      const m = decodeMessage(buf);
      stats.messages++;
      const again = encodeMessage(m);
      assert.is(toHex(again), toHex(buf), `${where}: re-encode`);
      stats.reencoded++;
      if (m.type === 'user') {
        verifySerf(`${where}.serf`, node.serf, m.payload);
        return [m];
      }
      if (node.keyOrder) assert.equal(keyOrder(again, 1), node.keyOrder, `${where}: key order`);
      const { view, bytes } = memberlistView(m);
      compareBody(where, node.body, view, ['SourceAddr', 'Target', 'Payload', 'Addr', 'Meta', 'Vsn']);
      for (const [k, b] of Object.entries(bytes)) checkAnnotations(`${where}.${k}`, node.body[k], b);
      return [m];
    }
  }
}

/** A compress message: key order, decompressed bytes, byte-identical recompression. */
function verifyCompress(where: string, c: J, buf: Uint8Array): Uint8Array {
  const { value } = decodeGo(buf, 1);
  const m = asMap(value);
  assert.equal(Object.keys(m), c.keyOrder, `${where}: compress key order`);
  assert.is(m.Algo, c.Algo);
  const z = asBytes(m.Buf);
  if (c.compressedLen !== undefined) assert.is(z.length, c.compressedLen, `${where}.compressedLen`);
  const plain = lzwDecompress(z, 1 << 24);
  assert.is(toHex(plain), c.decompressedHex, `${where}.decompressedHex`);
  if (c.decompressedLen !== undefined) assert.is(plain.length, c.decompressedLen);
  assert.is(toHex(lzwCompress(plain)), toHex(z), `${where}: LZW recompression`);
  stats.reencoded++;
  return plain;
}

function verifyUdp(v: Vector): void {
  const wire = hex(v.hex);
  const d = v.decoded;
  let keyring: Keyring | undefined;
  let plain = wire;
  if (v.encrypted) {
    keyring = Keyring.fromBase64([v.key_b64!]);
    assert.is(wire[0], d.encryption.version);
    assert.is(toHex(wire.subarray(1, 13)), d.encryption.nonce);
    assert.is(toHex(wire.subarray(wire.length - 16)), d.encryption.tag);
    plain = keyring.decrypt(wire, new Uint8Array(0));
    assert.is(toHex(plain), d.encryption.plaintextHex, `${v.file}: plaintext`);
  }
  const leaves = verifyUdpNode(v.file, d.message, plain);
  // The full pipeline decodes the same leaves without errors ...
  const r = decodePacket(wire, { keyring });
  assert.equal(r.errors, [], `${v.file}: decodePacket errors`);
  assert.equal(r.messages, leaves, `${v.file}: decodePacket messages`);
  // ... and our sender pipeline rebuilds the datagram (compression is on unless the
  // capture ran with -disable-compression; CRC as captured).
  const opts = { compress: v.capture !== 'nocomp', crc: plain[0] === 12 };
  const parts = plain[0] === 12 || plain[0] === 9 || plain[0] === 7 ? leaves.map(encodeMessage) : [plain];
  const rebuilt = encodePacket(parts, opts);
  assert.is(toHex(rebuilt), toHex(plain), `${v.file}: encodePacket`);
  stats.reencoded++;
}

async function verifyTcp(v: Vector): Promise<void> {
  const wire = hex(v.hex);
  const d = v.decoded;
  const keyring = v.encrypted ? Keyring.fromBase64([v.key_b64!]) : undefined;
  if (d.error) {
    // A deliberately broken stream: rejected by plaintext and encrypting readers.
    for (const kr of [undefined, Keyring.fromBase64(['AAECAwQFBgcICQoLDA0ODw=='])]) {
      try {
        await readStreamBytes(wire, { maxBytes: 1 << 20, keyring: kr });
        assert.unreachable(v.file);
      } catch (e) {
        assert.is((e as { code?: string }).code, 'E_DECRYPT', v.file);
      }
    }
    return;
  }
  let plain = wire;
  if (d.encryption) {
    assert.is(wire[0], d.encryption.outerType);
    const len = new DataView(wire.buffer).getUint32(1);
    assert.is(len, d.encryption.declaredLength);
    assert.is(toHex(wire.subarray(0, 5)), d.encryption.aadHex);
    const blob = wire.subarray(5, 5 + len);
    assert.is(blob[0], d.encryption.version);
    assert.is(toHex(blob.subarray(1, 13)), d.encryption.nonce);
    assert.is(toHex(blob.subarray(blob.length - 16)), d.encryption.tag);
    plain = keyring!.decrypt(blob, wire.subarray(0, 5));
    assert.is(toHex(plain), d.encryption.plaintextHex, `${v.file}: plaintext`);
  }
  let msgBytes = plain;
  if (d.compression) msgBytes = verifyCompress(v.file, d.compression, plain);
  const m = await readStreamBytes(wire, { maxBytes: 1 << 24, keyring });
  assert.is(msgBytes[0], d.type, `${v.file}.type`);
  let inner: Uint8Array;
  if (m.type === 'pushPull') {
    assert.equal({ Join: m.join, Nodes: m.nodeCount, UserStateLen: m.userState.length }, d.header, `${v.file}.header`);
    inner = encodePushPull({ join: m.join, userState: m.userState }, m.nodes);
    assert.equal(keyOrder(inner, 1), d.headerKeyOrder, `${v.file}: header key order`);
    assert.is(m.nodes.length, d.nodes.length);
    let off = decodeGo(inner, 1).end;
    m.nodes.forEach((n, i) => {
      const want = d.nodes[i];
      assert.equal(keyOrder(inner, off), want.keyOrder, `${v.file}.nodes[${i}] key order`);
      off = decodeGo(inner, off).end;
      compareBody(`${v.file}.nodes[${i}]`, want.state, nodeStateView(n), ['Addr', 'Meta', 'Vsn']);
      checkAnnotations(`${v.file}.nodes[${i}].Addr`, want.state.Addr, n.addr);
      checkAnnotations(`${v.file}.nodes[${i}].Meta`, want.state.Meta, n.meta);
    });
    assert.is(m.userState.length, d.userState.len);
    assert.is(toHex(m.userState), d.userState.hex);
    verifySerf(`${v.file}.userState`, d.userState.serf, m.userState);
  } else {
    inner = encodeMessage(m as MemberlistMessage);
    if (d.keyOrder) assert.equal(keyOrder(inner, 1), d.keyOrder, `${v.file}: key order`);
    const { view } = memberlistView(m as MemberlistMessage);
    compareBody(v.file, d.body, view, ['SourceAddr', 'Payload']);
    stats.messages++;
  }
  assert.is(toHex(inner), toHex(msgBytes), `${v.file}: re-encode message`);
  const rebuilt = encodeStreamMessage(inner, { compress: d.compression !== undefined });
  assert.is(toHex(rebuilt), toHex(plain), `${v.file}: re-encode stream`);
  stats.reencoded += 2;
  if (keyring) {
    // With a fresh nonce the frame differs, but it must parse back to the same message.
    const again = encodeStreamMessage(inner, { compress: d.compression !== undefined, keyring });
    assert.is(again.length, wire.length);
    assert.is(toHex(again.subarray(0, 5)), toHex(wire.subarray(0, 5)));
    assert.equal(await readStreamBytes(again, { maxBytes: 1 << 24, keyring }), m);
  }
}

const vectors = allWireVectors();

test('the vector directory is found beside the project and holds the expected files', () => {
  assert.ok(vectors.length >= 40, `found ${vectors.length}`);
  assert.ok(vectors.some((v) => v.file === 'udp-ping.json'));
  assert.ok(vectors.some((v) => v.file === 'enc-tcp-pushpull-join-request.json'));
});

for (const v of vectors) {
  test(`vector ${v.file}`, async () => {
    stats.files++;
    if (v.transport === 'udp') verifyUdp(v);
    else await verifyTcp(v);
  });
}

test('summary', () => {
  console.log(`vectors: ${JSON.stringify(stats)}`);
  assert.is(stats.files, vectors.length);
  assert.ok(stats.reencoded > 100);
});

test.run();
