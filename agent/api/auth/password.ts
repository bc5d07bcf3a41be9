// The admin password of the web GUI and API: an scrypt hash in a 0600 file of
// the data dir (`<data-dir>/api/admin.passwd`), set by `cloudy-agent passwd`.
// There is no default password: until the file exists, nobody logs in.
// The file is read at each check, so a `passwd` run takes effect at once.
import { lazyBuiltin } from '../../system/lazy-builtin.ts';
import { promisify } from 'node:util';
import { AgentError } from '../../errors.ts';
import type { FileStore } from '../../state/atomic-file.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

type Scrypt = (pw: string | Buffer, salt: Buffer, keylen: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
let scryptAsync: Scrypt | null = null;
const scrypt: Scrypt = (...a) => (scryptAsync ??= promisify(nodeCrypto().scrypt) as Scrypt)(...a);

/** scrypt cost: N=2^15, r=8 (32 MiB, ~100 ms on an Atom): a stolen file is slow to brute-force. */
const PARAMS = { N: 1 << 15, r: 8, p: 1 };
const KEYLEN = 32;
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export function checkPasswordStrength(pw: string): void {
  if (pw.length < MIN_PASSWORD_LENGTH) throw new AgentError('E_INVALID', `password: at least ${MIN_PASSWORD_LENGTH} characters`, { field: 'password' });
  if (pw.length > MAX_PASSWORD_LENGTH) throw new AgentError('E_INVALID', `password: at most ${MAX_PASSWORD_LENGTH} characters`, { field: 'password' });
}

async function derive(pw: string, salt: Buffer, p: { N: number; r: number; p: number }): Promise<Buffer> {
  return scrypt(pw.normalize('NFC'), salt, KEYLEN, { ...p, maxmem: 128 * p.N * p.r * 2 });
}

/** `scrypt$N$r$p$<salt b64>$<hash b64>` */
export async function hashPassword(pw: string): Promise<string> {
  const salt = nodeCrypto().randomBytes(16);
  const h = await derive(pw, salt, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${h.toString('base64')}`;
}

export async function verifyPassword(pw: string, encoded: string): Promise<boolean> {
  const parts = encoded.trim().split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((x) => Number.isInteger(x) && x > 0) || N > 1 << 20) return false;
  if (pw.length > MAX_PASSWORD_LENGTH) return false;
  const want = Buffer.from(parts[5]!, 'base64');
  const got = await derive(pw, Buffer.from(parts[4]!, 'base64'), { N, r, p });
  return want.length === got.length && nodeCrypto().timingSafeEqual(want, got);
}

/** Throws unless `encoded` has the shape hashPassword writes (a torn or foreign file). */
export function checkPasswordHash(encoded: string): void {
  const parts = encoded.trim().split('$');
  const nums = parts.slice(1, 4).map(Number);
  if (parts.length !== 6 || parts[0] !== 'scrypt' || !nums.every((x) => Number.isInteger(x) && x > 0) || Buffer.from(parts[5]!, 'base64').length !== KEYLEN) {
    throw new AgentError('E_DECODE', 'not an scrypt password hash');
  }
}

export class PasswordFile {
  constructor(private readonly file: FileStore) {}

  /** At agent start: a hash that cannot be checked is moved aside (then no password is set: `cloudy-agent passwd` sets one). */
  async checkOnStart(said?: (msg: string) => void): Promise<void> {
    await this.file.readOrMoveAside?.((b) => checkPasswordHash(new TextDecoder('utf-8', { fatal: true }).decode(b)), 'no admin password is set (run `cloudy-agent passwd`)', said);
  }

  async isSet(): Promise<boolean> {
    const raw = await this.file.read();
    return raw !== null && raw.length > 0;
  }

  async set(pw: string): Promise<void> {
    checkPasswordStrength(pw);
    await this.file.write(new TextEncoder().encode((await hashPassword(pw)) + '\n'));
  }

  async verify(pw: string): Promise<boolean> {
    const raw = await this.file.read();
    if (raw === null) return false;
    return verifyPassword(pw, new TextDecoder().decode(raw));
  }
}
