// memberlist's keyring and AES-GCM message encryption (SERF-PROTOCOL.md §2.7).
//
// Blob layout: [version][12-byte nonce][ciphertext][16-byte GCM tag].
// Version 1 (what serf sends): no padding, overhead 29 bytes.
// Version 0 (memberlist protocol 1, decode-only in practice): plaintext PKCS#7
// padded to the AES block size before sealing.
// Key sizes 16/24/32 select AES-128/192/256-GCM. The first key is the primary,
// used for every message we send; decryption tries every key in order.
import { lazyBuiltin } from '../../system/lazy-builtin.ts';
import { AgentError } from '../../errors.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

const VERSION_SIZE = 1;
const NONCE_SIZE = 12; // GCM standard nonce
const TAG_SIZE = 16; // GCM tag
const BLOCK_SIZE = 16; // AES block (PKCS#7 padding of version 0)
/** Highest encryption version memberlist 0.2.2 understands. */
const MAX_ENCRYPTION_VERSION = 1;

export type EncryptionVersion = 0 | 1;

/** Bytes added by encryption: 29 for version 1, up to 45 for version 0 (full padding block). */
export function encryptionOverhead(version: EncryptionVersion = 1): number {
  return version === 0 ? VERSION_SIZE + NONCE_SIZE + BLOCK_SIZE + TAG_SIZE : VERSION_SIZE + NONCE_SIZE + TAG_SIZE;
}

/** Encrypted size of a `plainLen`-byte message. */
export function encryptedLength(version: EncryptionVersion, plainLen: number): number {
  if (version === 1) return VERSION_SIZE + NONCE_SIZE + plainLen + TAG_SIZE;
  const padded = plainLen + (BLOCK_SIZE - (plainLen % BLOCK_SIZE));
  return VERSION_SIZE + NONCE_SIZE + padded + TAG_SIZE;
}

function cipherName(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  switch (key.length) {
    case 16: return 'aes-128-gcm';
    case 24: return 'aes-192-gcm';
    case 32: return 'aes-256-gcm';
    default: throw new AgentError('E_INVALID', `key size must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function validKey(k: Uint8Array): Uint8Array {
  if (!(k instanceof Uint8Array)) throw new AgentError('E_INVALID', 'key must be bytes');
  cipherName(k);
  return Uint8Array.from(k); // own copy: callers may reuse their buffer
}

/** Decodes one base64 key (standard alphabet, as `serf keygen` prints), validating its size. */
export function keyFromBase64(s: string): Uint8Array {
  const t = s.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0 || t.length === 0) {
    throw new AgentError('E_INVALID', 'key is not valid base64');
  }
  return validKey(new Uint8Array(Buffer.from(t, 'base64')));
}

export function keyToBase64(k: Uint8Array): string {
  return Buffer.from(k).toString('base64');
}

export class Keyring {
  private ring: Uint8Array[];

  /** `keys[0]` is the primary. An empty list is a disabled keyring (no encryption). */
  constructor(keys: Uint8Array[] = []) {
    this.ring = [];
    for (const k of keys) {
      const key = validKey(k);
      if (!this.ring.some((x) => sameKey(x, key))) this.ring.push(key);
    }
  }

  /** From base64 strings (keyring file / -encrypt); first = primary. */
  static fromBase64(list: string[]): Keyring {
    return new Keyring(list.map(keyFromBase64));
  }

  isEnabled(): boolean {
    return this.ring.length > 0;
  }

  primaryKey(): Uint8Array | null {
    return this.ring[0] ? Uint8Array.from(this.ring[0]) : null;
  }

  /** Copies of all keys, primary first. */
  keys(): Uint8Array[] {
    return this.ring.map((k) => Uint8Array.from(k));
  }

  hasKey(k: Uint8Array): boolean {
    return this.ring.some((x) => sameKey(x, k));
  }

  /** Adds a key (no-op if present). The first key installed into an empty ring becomes primary. */
  installKey(k: Uint8Array): void {
    const key = validKey(k);
    if (!this.hasKey(key)) this.ring.push(key);
  }

  /** Makes an installed key the primary. */
  useKey(k: Uint8Array): void {
    const i = this.ring.findIndex((x) => sameKey(x, k));
    if (i < 0) throw new AgentError('E_INVALID', 'Requested key is not in the keyring');
    const [key] = this.ring.splice(i, 1);
    this.ring.unshift(key!);
  }

  /** Removes a non-primary key (no-op if absent, like memberlist). */
  removeKey(k: Uint8Array): void {
    const i = this.ring.findIndex((x) => sameKey(x, k));
    if (i === 0) throw new AgentError('E_INVALID', 'Removing the primary key is not allowed');
    if (i > 0) this.ring.splice(i, 1);
  }

  /** Encrypts with the primary key. `version` 0 exists for compatibility tests only. */
  encrypt(plain: Uint8Array, aad: Uint8Array, version: EncryptionVersion = 1): Uint8Array {
    const key = this.ring[0];
    if (!key) throw new AgentError('E_INVALID', 'keyring has no primary key');
    return sealWith(key, plain, aad, version);
  }

  /** Opens a blob with any installed key. Throws AgentError E_DECRYPT when none does. */
  decrypt(blob: Uint8Array, aad: Uint8Array): Uint8Array {
    if (this.ring.length === 0) throw new AgentError('E_DECRYPT', 'no installed keys');
    if (blob.length === 0) throw new AgentError('E_DECRYPT', 'Cannot decrypt empty payload');
    const version = blob[0]!;
    if (version > MAX_ENCRYPTION_VERSION) throw new AgentError('E_DECRYPT', `Unsupported encryption version ${version}`);
    if (blob.length < encryptedLength(version as EncryptionVersion, 0)) {
      throw new AgentError('E_DECRYPT', `Payload is too small to decrypt: ${blob.length}`);
    }
    for (const key of this.ring) {
      const plain = openWith(key, blob, aad);
      if (plain === null) continue;
      if (version === 0) return pkcs7Strip(plain);
      return plain;
    }
    throw new AgentError('E_DECRYPT', 'No installed keys could decrypt the message');
  }
}

function sealWith(key: Uint8Array, plain: Uint8Array, aad: Uint8Array, version: EncryptionVersion): Uint8Array {
  const nonce = nodeCrypto().randomBytes(NONCE_SIZE);
  const cipher = nodeCrypto().createCipheriv(cipherName(key), key, nonce, { authTagLength: TAG_SIZE });
  cipher.setAAD(aad);
  const body = version === 0 ? pkcs7Pad(plain) : plain;
  const ct = cipher.update(body);
  const fin = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(VERSION_SIZE + NONCE_SIZE + ct.length + fin.length + TAG_SIZE);
  out[0] = version;
  out.set(nonce, VERSION_SIZE);
  out.set(ct, VERSION_SIZE + NONCE_SIZE);
  out.set(fin, VERSION_SIZE + NONCE_SIZE + ct.length);
  out.set(tag, out.length - TAG_SIZE);
  return out;
}

function openWith(key: Uint8Array, blob: Uint8Array, aad: Uint8Array): Uint8Array | null {
  const nonce = blob.subarray(VERSION_SIZE, VERSION_SIZE + NONCE_SIZE);
  const ct = blob.subarray(VERSION_SIZE + NONCE_SIZE, blob.length - TAG_SIZE);
  const tag = blob.subarray(blob.length - TAG_SIZE);
  try {
    const d = nodeCrypto().createDecipheriv(cipherName(key), key, nonce, { authTagLength: TAG_SIZE });
    d.setAAD(aad);
    d.setAuthTag(tag);
    const a = d.update(ct);
    const b = d.final(); // throws when the tag does not verify
    if (b.length === 0) return new Uint8Array(a.buffer, a.byteOffset, a.length);
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  } catch {
    return null;
  }
}

function pkcs7Pad(buf: Uint8Array): Uint8Array {
  const n = BLOCK_SIZE - (buf.length % BLOCK_SIZE);
  const out = new Uint8Array(buf.length + n);
  out.set(buf);
  out.fill(n, buf.length);
  return out;
}

function pkcs7Strip(buf: Uint8Array): Uint8Array {
  // memberlist strips `last byte` bytes without further checks; an impossible
  // count (authenticated garbage from a broken peer) is rejected instead of panicking.
  const n = buf.length > 0 ? buf[buf.length - 1]! : 0;
  if (n === 0 || n > BLOCK_SIZE || n > buf.length) throw new AgentError('E_DECRYPT', 'invalid padding');
  return buf.subarray(0, buf.length - n);
}
