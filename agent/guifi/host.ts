// The MAC guifi.net gets for this box: the community interface's (Cloudy sends
// that one's, CLOUDY-FACTS §3 step 3). The interface is the named one, else the
// one holding the community IPv4 (chosen by the agent's usual rule).
import { networkInterfaces } from 'node:os';
import { readNetFacts } from '../system/net-info.ts';
import { chooseCommunityIp } from '../config/host-defaults.ts';
import { AgentError, errorMessage } from '../errors.ts';
import { normalizeMac } from './cnml.ts';

const ZERO_MAC = '00:00:00:00:00:00';

function usable(mac: string | undefined): string | null {
  const m = mac ? normalizeMac(mac) : null;
  return m === null || m === ZERO_MAC ? null : m;
}

/** MAC of `iface`, or of the interface holding `ip`; null when unknown (loopback, virtual interfaces). */
export function macOf(o: { iface?: string; ip?: string }): string | null {
  const all = networkInterfaces();
  if (o.iface !== undefined && o.iface !== '') return usable(all[o.iface]?.[0]?.mac);
  for (const addrs of Object.values(all)) {
    const a = addrs?.find((x) => x.address === o.ip);
    if (a) return usable(a.mac);
  }
  return null;
}

/** The community interface's MAC, or E_UNAVAILABLE saying how to give one. */
export async function communityMac(o: { iface?: string; ip?: string } = {}): Promise<string> {
  let ip = o.ip;
  if ((o.iface === undefined || o.iface === '') && (ip === undefined || ip === '')) {
    try {
      ip = chooseCommunityIp(await readNetFacts()).ip;
    } catch (e) {
      throw new AgentError('E_UNAVAILABLE', `no community interface to take a MAC from (${errorMessage(e)}); give one with -mac`);
    }
  }
  const mac = macOf({ ...(o.iface ? { iface: o.iface } : {}), ...(ip ? { ip } : {}) });
  if (mac === null) throw new AgentError('E_UNAVAILABLE', `no MAC address on the community interface${o.iface ? ` ${o.iface}` : ip ? ` (${ip})` : ''}; give one with -mac`);
  return mac;
}
