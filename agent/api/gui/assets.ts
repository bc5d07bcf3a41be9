// The GUI's static files (index.html, app.js, app.css, strings.js), served
// from memory under /gui/ (and / for index.html), with an ETag so a phone on a
// slow link fetches them once.
import { lazyBuiltin } from '../../system/lazy-builtin.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, extname, join } from 'node:path';
import { EMBEDDED } from './embedded.ts';
import type { RouteHandler } from '../http-server.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');


const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
};

/** Content-Security-Policy: our own files only, no inline script, no framing. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

interface Asset { type: string; body: Buffer; etag: string }

function readSources(): Record<string, string> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const names = readdirSync(dir).filter((n) => !n.endsWith('.ts'));
  return Object.fromEntries(names.map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
}

export function loadGuiAssets(files: Record<string, string> = EMBEDDED ?? readSources()): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const [name, text] of Object.entries(files)) {
    const body = Buffer.from(text);
    out.set(name, { type: TYPES[extname(name)] ?? 'application/octet-stream', body, etag: `"${nodeCrypto().createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return out;
}

/** GET / and /gui/<file>. */
export function guiHandler(assets: Map<string, Asset> = loadGuiAssets()): RouteHandler {
  return (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return null;
    const name = req.path === '/' || req.path === '/index.html' ? 'index.html' : req.path.startsWith('/gui/') ? req.path.slice(5) : null;
    if (name === null) return null;
    const a = assets.get(name);
    if (!a) return null;
    const headers = { 'content-type': a.type, etag: a.etag, 'cache-control': 'no-cache', 'content-security-policy': CSP };
    if (req.headers['if-none-match'] === a.etag) return { status: 304, headers };
    return { status: 200, headers, body: a.body };
  };
}
