// The operator keys a node obeys, each with a role. Sources, merged at start:
// `-trust-operator KEY[@role]` flags and the config list `trusted_operators`
// (static), then the file `<data-dir>/remote/trust.json` holding what
// `operator trust` / `operator untrust` changed on the running agent. The file
// also remembers revocations, so `operator untrust` of a key that a flag or the
// config still names survives a restart (a revoked key is only trusted again by
// `operator trust`). An empty trust list means no remote control at all.
import { AgentError } from '../errors.ts';
import type { FileStore } from '../state/atomic-file.ts';
import { formatPublicKey, keyIdHex, parsePublicKey, publicKeyFromRaw } from './keys.ts';
import type { KeyObject } from 'node:crypto';

export type Role = 'admin' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'viewer'];

export interface TrustedKey { id: string; key: string; role: Role; publicKey: KeyObject; source: 'config' | 'operator' }

export function parseRole(s: string): Role {
  if (s !== 'admin' && s !== 'viewer') throw new AgentError('E_INVALID', `role must be admin or viewer, not ${JSON.stringify(s)}`);
  return s;
}

/** `KEY` (admin) or `KEY@role`, as -trust-operator and trusted_operators take them. */
export function parseTrustSpec(spec: string): { raw: Uint8Array; role: Role } {
  const at = spec.lastIndexOf('@');
  return at < 0 ? { raw: parsePublicKey(spec), role: 'admin' } : { raw: parsePublicKey(spec.slice(0, at)), role: parseRole(spec.slice(at + 1)) };
}

interface TrustFile { trusted: { key: string; role: Role }[]; revoked: string[] }

export class TrustStore {
  private readonly keys = new Map<string, TrustedKey>();
  private revoked = new Set<string>();

  private constructor(private readonly file: FileStore | null) {}

  /** Static specs plus the persisted changes (E_INVALID names the bad spec). */
  static async load(staticSpecs: readonly string[], file: FileStore | null): Promise<TrustStore> {
    const t = new TrustStore(file);
    const saved = await t.readFile();
    t.revoked = new Set(saved.revoked);
    for (const spec of staticSpecs) {
      const { raw, role } = parseTrustSpec(spec);
      const id = keyIdHex(raw);
      if (!t.revoked.has(id)) t.put(raw, role, 'config');
    }
    for (const e of saved.trusted) {
      const { raw } = parseTrustSpec(e.key);
      t.put(raw, parseRole(e.role), 'operator');
    }
    return t;
  }

  private async readFile(): Promise<TrustFile> {
    if (this.file?.readOrMoveAside) {
      // Unreadable: moved aside; the configured keys (-trust-operator, trusted_operators) are trusted, the
      // changes made at run time (operator trust/untrust) are lost and logged so an operator redoes them.
      return (await this.file.readOrMoveAside((b) => {
        const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b)) as TrustFile | null;
        if (!v || !Array.isArray(v.trusted) || !Array.isArray(v.revoked)
          || !v.trusted.every((e) => e && typeof e.key === 'string' && typeof e.role === 'string') || !v.revoked.every((r) => typeof r === 'string')) {
          throw new AgentError('E_DECODE', 'not a trust file');
        }
        for (const e of v.trusted) parseTrustSpec(e.key);
        return v;
      }, 'trusting the configured operator keys only: redo the `operator trust/untrust` changes')) ?? { trusted: [], revoked: [] };
    }
    const bytes = await this.file?.read();
    if (!bytes) return { trusted: [], revoked: [] };
    try {
      const v = JSON.parse(Buffer.from(bytes).toString('utf8')) as TrustFile;
      if (!Array.isArray(v.trusted) || !Array.isArray(v.revoked)) throw new AgentError('E_CONFIG', 'shape');
      return v;
    } catch {
      throw new AgentError('E_CONFIG', 'remote trust file is corrupt (fix or remove it)');
    }
  }

  private put(raw: Uint8Array, role: Role, source: TrustedKey['source']): TrustedKey {
    const e: TrustedKey = { id: keyIdHex(raw), key: formatPublicKey(raw), role, publicKey: publicKeyFromRaw(raw), source };
    this.keys.set(e.id, e);
    return e;
  }

  get size(): number { return this.keys.size; }

  byId(idHex: string): TrustedKey | undefined { return this.keys.get(idHex); }

  list(): { id: string; key: string; role: Role; source: string }[] {
    return [...this.keys.values()].map(({ id, key, role, source }) => ({ id, key, role, source })).sort((a, b) => a.id.localeCompare(b.id));
  }

  async trust(key: string, role: Role): Promise<TrustedKey> {
    const raw = parsePublicKey(key);
    const e = this.put(raw, role, 'operator');
    this.revoked.delete(e.id);
    await this.save();
    return e;
  }

  /** Accepts a key or its id. */
  async untrust(keyOrId: string): Promise<boolean> {
    const id = /^[0-9a-f]{16}$/.test(keyOrId) ? keyOrId : keyIdHex(parsePublicKey(keyOrId));
    const had = this.keys.delete(id);
    this.revoked.add(id);
    await this.save();
    return had;
  }

  private async save(): Promise<void> {
    if (!this.file) return;
    const f: TrustFile = {
      trusted: [...this.keys.values()].filter((k) => k.source === 'operator').map((k) => ({ key: k.key, role: k.role })),
      revoked: [...this.revoked].sort(),
    };
    await this.file.write(new TextEncoder().encode(JSON.stringify(f, null, 2) + '\n'));
  }
}
