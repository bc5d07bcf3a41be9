// The guifi.net part of the agent's configuration: the `guifi` object of a
// config file (what the image's first-boot seed writes) and the agent's
// `-guifi-*` flags. With a node id and a token or user + password, the running
// agent registers itself (guifi/registrar.ts). Secrets are best given as files
// (password_file, token_file): they are read at each attempt, so a new token
// dropped there by the seed is picked up without a restart.
//
//   "guifi": {
//     "api": "https://guifi.net/api",  "node_id": 12345,
//     "user": "alice", "password_file": "/var/lib/cloudy-agent/guifi.password",
//     "token_file": "/var/lib/cloudy-agent/guifi.token",   (or "token", "password" inline)
//     "device_name": "MyNode-Cloudy", "link_device": 678, "email": "alice@example.net",
//     "comment": "...", "mac": "AA:BB:CC:DD:EE:FF", "declare_services": true
//   }
import { readFile } from 'node:fs/promises';
import { AgentError, errorMessage } from '../errors.ts';

const MAC_RE = /^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$/;

export interface GuifiSettings {
  /** API endpoint; '' = https://guifi.net/api. */
  api: string;
  user: string;
  password: string;
  passwordFile: string;
  token: string;
  tokenFile: string;
  /** guifi.net node to register under; 0 = none (no headless registration). */
  nodeId: number;
  deviceName: string;
  /** Device of the node to take an IPv4 from; 0 = the first with one. */
  linkDevice: number;
  email: string;
  comment: string;
  /** MAC sent to guifi.net; '' = the community interface's. */
  mac: string;
  /** Declare guifi services when proxy3/dnsservice/snpservice containers start; null = on once registered. */
  declareServices: boolean | null;
}

export function defaultGuifiSettings(): GuifiSettings {
  return {
    api: '', user: '', password: '', passwordFile: '', token: '', tokenFile: '', nodeId: 0, deviceName: '',
    linkDevice: 0, email: '', comment: '', mac: '', declareServices: null,
  };
}

const STRING_KEYS: Record<string, keyof GuifiSettings> = {
  api: 'api', user: 'user', password: 'password', password_file: 'passwordFile', token: 'token', token_file: 'tokenFile',
  device_name: 'deviceName', email: 'email', comment: 'comment', mac: 'mac',
};

/** The `guifi` object of a config file; unknown keys are an error naming the key. */
export function guifiSettingsFromJson(v: unknown, where: string): Partial<GuifiSettings> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AgentError('E_CONFIG', `${where}: expected an object`);
  const out: Partial<GuifiSettings> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const at = `${where}.${k}`;
    const s = STRING_KEYS[k];
    if (s !== undefined) {
      if (typeof x !== 'string') throw new AgentError('E_CONFIG', `${at}: expected a string`);
      (out as Record<string, unknown>)[s] = x;
    } else if (k === 'node_id' || k === 'link_device') {
      const n = typeof x === 'string' && /^\d+$/.test(x) ? Number(x) : x;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new AgentError('E_CONFIG', `${at}: expected a guifi.net id (a positive integer)`);
      out[k === 'node_id' ? 'nodeId' : 'linkDevice'] = n;
    } else if (k === 'declare_services') {
      if (typeof x !== 'boolean') throw new AgentError('E_CONFIG', `${at}: expected true or false`);
      out.declareServices = x;
    } else {
      throw new AgentError('E_CONFIG', `${at}: unknown guifi key`);
    }
  }
  return checkGuifiSettings(out, where);
}

/** Checks values that would only fail later, against guifi.net. */
export function checkGuifiSettings<T extends Partial<GuifiSettings>>(s: T, where: string): T {
  if (s.mac !== undefined && s.mac !== '' && !MAC_RE.test(s.mac)) throw new AgentError('E_CONFIG', `${where}.mac: not a MAC address`);
  if (s.deviceName !== undefined && s.deviceName !== '' && !/^[A-Za-z0-9_-]+$/.test(s.deviceName)) {
    throw new AgentError('E_CONFIG', `${where}.device_name: only letters, digits, '_' and '-' are allowed`);
  }
  if (s.api !== undefined && s.api !== '') {
    let u: URL | null = null;
    try { u = new URL(s.api); } catch { /* below */ }
    if (!u || !['http:', 'https:'].includes(u.protocol)) throw new AgentError('E_CONFIG', `${where}.api: expected an http(s) URL`);
  }
  return s;
}

/** First line of a secret file ('' when it does not exist yet: the seed may write it later). */
export async function readSecretFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).split('\n')[0]!.trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new AgentError('E_CONFIG', `cannot read ${path}: ${errorMessage(e)}`);
  }
}

export interface GuifiSecrets {
  password: string;
  token: string;
}

/** The password and token as they are now (files re-read each call; a file wins over an inline value). */
export async function currentSecrets(s: GuifiSettings): Promise<GuifiSecrets> {
  const password = s.passwordFile !== '' ? (await readSecretFile(s.passwordFile)) || s.password : s.password;
  const token = s.tokenFile !== '' ? (await readSecretFile(s.tokenFile)) || s.token : s.token;
  return { password, token };
}
