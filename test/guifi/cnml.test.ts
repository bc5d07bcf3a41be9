import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCnmlNode, normalizeMac } from '../../agent/guifi/cnml.ts';
import { GuifiStandIn } from './stand-in.ts';
import { isAgentError } from '../../agent/errors.ts';

function db(extra: boolean): { s: GuifiStandIn; nodeId: number; router: number; cloudy: number } {
  const s = new GuifiStandIn();
  s.extraCnml = extra;
  s.addUser('alice', 'pw');
  const nodeId = s.addNode('Node & "Co" <1>', 'alice');
  const router = s.addDevice({ nodeId, nick: 'RB', type: 'radio', mac: '00:0c:42:00:00:01', ipv4: '10.1.2.1', mask: '255.255.255.224' });
  const cloudy = s.addDevice({ nodeId, nick: 'N-Cloudy', type: 'cloudy', mac: 'aa:bb:cc:dd:ee:ff', ipv4: '10.1.2.2', mask: '255.255.255.224' });
  s.services.set(999, { id: 999, name: 'SNPgraphs1', nick: 'snp1', serverId: cloudy, type: 'SNPgraphs', status: 'Working' });
  return { s, nodeId, router, cloudy };
}

test('CNML: node title, devices with id/title/type/MAC, IPv4 interfaces, services', () => {
  const { s, nodeId, router, cloudy } = db(false);
  const n = parseCnmlNode(s.cnmlXml(nodeId), nodeId);
  assert.is(n.id, nodeId);
  assert.is(n.title, 'Node & "Co" <1>');
  assert.equal(n.devices.map((d) => [d.id, d.title, d.type, d.mac]), [
    [router, 'RB', 'radio', '00:0C:42:00:00:01'], [cloudy, 'N-Cloudy', 'cloudy', 'AA:BB:CC:DD:EE:FF'],
  ]);
  assert.equal(n.devices[1]!.interfaces, [{ ipv4: '10.1.2.2', mask: '255.255.255.224', mac: 'AA:BB:CC:DD:EE:FF' }]);
  assert.equal(n.devices[1]!.services, [{ id: 999, title: 'SNPgraphs1', type: 'SNPgraphs' }]);
});

test('CNML with extra elements and attributes reads the same; decoys outside the node or in unknown elements are ignored', () => {
  const plain = db(false);
  const extra = db(true);
  const xml = extra.s.cnmlXml(extra.nodeId);
  assert.ok(xml.includes('unknown_element') && xml.includes('<radio') && xml.includes('CDATA') && xml.includes('xmlns:gf'), 'the document really has the extras');
  assert.equal(parseCnmlNode(xml, extra.nodeId), parseCnmlNode(plain.s.cnmlXml(plain.nodeId), plain.nodeId));
  const n = parseCnmlNode(xml, extra.nodeId);
  assert.not.ok(n.devices.some((d) => d.id === 4242 || d.id === 99998));
  assert.is(n.devices[0]!.interfaces[0]!.ipv4, '10.1.2.1', 'radio interfaces nested in <radio> are read');
});

test('CNML: malformed XML, HTML, no <cnml>, an unknown node', () => {
  const { s, nodeId } = db(false);
  const xml = s.cnmlXml(nodeId);
  const code = (f: () => unknown): string => { try { f(); return 'none'; } catch (e) { assert.ok(isAgentError(e)); return (e as { code: string }).code; } };
  assert.is(code(() => parseCnmlNode(xml.slice(0, xml.length / 2), nodeId)), 'E_DECODE');
  assert.is(code(() => parseCnmlNode('<html><body><p>maintenance<br></body></html>', nodeId)), 'E_DECODE');
  assert.is(code(() => parseCnmlNode('<?xml version="1.0"?><rss><node id="1"/></rss>', 1)), 'E_DECODE');
  assert.is(code(() => parseCnmlNode('{"json":true}', nodeId)), 'E_DECODE');
  assert.is(code(() => parseCnmlNode(s.cnmlXml(424242), 424242)), 'E_NOT_FOUND');
  assert.is(code(() => parseCnmlNode(xml, nodeId + 1000)), 'E_NOT_FOUND');
});

test('CNML: devices without a usable id and interfaces without an IPv4 are skipped', () => {
  const xml = `<cnml><network><node id="7" title="T">
    <device title="no id" type="cloudy"/><device id="x" type="cloudy"/>
    <device id="8" title="d" type="cloudy"><interface ipv4="" mask=""/><interface ipv4="10.0.0.300"/><interface ipv4="10.0.0.3" mask="bad"/>
      <service type="DNS"/><service id="3" type=""/><service id="4" title="t" type="DNS"/></device>
  </node></network></cnml>`;
  const n = parseCnmlNode(xml, 7);
  assert.is(n.devices.length, 1);
  assert.equal(n.devices[0]!.interfaces, [{ ipv4: '10.0.0.3', mask: '', mac: '' }]);
  assert.equal(n.devices[0]!.services, [{ id: 4, title: 't', type: 'DNS' }]);
  assert.is(n.devices[0]!.mac, '');
});

test('MAC normalisation', () => {
  assert.is(normalizeMac('aa-bb-cc-dd-ee-0f'), 'AA:BB:CC:DD:EE:0F');
  assert.is(normalizeMac('aabb.ccdd.ee0f'), 'AA:BB:CC:DD:EE:0F');
  assert.is(normalizeMac('AA:BB:CC:DD:EE'), null);
  assert.is(normalizeMac('zz:bb:cc:dd:ee:ff'), null);
  assert.is(normalizeMac(''), null);
});

test.run();
