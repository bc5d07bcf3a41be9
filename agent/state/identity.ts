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
import { readFile } from 'node:fs/promises';
import { AtomicFile } from './atomic-file.ts';
import { STORAGE_ERRORS } from './state-health.ts';

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

/**
 * What loading the identity found that the running agent must still report or
 * finish, once its StateHealth exists (identity is decided before it, in the
 * host defaults): a bad file moved aside, or a write the disk refused (full or
 * read-only at the very first start: the agent runs with the identity in memory
 * and the daemon hands the bytes to an AtomicFile with health, which logs,
 * counts and retries them like any other state file).
 */
export type IdentityNote =
  | { kind: 'aside'; path: string; to: string; why: string; instead: string }
  | { kind: 'unsaved'; path: string; bytes: Uint8Array; reason: string };

export interface NodeIdentity { hostId: string; nodeName: string; notes?: IdentityNote[] }

interface IdentityFile { version: 1; nodeName: string; hostname: string; ip: string; port: number }

const NAME_RE = /^([0-9a-f]{32})-\d{9}-/;

function parseIdentityFile(bytes: Uint8Array): IdentityFile {
  let d: Partial<IdentityFile> | null;
  try { d = JSON.parse(new TextDecoder().decode(bytes)) as Partial<IdentityFile> | null; } catch (e) {
    throw new AgentError('E_DECODE', `not valid JSON: ${errorMessage(e)}`);
  }
  if (!d || typeof d !== 'object' || d.version !== 1) throw new AgentError('E_DECODE', `not a version 1 node name file`);
  if (typeof d.nodeName !== 'string' || !NAME_RE.test(d.nodeName) || typeof d.hostname !== 'string' || typeof d.ip !== 'string' || typeof d.port !== 'number') {
    throw new AgentError('E_DECODE', 'node name file lacks nodeName, hostname, ip or port');
  }
  return d as IdentityFile;
}

/** The node name the rejoin snapshot was written under (tolerant: the snapshot's owner judges the file). */
async function snapshotNodeName(path: string | undefined): Promise<string> {
  if (!path) return '';
  try {
    const d = JSON.parse(await readFile(path, 'utf8')) as { node?: unknown };
    return typeof d?.node === 'string' ? d.node : '';
  } catch {
    return '';
  }
}

/**
 * Loads (or creates once) the HostID and the node name for (hostname, ip, port).
 * Files: <stateDir>/HostID (32 hex + newline, as Cloudy) and <stateDir>/node-name.json.
 *
 * Like every state file (agent/state/README.md), a file that does not parse is
 * moved aside (NAME.corrupt-<time>) and said in `notes`; what it held is
 * recovered when another file still has it: the HostID from node-name.json or
 * the snapshot's node name, the node name from the snapshot (when it is this
 * HostID's name for this host, IP and port). Only when nothing has it is a new
 * one made. A write refused by the disk (ENOSPC, EROFS, ...) is a note too: the
 * start goes on with the identity in memory.
 */
export async function loadIdentity(
  stateDir: string,
  p: { hostname: string; ip: string; port: number; snapshotPath?: string },
  gen: { random?: () => Uint8Array; epochNanos?: () => bigint } = {},
): Promise<NodeIdentity> {
  const random = gen.random ?? (() => nodeCrypto().randomBytes(32));
  const epochNanos = gen.epochNanos ?? (() => BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n);
  const notes: IdentityNote[] = [];
  const aside = async (f: AtomicFile, why: string): Promise<(instead: string) => void> => {
    let to: string;
    try { to = await f.moveAside(); } catch (e) { to = `(not moved: ${errorMessage(e)})`; }
    return (instead) => { notes.push({ kind: 'aside', path: f.path, to, why, instead }); };
  };
  const write = async (f: AtomicFile, text: string): Promise<void> => {
    const bytes = new TextEncoder().encode(text);
    try {
      await f.write(bytes);
    } catch (e) {
      const code = (e as { details?: { errno?: string } }).details?.errno ?? '';
      if (!STORAGE_ERRORS.has(code)) throw e;
      notes.push({ kind: 'unsaved', path: f.path, bytes, reason: errorMessage(e) });
    }
  };

  const idFile = new AtomicFile(join(stateDir, 'HostID'));
  const rawId = await idFile.read();
  let hostId = rawId ? new TextDecoder().decode(rawId).trim() : '';
  let idAside: ((instead: string) => void) | null = null;
  if (rawId && !HOST_ID_RE.test(hostId)) idAside = await aside(idFile, 'not a 32-hex HostID');

  const nameFile = new AtomicFile(join(stateDir, 'node-name.json'));
  let saved: IdentityFile | null = null;
  let nameAside: ((instead: string) => void) | null = null;
  const rawName = await nameFile.read();
  if (rawName) {
    try { saved = parseIdentityFile(rawName); } catch (e) { nameAside = await aside(nameFile, errorMessage(e)); }
  }
  const snapName = await snapshotNodeName(p.snapshotPath);

  if (!HOST_ID_RE.test(hostId)) {
    const fromName = saved ? NAME_RE.exec(saved.nodeName)?.[1] : undefined;
    const fromSnap = NAME_RE.exec(snapName)?.[1];
    const recovered = fromName ?? fromSnap;
    hostId = recovered ?? newHostId(random());
    idAside?.(recovered ? `kept the HostID ${hostId}, recovered from ${fromName ? nameFile.path : p.snapshotPath}` : `made a new HostID ${hostId}`);
    await write(idFile, hostId + '\n');
  }

  if (saved && saved.hostname === p.hostname && saved.ip === p.ip && saved.port === p.port && saved.nodeName.startsWith(hostId + '-')) {
    return { hostId, nodeName: saved.nodeName, ...(notes.length ? { notes } : {}) };
  }
  // The snapshot's name is this node's for this host, IP and port: keep it (a lost or bad node-name.json).
  const snapOk = !saved && snapName.startsWith(hostId + '-') && NAME_RE.test(snapName)
    && snapName.endsWith(`-${shortHostname(p.hostname)}-${p.ip}:${p.port}`);
  const nodeName = snapOk ? snapName : cloudyNodeName({ hostId, nanos: nanosField(epochNanos()), ...p });
  nameAside?.(snapOk ? `kept the node name ${nodeName}, recovered from ${p.snapshotPath}` : `made a new node name ${nodeName} (peers see a new member)`);
  const doc: IdentityFile = { version: 1, nodeName, hostname: p.hostname, ip: p.ip, port: p.port };
  await write(nameFile, JSON.stringify(doc) + '\n');
  return { hostId, nodeName, ...(notes.length ? { notes } : {}) };
}
