// Choosing the address to advertise when binding to a wildcard (0.0.0.0 / ::),
// like memberlist's FinalAdvertiseAddr: a private address is preferred (a
// community-network node usually has a 10.x Guifi address), then any
// non-loopback one of the same family.

import os from 'node:os';
import net from 'node:net';
import { AgentError } from '../../errors.ts';

export function isWildcard(addr: string): boolean {
  return addr === '0.0.0.0' || addr === '::' || addr === '';
}

function isPrivateV4(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

function isPrivateV6(ip: string): boolean {
  return /^f[cd]/i.test(ip); // unique local fc00::/7
}

/** Picks an advertise address for a wildcard bind; throws E_CONFIG when none fits. */
export function pickAdvertiseAddr(bindAddr: string, interfaces = os.networkInterfaces()): string {
  const v6 = bindAddr === '::';
  const candidates: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) {
      if (i.internal) continue;
      if (v6 ? i.family !== 'IPv6' : i.family !== 'IPv4') continue;
      if (v6 && /^fe80:/i.test(i.address)) continue; // link-local needs a zone: not advertisable
      if (net.isIP(i.address)) candidates.push(i.address);
    }
  }
  const priv = candidates.find((ip) => (v6 ? isPrivateV6(ip) : isPrivateV4(ip)));
  const pick = priv ?? candidates[0];
  if (!pick) throw new AgentError('E_CONFIG', `no address to advertise for bind ${bindAddr}: set an advertise address`);
  return pick;
}
