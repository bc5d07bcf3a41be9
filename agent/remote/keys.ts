// Ed25519 key material for remote control (node:crypto only).
//
// Operator keys sign commands; node keys sign answers. A public key travels as
// one copy-pasteable line `ed25519:<base64 of the 32 raw bytes>`; its key id
// (what an envelope carries) is the first 8 bytes of SHA-256 over those raw
// bytes. A private key is stored as PKCS#8 PEM (mode 0600) so standard tools
// read it too.
import type { KeyObject } from 'node:crypto';
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import { readFile, writeFile, mkdir, unlink } from 'node:fs/promises';
import { AtomicFile } from '../state/atomic-file.ts';
import type { StateHealth } from '../state/state-health.ts';
import { dirname } from 'node:path';
import { AgentError, errorMessage } from '../errors.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

export const PUBLIC_KEY_PREFIX = 'ed25519:';
/** Length of a key id in bytes (part of the envelope format). */
export const KEY_ID_BYTES = 8;
/** Wire format: Ed25519 signature length. */
export const SIGNATURE_BYTES = 64;
// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw 32 bytes follow it.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface KeyPair { privateKey: KeyObject; publicKey: KeyObject }

export function generateKeyPair(): KeyPair {
  return nodeCrypto().generateKeyPairSync('ed25519');
}

export function rawPublicKey(k: KeyObject): Uint8Array {
  const der = k.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new AgentError('E_INVALID', 'an Ed25519 public key has 32 bytes');
  return nodeCrypto().createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function keyId(raw: Uint8Array): Uint8Array {
  return new Uint8Array(nodeCrypto().createHash('sha256').update(raw).digest().subarray(0, KEY_ID_BYTES));
}

export function keyIdHex(raw: Uint8Array): string {
  return Buffer.from(keyId(raw)).toString('hex');
}

export function formatPublicKey(raw: Uint8Array): string {
  return PUBLIC_KEY_PREFIX + Buffer.from(raw).toString('base64');
}

/** `ed25519:BASE64` (or bare base64) -> the 32 raw bytes; E_INVALID otherwise. */
export function parsePublicKey(s: string): Uint8Array {
  const b64 = s.trim().startsWith(PUBLIC_KEY_PREFIX) ? s.trim().slice(PUBLIC_KEY_PREFIX.length) : s.trim();
  const raw = /^[A-Za-z0-9+/]{43}=$/.test(b64) ? new Uint8Array(Buffer.from(b64, 'base64')) : new Uint8Array(0);
  if (raw.length !== 32) throw new AgentError('E_INVALID', `not an operator public key (expected ${PUBLIC_KEY_PREFIX}<44 base64 chars>): ${JSON.stringify(s)}`);
  return raw;
}

export function signBytes(k: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(nodeCrypto().sign(null, data, k));
}

export function verifyBytes(k: KeyObject, data: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== SIGNATURE_BYTES) return false;
  try { return nodeCrypto().verify(null, data, k, sig); } catch { return false; }
}

export async function writePrivateKey(path: string, k: KeyObject): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, k.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') throw new AgentError('E_EXISTS', `${path} exists (remove it first to make a new key)`);
    // A partial key file (disk full mid-write) would stop the next start: remove it.
    return unlink(path).catch(() => {}).then(() => { throw new AgentError('E_IO', `write ${path}: ${errorMessage(e)}`); });
  });
}

export async function readPrivateKey(path: string): Promise<KeyPair> {
  let pem: string;
  try { pem = await readFile(path, 'utf8'); } catch (e) {
    throw new AgentError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'E_NOT_FOUND' : 'E_IO', `read key ${path}: ${errorMessage(e)}`);
  }
  try {
    const privateKey = nodeCrypto().createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new AgentError('E_INVALID', 'not an Ed25519 key');
    return { privateKey, publicKey: nodeCrypto().createPublicKey(privateKey) };
  } catch (e) {
    throw new AgentError('E_INVALID', `key ${path}: ${errorMessage(e)}`);
  }
}

/** The key at `path`, made (and written) on first use: a node's own answer-signing key. */
export async function loadOrCreateKey(path: string, health: StateHealth | null = null): Promise<KeyPair> {
  try { return await readPrivateKey(path); } catch (e) {
    if (!(e instanceof AgentError) || (e.code !== 'E_NOT_FOUND' && !(e.code === 'E_INVALID' && health))) throw e;
    if (e.code === 'E_INVALID') {
      // Unreadable (torn, garbage): moved aside and a new key made; requesters that pinned the old one
      // see a changed node key and must pin again (`remote` says so), which is the honest outcome.
      const to = await new AtomicFile(path, health).moveAside(errorMessage(e));
      health!.movedAside(path, to, errorMessage(e), 'a new node key is made (requesters must pin it again)');
    }
  }
  const kp = generateKeyPair();
  // Atomic (never an empty key file after a cut) and, in the agent, a full or
  // read-only disk keeps the key in memory and retries (state/state-health.ts).
  await new AtomicFile(path, health).write(new TextEncoder().encode(kp.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string));
  return kp;
}
