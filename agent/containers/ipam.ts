// Static IPv4 addresses for containers on the agent's bridge (pure). LXC
// configures the address before init runs (lxc.net.0.ipv4.address), so
// containers need no DHCP client and the agent always knows where to forward.
import { AgentError } from '../errors.ts';
import { validateIpv4 } from './validate.ts';

export interface BridgeNetwork {
  /** Bridge the containers' veth devices join (e.g. lxcbr0). */
  bridge: string;
  /** Subnet in CIDR form, e.g. 10.0.3.0/24. */
  cidr: string;
  /** The host's address on the bridge (the containers' gateway). */
  gateway: string;
}

export function ipToInt(ip: string): number {
  validateIpv4(ip);
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; prefix: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
  if (!m || Number(m[2]) < 8 || Number(m[2]) > 30) throw new AgentError('E_CONFIG', `invalid container subnet '${cidr}' (want a.b.c.d/8..30)`);
  const prefix = Number(m[2]);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ipToInt(m[1]!) & mask) >>> 0, prefix };
}

/** Lowest free host address of the subnet (not network, broadcast, gateway or taken). */
export function allocateIpv4(net: BridgeNetwork, taken: Iterable<string>): string {
  const { base, prefix } = parseCidr(net.cidr);
  const size = 2 ** (32 - prefix);
  const used = new Set<number>([...taken].map(ipToInt));
  used.add(ipToInt(net.gateway));
  for (let i = 1; i < size - 1; i++) {
    const a = base + i;
    if (!used.has(a)) return intToIp(a);
  }
  throw new AgentError('E_LIMIT', `no free address left in ${net.cidr}`);
}
