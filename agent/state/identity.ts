// Node identity the Cloudy way (CLOUDY-FACTS §1.7):
//   name = <HostID>-<date +%N>-<hostname -s>-<ip>:<port>
// HostID is a 32-hex md5 string generated once and kept in the state dir
// (Cloudy keeps it in /opt/serf/HostID). Cloudy draws a new `date +%N` at every
// start, which leaves the old name behind as a failed member for a day; we keep
// the generated name while host name, IP and port stay the same, and make a new
// one (like Cloudy) when any of them changes.
//
// Which community IPv4 goes into the name is decided in config/host-defaults.ts.
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import { join } from 'node:path';
import { AgentError, errorMessage } from '../errors.ts';
import { AtomicFile } from './atomic-file.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

const HOST_ID_RE = /^[0-9a-f]{32}$/;

/** A fresh HostID: md5 hex of random bytes (the form Cloudy stores). */
export function newHostId(random: Uint8Array): string {
  return nodeCrypto().createHash('md5').update(random).digest('hex');
}

/** `hostname -s`: the host name up to the first dot. */
export function shortHostname(h: string): string {
  return h.split('.')[0] || h;
}

/** `date +%N` of a moment: nanoseconds within the second, 9 digits. */
export function nanosField(epochNanos: bigint): string {
  return (epochNanos % 1_000_000_000n).toString().padStart(9, '0');
}

export function cloudyNodeName(p: { hostId: string; nanos: string; hostname: string; ip: string; port: number }): string {
  return `${p.hostId}-${p.nanos}-${shortHostname(p.hostname)}-${p.ip}:${p.port}`;
}

export interface NodeIdentity { hostId: string; nodeName: string }

interface IdentityFile { version: 1; nodeName: string; hostname: string; ip: string; port: number }

/**
 * Loads (or creates once) the HostID and the node name for (hostname, ip, port).
 * Files: <stateDir>/HostID (32 hex + newline, as Cloudy) and <stateDir>/node-name.json.
 */
export async function loadIdentity(
  stateDir: string,
  p: { hostname: string; ip: string; port: number },
  gen: { random?: () => Uint8Array; epochNanos?: () => bigint } = {},
): Promise<NodeIdentity> {
  const random = gen.random ?? (() => nodeCrypto().randomBytes(32));
  const epochNanos = gen.epochNanos ?? (() => BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n);
  const idFile = new AtomicFile(join(stateDir, 'HostID'));
  let hostId = '';
  const rawId = await idFile.read();
  if (rawId) hostId = new TextDecoder().decode(rawId).trim();
  if (!HOST_ID_RE.test(hostId)) {
    hostId = newHostId(random());
    await idFile.write(new TextEncoder().encode(hostId + '\n'));
  }
  const nameFile = new AtomicFile(join(stateDir, 'node-name.json'));
  let saved: IdentityFile | null = null;
  try {
    const raw = await nameFile.read();
    if (raw) saved = JSON.parse(new TextDecoder().decode(raw)) as IdentityFile;
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw new AgentError('E_IO', `node name: ${errorMessage(e)}`);
  }
  if (saved && saved.version === 1 && saved.hostname === p.hostname && saved.ip === p.ip && saved.port === p.port
    && typeof saved.nodeName === 'string' && saved.nodeName.startsWith(hostId + '-')) {
    return { hostId, nodeName: saved.nodeName };
  }
  const nodeName = cloudyNodeName({ hostId, nanos: nanosField(epochNanos()), ...p });
  const doc: IdentityFile = { version: 1, nodeName, hostname: p.hostname, ip: p.ip, port: p.port };
  await nameFile.write(new TextEncoder().encode(JSON.stringify(doc) + '\n'));
  return { hostId, nodeName };
}
