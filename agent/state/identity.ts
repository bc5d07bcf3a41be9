// Node identity the Cloudy way (CLOUDY-FACTS §1.7):
//   name = <HostID>-<date +%N>-<hostname -s>-<ip>:<port>
// HostID is a 32-hex md5 string generated once and kept in the state dir
// (Cloudy keeps it in /opt/serf/HostID). Cloudy draws a new `date +%N` at every
// start, which leaves the old name behind as a failed member for a day; we keep
// the generated name while host name, IP and port stay the same, and make a new
// one (like Cloudy) when any of them changes.
//
// Community IPv4: `-advertise` wins; else the configured interface (Cloudy's
// SERF_INTERFACE / PRIMARYINTERFACE); else the interface of the default route;
// else the first 10.0.0.0/8 address (cloudynitzar's rule). Cloudy refuses
// loopback addresses unless told explicitly.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIPv4 } from '../discovery/record.ts';
import { AgentError, errorMessage } from '../errors.ts';
import type { NetFacts } from '../system/net-info.ts';
import { AtomicFile } from './atomic-file.ts';

const HOST_ID_RE = /^[0-9a-f]{32}$/;

/** A fresh HostID: md5 hex of random bytes (the form Cloudy stores). */
export function newHostId(random: Uint8Array): string {
  return createHash('md5').update(random).digest('hex');
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

export interface CommunityIpOptions {
  /** `-advertise` address (IP only); used as is. */
  advertise?: string;
  /** Interface named in config (SERF_INTERFACE / PRIMARYINTERFACE). */
  interface?: string;
}

export interface CommunityIpChoice { ip: string; source: 'advertise' | 'interface' | 'default-route' | '10/8' }

const isLoopback = (ip: string): boolean => ip.startsWith('127.');

/** Throws E_CONFIG (named interface missing/without IPv4) or E_UNAVAILABLE (nothing usable). */
export function chooseCommunityIp(facts: NetFacts, opts: CommunityIpOptions = {}): CommunityIpChoice {
  if (opts.advertise) {
    if (!isIPv4(opts.advertise)) throw new AgentError('E_CONFIG', `advertise address ${opts.advertise} is not IPv4`);
    return { ip: opts.advertise, source: 'advertise' };
  }
  const byName = new Map(facts.interfaces.map((i) => [i.name, i.ipv4.filter((a) => !isLoopback(a))]));
  if (opts.interface) {
    const addrs = byName.get(opts.interface);
    if (!addrs) throw new AgentError('E_CONFIG', `interface ${opts.interface} does not exist`);
    if (!addrs[0]) throw new AgentError('E_CONFIG', `interface ${opts.interface} has no IPv4 address`);
    return { ip: addrs[0], source: 'interface' };
  }
  if (facts.defaultRouteInterface) {
    const a = byName.get(facts.defaultRouteInterface)?.[0];
    if (a) return { ip: a, source: 'default-route' };
  }
  for (const i of facts.interfaces) {
    const a = i.ipv4.find((x) => x.startsWith('10.'));
    if (a) return { ip: a, source: '10/8' };
  }
  throw new AgentError('E_UNAVAILABLE', 'no community IPv4 found (no default route, no 10.0.0.0/8 address); set -advertise or an interface');
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
  const random = gen.random ?? (() => randomBytes(32));
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

/** Reads a HostID file written by Cloudy (e.g. /opt/serf/HostID) to keep a migrated node's identity. */
export async function readCloudyHostId(path: string): Promise<string | null> {
  try {
    const id = (await readFile(path, 'utf8')).trim();
    return HOST_ID_RE.test(id) ? id : null;
  } catch {
    return null;
  }
}
