// API tokens for scripts (`Authorization: Bearer <token>`), created by
// `cloudy-agent token create NAME [-role admin|viewer]`. A token is 32 random
// bytes, shown once; the file (`<data-dir>/api/tokens.json`, 0600) keeps only
// its SHA-256 (a random 256-bit secret needs no slow hash). The running agent
// re-reads the file when its modification time changes, so tokens created or
// revoked by the CLI apply without a restart.
import { lazyBuiltin } from '../../system/lazy-builtin.ts';
import { statSync } from 'node:fs';
import { AgentError } from '../../errors.ts';
import type { AtomicFile } from '../../state/atomic-file.ts';
import type { Role } from './roles.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

export interface TokenEntry {
  name: string;
  role: Exclude<Role, 'guest'>;
  /** sha256 hex of the token. */
  hash: string;
  /** ms since epoch. */
  created: number;
}

const TOKEN_PREFIX = 'cat_';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function sha256(s: string): string {
  return nodeCrypto().createHash('sha256').update(s).digest('hex');
}

export class TokenStore {
  private cache: TokenEntry[] = [];
  private cacheMtime = -1;

  constructor(private readonly file: AtomicFile, private readonly maxTokens: number) {}

  /** At agent start: a token file that does not parse is moved aside (no tokens: make them again). */
  async checkOnStart(said?: (msg: string) => void): Promise<void> {
    await this.file.readOrMoveAside((b) => {
      const doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b)) as { tokens?: unknown } | null;
      if (!doc || typeof doc !== 'object' || !Array.isArray(doc.tokens)) throw new AgentError('E_DECODE', 'not a token list');
    }, 'no API tokens (make them again with `cloudy-agent token create`)', said);
    this.cacheMtime = -1;
  }

  private mtime(): number {
    try { return statSync(this.file.path).mtimeMs; } catch { return 0; }
  }

  async list(): Promise<TokenEntry[]> {
    const m = this.mtime();
    if (m === this.cacheMtime) return this.cache;
    const raw = await this.file.read();
    let entries: TokenEntry[] = [];
    if (raw !== null) {
      const doc = JSON.parse(new TextDecoder().decode(raw)) as { tokens?: TokenEntry[] };
      entries = (doc.tokens ?? []).filter((t) => typeof t.name === 'string' && typeof t.hash === 'string' && (t.role === 'admin' || t.role === 'viewer'));
    }
    this.cache = entries;
    this.cacheMtime = m;
    return entries;
  }

  private async save(entries: TokenEntry[]): Promise<void> {
    await this.file.write(new TextEncoder().encode(JSON.stringify({ tokens: entries }, null, 1) + '\n'));
    this.cacheMtime = -1;
  }

  /** Returns the token (the only time it exists in clear). */
  async create(name: string, role: string, now = Date.now()): Promise<string> {
    if (!NAME_RE.test(name)) throw new AgentError('E_INVALID', `token name ${JSON.stringify(name)}: letters, digits, . _ - (at most 64)`, { field: 'name' });
    if (role !== 'admin' && role !== 'viewer') throw new AgentError('E_INVALID', `role must be admin or viewer, got ${JSON.stringify(role)}`, { field: 'role' });
    const entries = [...await this.list()];
    if (entries.some((t) => t.name === name)) throw new AgentError('E_EXISTS', `token ${name} exists (revoke it first)`, { field: 'name' });
    if (entries.length >= this.maxTokens) throw new AgentError('E_LIMIT', `at most ${this.maxTokens} tokens (limits.apiTokens)`);
    const token = TOKEN_PREFIX + nodeCrypto().randomBytes(32).toString('base64url');
    entries.push({ name, role, hash: sha256(token), created: now });
    await this.save(entries);
    return token;
  }

  async revoke(name: string): Promise<void> {
    const entries = await this.list();
    if (!entries.some((t) => t.name === name)) throw new AgentError('E_NOT_FOUND', `no token named ${JSON.stringify(name)}`, { field: 'name' });
    await this.save(entries.filter((t) => t.name !== name));
  }

  async verify(token: string): Promise<TokenEntry | null> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 128) return null;
    const h = Buffer.from(sha256(token), 'hex');
    for (const t of await this.list()) {
      const want = Buffer.from(t.hash, 'hex');
      if (want.length === h.length && nodeCrypto().timingSafeEqual(want, h)) return t;
    }
    return null;
  }
}
