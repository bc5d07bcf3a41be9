// Reader of guifi.net's CNML for one node (`/guifi/cnml/<id>/node`): the node
// title, its devices (id, title = nick, type, MAC), each device's IPv4
// interfaces and declared services. Cloudy's GUI reads exactly these
// (CLOUDY-FACTS §3); everything else in the document (zones, radios' other
// attributes, links, unknown elements) is ignored. Interfaces are taken both
// directly under a device and under its radios, as CNML nests them for radio
// devices. Parsing goes through fast-xml-parser with validation on, so a
// malformed document is an error and never a half-read node.
import { XMLParser } from 'fast-xml-parser';
import { AgentError, errorMessage } from '../errors.ts';

export interface CnmlInterface {
  ipv4: string;
  mask: string;
  /** '' when CNML does not say. */
  mac: string;
}

export interface CnmlService {
  id: number;
  title: string;
  type: string;
}

export interface CnmlDevice {
  id: number;
  /** The device's nick. */
  title: string;
  type: string;
  /** Normalized AA:BB:CC:DD:EE:FF, from the device or its first interface with one; '' when unknown. */
  mac: string;
  interfaces: CnmlInterface[];
  services: CnmlService[];
}

export interface CnmlNode {
  id: number;
  title: string;
  devices: CnmlDevice[];
}

type El = Record<string, unknown>;

// Made on the first CNML read, not at start.
let parserMade: XMLParser | null = null;
const parser = (): XMLParser => (parserMade ??= new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseAttributeValue: false,
  parseTagValue: false,
  // Every element as a list, so one device and many devices read the same way.
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
}));

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(s: string): boolean {
  return IPV4.test(s);
}

/** `aa-bb-cc-dd-ee-ff`, `AABB.CCDD.EEFF`, ... -> `AA:BB:CC:DD:EE:FF`; null when it is not a MAC. */
export function normalizeMac(s: string): string | null {
  const hex = s.replace(/[^0-9a-fA-F]/g, '');
  if (hex.length !== 12 || !/^[0-9a-fA-F:.\- ]+$/.test(s.trim())) return null;
  return hex.toUpperCase().match(/../g)!.join(':');
}

function attr(el: El, name: string): string {
  const v = el[`@${name}`];
  return typeof v === 'string' ? v.trim() : '';
}

function children(el: El, name: string): El[] {
  const v = el[name];
  return Array.isArray(v) ? v.filter((x): x is El => x !== null && typeof x === 'object') : [];
}

function positiveInt(s: string): number | null {
  return /^\d{1,15}$/.test(s) && Number(s) > 0 ? Number(s) : null;
}

function readInterface(el: El): CnmlInterface | null {
  const ipv4 = attr(el, 'ipv4');
  if (!isIpv4(ipv4)) return null;
  const mask = attr(el, 'mask');
  return { ipv4, mask: isIpv4(mask) ? mask : '', mac: normalizeMac(attr(el, 'mac')) ?? '' };
}

function readDevice(el: El): CnmlDevice | null {
  const id = positiveInt(attr(el, 'id'));
  if (id === null) return null;
  const ifEls = [...children(el, 'interface'), ...children(el, 'radio').flatMap((r) => children(r, 'interface'))];
  const interfaces = ifEls.map(readInterface).filter((i): i is CnmlInterface => i !== null);
  const ifaceMac = ifEls.map((i) => normalizeMac(attr(i, 'mac'))).find((m) => m !== null);
  const services: CnmlService[] = [];
  for (const s of children(el, 'service')) {
    const sid = positiveInt(attr(s, 'id'));
    const type = attr(s, 'type');
    if (sid !== null && type !== '') services.push({ id: sid, title: attr(s, 'title'), type });
  }
  return {
    id, title: attr(el, 'title'), type: attr(el, 'type'),
    mac: normalizeMac(attr(el, 'mac')) ?? ifaceMac ?? '',
    interfaces, services,
  };
}

/** Depth-first search for `<node id=ID>` wherever the document nests it (network, zones). */
function findNode(el: El, id: number, depth = 0): El | null {
  if (depth > 32) return null;
  for (const n of children(el, 'node')) if (positiveInt(attr(n, 'id')) === id) return n;
  for (const [k, v] of Object.entries(el)) {
    if (k.startsWith('@') || k === 'node' || !Array.isArray(v)) continue;
    for (const c of v) {
      if (c === null || typeof c !== 'object') continue;
      const found = findNode(c as El, id, depth + 1);
      if (found) return found;
    }
  }
  return null;
}

/**
 * The node `nodeId` of a CNML document. E_DECODE for a document that is not
 * well-formed XML or not CNML; E_NOT_FOUND when it has no such node (guifi.net
 * answers an unknown id with an empty CNML).
 */
export function parseCnmlNode(xml: string, nodeId: number): CnmlNode {
  let doc: El;
  try {
    doc = parser().parse(xml, true) as El;
  } catch (e) {
    throw new AgentError('E_DECODE', `CNML of node ${nodeId} is not well-formed XML: ${errorMessage(e)}`);
  }
  const root = children(doc, 'cnml')[0];
  if (!root) throw new AgentError('E_DECODE', `CNML of node ${nodeId}: no <cnml> root element`);
  const node = findNode(root, nodeId);
  if (!node) throw new AgentError('E_NOT_FOUND', `guifi.net node ${nodeId} not found (its CNML has no <node id="${nodeId}">)`);
  const devices = children(node, 'device').map(readDevice).filter((d): d is CnmlDevice => d !== null);
  return { id: nodeId, title: attr(node, 'title'), devices };
}
