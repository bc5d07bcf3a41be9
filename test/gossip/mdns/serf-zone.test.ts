// mDNS pieces of -discover: DNS codec (incl. compression pointers as miekg/dns
// writes them), serf's zone answers, the entry collector's SRV-target alias.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeMessage, encodeMessage, emptyMessage, TYPE_A, TYPE_PTR, TYPE_SRV, TYPE_TXT, CLASS_IN } from '../../../agent/gossip/mdns/dns-message.ts';
import { EntryCollector, joinAddress, pollQuery, SerfZone } from '../../../agent/gossip/mdns/serf-zone.ts';

const zone = new SerfZone({ discover: 'cloudy', nodeName: 'n1', hostname: 'box', addr: '10.223.0.5', port: 5000 });

test('poll query: the bytes of serf\'s PTR question (id, no flags, one question, IN)', () => {
  const b = encodeMessage(pollQuery('cloudy', 0x1234));
  const expected = Buffer.concat([
    Buffer.from([0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    Buffer.from('\x0c_serf_cloudy\x04_tcp\x05local\x00', 'latin1'),
    Buffer.from([0, 12, 0, 1]),
  ]);
  assert.equal([...b], [...expected]);
});

test('zone answers the service question with PTR, SRV, A and TXT (TTL 120)', () => {
  const r = zone.answer(decodeMessage(encodeMessage(pollQuery('cloudy', 7))))!;
  assert.ok(r.response && r.authoritative);
  assert.is(r.id, 0, 'multicast-style answer id');
  assert.equal(r.answers.map((a) => a.type), [TYPE_PTR, TYPE_SRV, TYPE_A, TYPE_TXT]);
  assert.ok(r.answers.every((a) => a.ttl === 120));
  const srv = r.answers[1] as { priority: number; weight: number; port: number; target: string; name: string };
  assert.equal([srv.priority, srv.weight, srv.port, srv.target, srv.name], [10, 1, 5000, 'box.', 'n1._serf_cloudy._tcp.local.']);
  assert.equal((r.answers[3] as { txt: string[] }).txt, ["Serf 'cloudy' cluster"]);
  assert.is(zone.answer(decodeMessage(encodeMessage(pollQuery('other', 7)))), null, 'other clusters are not answered');
});

test('QU bit: answer carries the query id', () => {
  const q = pollQuery('cloudy', 99);
  q.questions[0]!.cls |= 0x8000;
  assert.is(zone.answer(q)!.id, 99);
});

test('a compressed response (pointers, as miekg/dns packs) decodes and completes one entry', () => {
  // header: response, AA, 4 answers
  const parts: number[] = [0, 0, 0x84, 0, 0, 0, 0, 4, 0, 0, 0, 0];
  const at = (): number => parts.length;
  const name = (s: string) => { for (const l of s.split('.')) { parts.push(l.length, ...Buffer.from(l)); } parts.push(0); };
  const u16 = (v: number) => parts.push(v >> 8, v & 0xff);
  const rr = (type: number, rdata: () => void) => {
    u16(type); u16(CLASS_IN); parts.push(0, 0, 0, 120);
    const lenAt = at(); u16(0); const start = at(); rdata();
    const len = at() - start; parts[lenAt] = len >> 8; parts[lenAt + 1] = len & 0xff;
  };
  const svcAt = at(); name('_serf_cloudy._tcp.local');
  let instAt = 0;
  rr(TYPE_PTR, () => { instAt = at(); parts.push(2, ...Buffer.from('n2')); parts.push(0xc0 | (svcAt >> 8), svcAt & 0xff); });
  parts.push(0xc0, instAt);
  let hostAt = 0;
  rr(TYPE_SRV, () => { u16(10); u16(1); u16(5001); hostAt = at(); name('peer'); });
  parts.push(0xc0, hostAt);
  rr(TYPE_A, () => parts.push(10, 223, 0, 9));
  parts.push(0xc0, instAt);
  rr(TYPE_TXT, () => { const t = Buffer.from("Serf 'cloudy' cluster"); parts.push(t.length, ...t); });
  const m = decodeMessage(Uint8Array.from(parts));
  assert.is(m.answers.length, 4);
  const c = new EntryCollector();
  const done = c.add(m);
  assert.is(done.length, 1);
  assert.is(joinAddress(done[0]!), '10.223.0.9:5001');
  assert.is(done[0]!.info, "Serf 'cloudy' cluster");
  assert.is(c.add(m).length, 0, 'an entry is reported once');
});

test('entry without TXT is not complete; garbage is an E_DECODE error', () => {
  const r = zone.answer(pollQuery('cloudy', 1))!;
  const c = new EntryCollector();
  assert.is(c.add({ ...r, answers: r.answers.filter((a) => a.type !== TYPE_TXT) }).length, 0);
  try { decodeMessage(Uint8Array.from([0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12])); assert.unreachable(); } catch (e) {
    assert.is((e as { code: string }).code, 'E_DECODE');
  }
  assert.is(zone.answer(emptyMessage({ response: true, questions: pollQuery('cloudy', 1).questions })), null, 'responses are not answered');
});

test('IPv6 advertise address gives an AAAA record that round-trips', () => {
  const z6 = new SerfZone({ discover: 'cloudy', nodeName: 'n6', hostname: 'box6', addr: 'fd00::5', port: 5000 });
  const m = decodeMessage(encodeMessage(z6.answer(pollQuery('cloudy', 1))!));
  const done = new EntryCollector().add(m);
  assert.is(joinAddress(done[0]!), '[fd00::5]:5000');
});

test.run();
