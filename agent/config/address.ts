// host:port addresses, parsed and written one way for every user: gossip
// bind/advertise/join, the RPC address, the seed file, identity.
//   "1.2.3.4"  "1.2.3.4:5000"  "[::1]:7373"  "::1" / "fe80::1%eth0" (bare IPv6: default port)
//   "host" / "host:5000"  ":7373" (any address: 0.0.0.0)
import { isIP } from 'node:net';
import { AgentError } from '../errors.ts';

export interface HostPort { host: string; port: number }

/**
 * Parses `s` (port `defaultPort` when it has none). E_CONFIG naming `what`
 * ("-bind", "rpc-addr", "join address") on a missing ']', a port that is not
 * 0..65535, or several colons outside brackets that are not an IPv6 address.
 */
export function parseHostPort(s: string, defaultPort: number, what = 'address'): HostPort {
  const v = s.trim();
  let host: string;
  let portStr: string | undefined;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) throw new AgentError('E_CONFIG', `${what}: missing ']' in ${JSON.stringify(s)}`);
    host = v.slice(1, end);
    const rest = v.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new AgentError('E_CONFIG', `${what}: bad address ${JSON.stringify(s)}`);
      portStr = rest.slice(1);
    }
  } else if (v.indexOf(':') !== v.lastIndexOf(':') && isIP(v) === 6) {
    // (Two colons at least before asking isIP: Node's IPv6 pattern is costly to
    // compile, and start-up parses several host:port values.)
    host = v;
  } else {
    const i = v.lastIndexOf(':');
    if (i >= 0) { host = v.slice(0, i); portStr = v.slice(i + 1); } else host = v;
  }
  let port = defaultPort;
  if (portStr !== undefined) {
    if (!/^\d{1,5}$/.test(portStr) || Number(portStr) > 65535) {
      throw new AgentError('E_CONFIG', `${what}: bad port in ${JSON.stringify(s)}`);
    }
    port = Number(portStr);
  }
  if (host === '') host = '0.0.0.0';
  return { host, port };
}

/** Go's net.JoinHostPort: IPv6 hosts in brackets ("[::1]:7373", "1.2.3.4:5000"). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
