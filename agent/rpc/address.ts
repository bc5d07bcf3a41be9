// host:port parsing for RPC and gossip addresses ("127.0.0.1:7373",
// "[::1]:7373", "::1" bare, "host" without port).
import { isIP } from 'node:net';
import { AgentError } from '../errors.ts';

export interface HostPort { host: string; port: number }

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
  } else if (isIP(v) === 6) {
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

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
