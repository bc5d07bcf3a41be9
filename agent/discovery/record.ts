// From a ServiceAnnouncement (what a caller publishes) to the record that goes
// into the tag, the way the avahi-ps serf plug builds it (CLOUDY-FACTS §1.2).
import { AgentError } from '../errors.ts';
import type { ServiceAnnouncement, ServiceCheck } from './publisher.ts';
import type { ServiceRecord } from './codec.ts';

/** Facts about this node that every record carries. */
export interface NodeFacts {
  /** `uname -n`; the record's host is `<hostname>.guifi.local`. */
  hostname: string;
  /** IPv4 announced in `i` unless the service names its own. */
  communityIp: string;
  /** `e`: the microcloud name (getinconf NETWORK_NAME; "guifi" on Cloudy ISO installs). */
  microcloud: string;
}

/** Cloudy's CLOUD_NAME is always "guifi": hosts are `<uname -n>.guifi.local`. */
export const CLOUDY_HOST_SUFFIX = '.guifi.local';

// avahi-ps's search (test/fixtures/avahi-ps/serf-search.sh) turns every ' into
// ", splits jq's output on whitespace and lets the shell glob it: a quote, a
// backslash, a control or non-ASCII character, or * ? [ in any value breaks
// every node's search. TXT is turned from k=v&k=v into space-separated items,
// so `&` and whitespace split the record too, and Clommunity/monitor's plug
// splits TXT on `,` (einfo): refused in TXT.
const FORBIDDEN = /[^\x20-\x7e]|["'\\*?[]/;
const FORBIDDEN_IN_TXT = /[\s&,]/;

export function toRecord(svc: ServiceAnnouncement, facts: NodeFacts): ServiceRecord {
  return {
    s: svc.type,
    d: svc.description.replace(/\s/g, '_'),
    m: `${facts.hostname}${CLOUDY_HOST_SUFFIX}`,
    i: svc.ip ?? facts.communityIp,
    p: String(svc.port),
    e: facts.microcloud,
    t: (svc.txt ?? '').replace(/&/g, ' '),
  };
}

function invalid(what: string, why: string): never {
  throw new AgentError('E_INVALID', `service ${what} ${why}`, { field: what });
}

/** Throws E_INVALID unless the announcement can be encoded safely for every Cloudy reader. */
export function validateAnnouncement(svc: ServiceAnnouncement): void {
  if (typeof svc.type !== 'string' || svc.type === '') invalid('type', 'is empty');
  if (svc.type.length > 64) invalid('type', 'is longer than 64 characters');
  if (/\s/.test(svc.type) || FORBIDDEN.test(svc.type)) invalid('type', 'contains whitespace, quotes, backslash, * ? [, control or non-ASCII characters');
  if (typeof svc.description !== 'string') invalid('description', 'is missing');
  if (FORBIDDEN.test(svc.description.replace(/ /g, '_'))) invalid('description', 'contains quotes, backslash, * ? [, control or non-ASCII characters');
  if (!Number.isInteger(svc.port) || svc.port < 0 || svc.port > 65535) invalid('port', 'is not an integer 0..65535');
  if (svc.txt !== undefined && (FORBIDDEN.test(svc.txt) || FORBIDDEN_IN_TXT.test(svc.txt))) {
    invalid('txt', 'contains a character avahi-ps search cannot carry (whitespace, & , quotes, backslash, * ? [, control or non-ASCII); one k=v item, printable ASCII');
  }
  if (svc.ip !== undefined && !isIPv4(svc.ip)) invalid('ip', 'is not an IPv4 address');
  if (svc.check) validateCheck(svc.check);
}

function validateCheck(c: ServiceCheck): void {
  const p = c.probe;
  if (!p || typeof p !== 'object') invalid('check', 'has no probe');
  switch (p.kind) {
    case 'tcp':
      if (p.port !== undefined && (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)) invalid('check', 'tcp port is not 1..65535');
      break;
    case 'http':
      try {
        const u = new URL(p.url);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') invalid('check', 'url is not http(s)');
      } catch (e) {
        if (e instanceof AgentError) throw e;
        invalid('check', 'url does not parse');
      }
      break;
    case 'exec':
      if (!Array.isArray(p.command) || p.command.length === 0 || p.command.some((a) => typeof a !== 'string')) {
        invalid('check', 'command is not a non-empty argument array');
      }
      break;
    default:
      invalid('check', 'kind is not tcp, http or exec');
  }
  for (const [k, v] of [['intervalMs', c.intervalMs], ['timeoutMs', c.timeoutMs], ['failuresToWithdraw', c.failuresToWithdraw]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) invalid('check', `${k} is not a positive integer`);
  }
}

/** Dotted-quad IPv4 (no leading zeros, each part 0..255). */
export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** Identity of a service on its node: (type, port), as avahi-ps keys it. */
export function serviceKey(type: string, port: number): string {
  return `${type}\u0000${port}`;
}
