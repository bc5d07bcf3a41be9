import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeConflictMember, decodeCoordinatePayload, decodeFilter, decodeKeyRequest, decodeNodeKeyResponse, decodeSerfMessage,
  decodeTags, encodeConflictMember, encodeCoordinatePayload, encodeKeyRequest, encodeNodeFilter, encodeNodeKeyResponse,
  encodeSerfMessage, encodeTagFilter, encodeTags, tryDecodeTags, SerfMessageType, QUERY_FLAG_ACK, QUERY_FLAG_NO_BROADCAST,
  QUERY_PING, QUERY_CONFLICT, QUERY_INSTALL_KEY, QUERY_USE_KEY, QUERY_REMOVE_KEY, QUERY_LIST_KEYS, type SerfMessage,
} from '../../../agent/gossip/wire/serf-messages.ts';
import { decodePacket } from '../../../agent/gossip/wire/packet.ts';
import { Keyring } from '../../../agent/gossip/wire/keyring.ts';
import { isAgentError } from '../../../agent/errors.ts';
import { hex, loadVector, toHex } from '../../support/vectors.ts';

/** The serf bytes inside the (only / index-th) user message of a captured datagram. */
function serfBytes(file: string, index = 0): Uint8Array {
  const v = loadVector(file);
  const keyring = v.encrypted ? Keyring.fromBase64([v.key_b64!]) : undefined;
  const r = decodePacket(hex(v.hex), { keyring });
  assert.equal(r.errors, [], file);
  const users = r.messages.filter((m) => m.type === 'user');
  const u = users[index];
  if (!u || u.type !== 'user') throw new Error(`${file}: no user message ${index}`);
  return u.payload;
}

test('constants', () => {
  assert.equal(Object.values(SerfMessageType), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.is(QUERY_FLAG_ACK, 1);
  assert.is(QUERY_FLAG_NO_BROADCAST, 2);
  assert.equal([QUERY_PING, QUERY_CONFLICT, QUERY_INSTALL_KEY, QUERY_USE_KEY, QUERY_REMOVE_KEY, QUERY_LIST_KEYS],
    ['_serf_ping', '_serf_conflict', '_serf_install-key', '_serf_use-key', '_serf_remove-key', '_serf_list-keys']);
});

test('captured serf messages decode to the recorded values and re-encode byte-identically', () => {
  const cases: [string, Partial<SerfMessage>][] = [
    ['udp-serf-join.json', { type: 'join', ltime: 2, node: 'n3' }],
    ['udp-serf-leave.json', { type: 'leave', node: 'n3', prune: false }],
    ['udp-serf-user-event.json', { type: 'userEvent', ltime: 1, name: 'deploy', payload: new TextEncoder().encode('payload-v1'), cc: true }],
    ['udp-serf-user-event-nocoalesce.json', { type: 'userEvent', name: 'restart', payload: new Uint8Array(0), cc: false }],
    ['udp-serf-query.json', { type: 'query', name: 'whoami', flags: 1, timeoutNs: 3200000000 }],
    ['udp-serf-query-filtered.json', { type: 'query', name: 'whoami', relayFactor: 1, timeoutNs: 2000000000, id: 318459142 }],
    ['udp-serf-internal-ping-query.json', { type: 'query', name: QUERY_PING }],
    ['udp-serf-query-ack.json', { type: 'queryResponse', flags: 1, payload: new Uint8Array(0) }],
    ['udp-serf-query-response.json', { type: 'queryResponse', flags: 0 }],
    ['udp-serf-relay.json', { type: 'relay', destAddr: Uint8Array.of(127, 0, 0, 1), destPort: 7946, destName: 'n1' }],
    ['enc-udp-user-event.json', { type: 'userEvent' }],
    ['enc-udp-key-list-response.json', { type: 'queryResponse' }],
  ];
  for (const [file, want] of cases) {
    const raw = serfBytes(file);
    const m = decodeSerfMessage(raw);
    for (const [k, v] of Object.entries(want)) assert.equal((m as Record<string, unknown>)[k], v, `${file}.${k}`);
    assert.is(toHex(encodeSerfMessage(m)), toHex(raw), file);
  }
});

test('relay inner message and filters of the captures', () => {
  const relay = decodeSerfMessage(serfBytes('udp-serf-relay.json'));
  assert.ok(relay.type === 'relay');
  if (relay.type !== 'relay') return;
  const inner = decodeSerfMessage(relay.inner);
  assert.ok(inner.type === 'queryResponse' && inner.from === 'n2' && inner.id === 318459142);
  const q = decodeSerfMessage(serfBytes('udp-serf-query-filtered.json'));
  assert.ok(q.type === 'query');
  if (q.type !== 'query') return;
  assert.equal(q.filters.map(decodeFilter), [{ kind: 'node', names: ['n2'] }, { kind: 'tag', tag: 'role', expr: 'd.*' }]);
  assert.is(toHex(encodeNodeFilter(['n2'])), toHex(q.filters[0]!));
  assert.is(toHex(encodeTagFilter('role', 'd.*')), toHex(q.filters[1]!));
});

test('key queries of the encrypted captures', () => {
  const install = decodeSerfMessage(serfBytes('enc-udp-key-install-compound.json', 0));
  const list = decodeSerfMessage(serfBytes('enc-udp-key-install-compound.json', 1));
  assert.ok(install.type === 'query' && list.type === 'query');
  if (install.type !== 'query' || list.type !== 'query') return;
  assert.is(install.name, QUERY_INSTALL_KEY);
  assert.is(list.name, QUERY_LIST_KEYS);
  const key = decodeKeyRequest(install.payload).key;
  assert.is(key.length, 32);
  assert.is(toHex(encodeKeyRequest(key)), toHex(install.payload));
  assert.is(toHex(list.payload), '0781a34b6579a0');
  assert.is(toHex(encodeKeyRequest(new Uint8Array(0))), '0781a34b6579a0');
  const resp = decodeSerfMessage(serfBytes('enc-udp-key-list-response.json'));
  assert.ok(resp.type === 'queryResponse');
  if (resp.type !== 'queryResponse') return;
  const nkr = decodeNodeKeyResponse(resp.payload);
  assert.is(nkr.result, true);
  assert.ok(nkr.keys.length >= 1);
  assert.ok(nkr.keys.includes(nkr.primaryKey));
  assert.is(toHex(encodeNodeKeyResponse(nkr)), toHex(resp.payload));
  const fail = { result: false, message: 'No keyring to modify (encryption not enabled)', keys: [], primaryKey: '' };
  assert.equal(decodeNodeKeyResponse(encodeNodeKeyResponse(fail)), fail);
});

test('push/pull user state of the uncompressed capture re-encodes byte-identically', () => {
  for (const file of ['tcp-pushpull-uncompressed-request.json', 'tcp-pushpull-synthetic-minimal-request.json']) {
    const v = loadVector(file);
    const wire = hex(v.hex);
    const userLen = v.decoded.header?.UserStateLen ?? v.decoded.message?.header?.UserStateLen;
    const state = wire.subarray(wire.length - userLen);
    const m = decodeSerfMessage(state);
    assert.is(m.type, 'pushPull', file);
    assert.is(toHex(encodeSerfMessage(m)), toHex(state), file);
  }
  const m = decodeSerfMessage(hex(loadVector('tcp-pushpull-uncompressed-request.json').hex).subarray(683 - 586));
  assert.ok(m.type === 'pushPull' && m.events.length === 512 && m.statusLTimes.get('c2') === 0 && m.ltime === 1);
});

test('round trips of every kind', () => {
  const msgs: SerfMessage[] = [
    { type: 'leave', ltime: 9, node: 'a', prune: true },
    { type: 'join', ltime: 2 ** 40, node: 'b' },
    { type: 'userEvent', ltime: 3, name: 'e', payload: Uint8Array.of(0, 1), cc: false },
    { type: 'query', ltime: 1, id: 2 ** 31 - 1, addr: Uint8Array.of(10, 0, 0, 1), port: 7946, sourceNode: 'o', filters: [encodeNodeFilter(['x', 'y'])], flags: 3, relayFactor: 255, timeoutNs: 2 ** 40, name: 'q', payload: Uint8Array.of(1) },
    { type: 'queryResponse', ltime: 1, id: 5, from: 'r', flags: 0, payload: Uint8Array.of(1, 2) },
    { type: 'pushPull', ltime: 5, statusLTimes: new Map([['z', 1], ['a', 2]]), leftMembers: ['gone'], eventLTime: 3, events: [null, { ltime: 1, events: [{ name: 'n', payload: Uint8Array.of(7) }] }], queryLTime: 4 },
    { type: 'relay', destAddr: Uint8Array.of(1, 2, 3, 4), destPort: 7946, destName: 'd', inner: encodeSerfMessage({ type: 'join', ltime: 1, node: 'x' }) },
  ];
  for (const m of msgs) assert.equal(decodeSerfMessage(encodeSerfMessage(m)), m, m.type);
});

test('tags, conflict member, coordinate', () => {
  assert.is(toHex(encodeTags({})), 'ff80');
  assert.is(toHex(encodeTags({ role: 'web', dc: 'east' })), 'ff82a4726f6c65a3776562a26463a465617374');
  assert.equal(decodeTags(encodeTags({ role: 'web', dc: 'east' })), { role: 'web', dc: 'east' });
  assert.equal(decodeTags(new TextEncoder().encode('db')), { role: 'db' });
  assert.equal(decodeTags(new Uint8Array(0)), { role: '' });
  assert.equal(decodeTags(Uint8Array.of(0xff, 0x81)), {});
  assert.ok(tryDecodeTags(Uint8Array.of(0xff, 0x81)).error);
  const member = { name: 'n1', addr: Uint8Array.of(127, 0, 0, 1), port: 7946, tags: { role: 'web' }, status: 1, protocolMin: 1, protocolMax: 5, protocolCur: 2, delegateMin: 2, delegateMax: 5, delegateCur: 5 };
  assert.equal(decodeConflictMember(encodeConflictMember(member)), member);
  assert.is(toHex(encodeConflictMember(null)), '06c0');
  assert.is(decodeConflictMember(Uint8Array.of(6, 0xc0)), null);
  // the ack payload of the capture
  const v = loadVector('udp-ack.json');
  const payload = hex(v.decoded.message.body.Payload.hex);
  const c = decodeCoordinatePayload(payload);
  assert.equal(c.vec, v.decoded.message.body.Payload.coordinate.Vec);
  assert.is(c.error, v.decoded.message.body.Payload.coordinate.Error);
  assert.is(toHex(encodeCoordinatePayload(c)), toHex(payload));
  // integral floats stay float64
  const zero = encodeCoordinatePayload({ vec: [0, 0, 0, 0, 0, 0, 0, 0], error: 1.5, adjustment: 0, height: 1e-5 });
  assert.equal(decodeCoordinatePayload(zero), { vec: [0, 0, 0, 0, 0, 0, 0, 0], error: 1.5, adjustment: 0, height: 1e-5 });
  assert.ok(toHex(zero).includes('cb0000000000000000'));
});

test('garbage throws E_DECODE', () => {
  for (const b of [new Uint8Array(0), Uint8Array.of(42), Uint8Array.of(1, 0xc1), Uint8Array.of(4, 0x81, 0xa2, 0x49, 0x44, 0xa1, 0x78), Uint8Array.of(9, 0x80), Uint8Array.of(2, 0x81, 0xa6, 0x45, 0x76, 0x65, 0x6e, 0x74, 0x73, 0x91, 0x05)]) {
    try { decodeSerfMessage(b); assert.unreachable(toHex(b)); } catch (e) { assert.ok(isAgentError(e, 'E_DECODE'), `${toHex(b)} ${String(e)}`); }
  }
  for (const f of [() => decodeFilter(Uint8Array.of(2, 0x90)), () => decodeKeyRequest(Uint8Array.of(8)), () => decodeNodeKeyResponse(Uint8Array.of(7, 0x80)), () => decodeCoordinatePayload(Uint8Array.of(2, 0x80))]) {
    try { f(); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_DECODE'), String(e)); }
  }
});

test.run();
