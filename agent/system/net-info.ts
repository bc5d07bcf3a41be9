// Read-only network facts of this host, for node identity and the community
// IP (CLOUDY-FACTS §1.2, §1.7): host name, IPv4 addresses per interface, and
// the interface of the IPv4 default route (/proc/net/route). Everything that
// decides from these facts is pure and lives elsewhere (agent/state/identity.ts).
import { hostname, networkInterfaces } from 'node:os';
import { readFile } from 'node:fs/promises';

export interface InterfaceInfo {
  name: string;
  /** IPv4 addresses in the order the kernel lists them. */
  ipv4: string[];
}

export interface NetFacts {
  /** `uname -n`. */
  hostname: string;
  interfaces: InterfaceInfo[];
  /** Interface of the lowest-metric IPv4 default route, if any. */
  defaultRouteInterface: string | null;
}

export async function readNetFacts(procNetRoute = '/proc/net/route'): Promise<NetFacts> {
  const interfaces: InterfaceInfo[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const ipv4 = (addrs ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
    interfaces.push({ name, ipv4 });
  }
  let routeText = '';
  try {
    routeText = await readFile(procNetRoute, 'utf8');
  } catch {
    // No procfs (or not Linux): no default route known; callers fall back to 10/8.
  }
  return { hostname: hostname(), interfaces, defaultRouteInterface: parseDefaultRoute(routeText) };
}

/**
 * /proc/net/route: a header line, then `Iface Destination Gateway Flags RefCnt
 * Use Metric Mask ...` with hex fields. A default route has Destination and
 * Mask 00000000 and the RTF_UP flag (0x1); the lowest Metric wins.
 */
export function parseDefaultRoute(text: string): string | null {
  let best: { iface: string; metric: number } | null = null;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, , flagsHex, , , metricStr, mask] = f as [string, string, string, string, string, string, string, string];
    const flags = parseInt(flagsHex, 16);
    if (dest !== '00000000' || mask !== '00000000' || !(flags & 0x1)) continue;
    const metric = Number(metricStr);
    if (!best || metric < best.metric) best = { iface, metric };
  }
  return best?.iface ?? null;
}
