// The first-boot seed `cloudy.conf` (on the image's FAT boot partition; the
// .deb and OpenWrt read the same format): `key = value` lines, `#` comments,
// repeatable keys for lists. Every key is documented in image/README.md.
//
// Pure: parse text -> Seed (or a list of errors naming line and key), and the
// derived outputs: the agent's config layer (a JSON config file in serf's keys),
// systemd-networkd files, and the seed text with its secrets replaced by a note.
// Applying them to a system is agent/config/seed-apply.ts.
import { AgentError } from '../errors.ts';
import { checkKey, parseSize, MIN_MEMORY_BUDGET } from './agent-config.ts';
import { parseHostPort } from './address.ts';

export interface OperatorKey { name: string; role: string; publicKey: string }
export interface SeedService { template: string; name: string; options: Record<string, string> }
export type Ipv4Setting = { kind: 'dhcp' } | { kind: 'static'; address: string; prefix: number } | { kind: 'off' };
export type Ipv6Setting = { kind: 'auto' } | { kind: 'dhcp' } | { kind: 'static'; address: string; prefix: number } | { kind: 'off' };

export interface Seed {
  hostname: string | null;
  /** Community interface: a name, or 'auto' (the agent's rule: default-route interface, else first 10/8). */
  interface: string;
  ipv4: Ipv4Setting;
  gateway4: string | null;
  ipv6: Ipv6Setting;
  gateway6: string | null;
  dns: string[];
  join: string[];
  /** mDNS cluster name, or null (off). Default: 'cloudy' when nothing is joined. */
  discover: string | null;
  encryptKey: string | null;
  operatorKeys: OperatorKey[];
  guiAdminPasswordHash: string | null;
  guifi: { nodeId: string | null; zone: string | null; user: string | null; token: string | null };
  mode: 'edge' | 'full' | null;
  memoryBudget: number | null;
  services: SeedService[];
  sshAuthorizedKeys: string[];
}

export interface SeedError { line: number; key: string; message: string }

/** Keys whose values are secrets: moved off the FAT partition on first boot. */
export const SECRET_KEYS = ['encrypt_key', 'gui_admin_password_hash', 'guifi_token'] as const;

export const SECRET_NOTE = 'imported on first boot into the root file system (/etc/cloudy-agent/secrets), removed from here';

export function defaultSeed(): Seed {
  return {
    hostname: null, interface: 'auto', ipv4: { kind: 'dhcp' }, gateway4: null, ipv6: { kind: 'auto' }, gateway6: null, dns: [],
    join: [], discover: null, encryptKey: null, operatorKeys: [], guiAdminPasswordHash: null,
    guifi: { nodeId: null, zone: null, user: null, token: null }, mode: null, memoryBudget: null, services: [], sshAuthorizedKeys: [],
  };
}

const KEYS = [
  'hostname', 'interface', 'ipv4', 'gateway4', 'ipv6', 'gateway6', 'dns', 'join', 'discover', 'encrypt_key',
  'operator_key', 'gui_admin_password_hash', 'guifi_node_id', 'guifi_zone', 'guifi_user', 'guifi_token',
  'mode', 'memory_budget', 'service', 'ssh_authorized_key',
] as const;
type Key = typeof KEYS[number];
const REPEATABLE = new Set<Key>(['join', 'dns', 'operator_key', 'service', 'ssh_authorized_key']);

const HOSTNAME = /^(?=.{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:]+$/;

class Bad extends Error {}
const bad = (m: string): never => { throw new Bad(m); };

function cidr4(v: string): { address: string; prefix: number } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(v);
  if (!m || !IPV4.test(m[1]!) || Number(m[2]) > 32) bad(`expected dhcp, off or an address like 192.168.1.10/24, got ${JSON.stringify(v)}`);
  return { address: m![1]!, prefix: Number(m![2]) };
}

function cidr6(v: string): { address: string; prefix: number } {
  const m = /^([0-9A-Fa-f:]+)\/(\d{1,3})$/.exec(v);
  if (!m || !m[1]!.includes(':') || Number(m[2]) > 128) bad(`expected auto, dhcp, off or an address like fd00::10/64, got ${JSON.stringify(v)}`);
  return { address: m![1]!, prefix: Number(m![2]) };
}

function list(v: string): string[] {
  return v.split(/[\s,]+/).filter((x) => x !== '');
}

/** Parses cloudy.conf. Never throws: a malformed seed gives errors (and the box then boots with defaults). */
export function parseSeed(text: string): { seed: Seed; errors: SeedError[] } {
  const seed = defaultSeed();
  const errors: SeedError[] = [];
  const seen = new Map<Key, number>();
  let discoverSet = false;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
    const eq = t.indexOf('=');
    if (eq <= 0) { errors.push({ line, key: '', message: `expected key = value, got ${JSON.stringify(t.slice(0, 60))}` }); return; }
    const key = t.slice(0, eq).trim().toLowerCase().replace(/-/g, '_');
    const value = t.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (!(KEYS as readonly string[]).includes(key)) { errors.push({ line, key, message: `unknown key ${JSON.stringify(key)}` }); return; }
    const k = key as Key;
    if (!REPEATABLE.has(k) && seen.has(k)) { errors.push({ line, key, message: `given twice (first on line ${seen.get(k)})` }); return; }
    seen.set(k, line);
    if (value === SECRET_NOTE || value.startsWith('imported on first boot')) return; // a secret already moved
    try {
      applyKey(seed, k, value);
      if (k === 'discover') discoverSet = true;
    } catch (e) {
      errors.push({ line, key, message: e instanceof Bad ? e.message : String(e instanceof Error ? e.message : e) });
    }
  });
  if (!discoverSet && seed.join.length === 0) seed.discover = 'cloudy';
  if (seed.ipv4.kind === 'static' && seed.gateway4 === null) {
    // allowed: a LAN-only box; nothing to check
  }
  if (seed.gateway4 !== null && seed.ipv4.kind !== 'static') {
    errors.push({ line: seen.get('gateway4')!, key: 'gateway4', message: 'gateway4 needs a static ipv4' });
  }
  return { seed, errors };
}

function applyKey(s: Seed, k: Key, v: string): void {
  switch (k) {
    case 'hostname': if (!HOSTNAME.test(v)) bad(`not a valid host name: ${JSON.stringify(v)} (letters, digits, '-', at most 63)`); s.hostname = v; break;
    case 'interface': if (v !== 'auto' && !IFNAME.test(v)) bad(`expected auto or an interface name, got ${JSON.stringify(v)}`); s.interface = v; break;
    case 'ipv4': s.ipv4 = v === 'dhcp' || v === 'off' ? { kind: v } : { kind: 'static', ...cidr4(v) }; break;
    case 'gateway4': if (!IPV4.test(v)) bad(`not an IPv4 address: ${JSON.stringify(v)}`); s.gateway4 = v; break;
    case 'ipv6': s.ipv6 = v === 'auto' || v === 'dhcp' || v === 'off' ? { kind: v } : { kind: 'static', ...cidr6(v) }; break;
    case 'gateway6': if (!IPV6.test(v) || !v.includes(':')) bad(`not an IPv6 address: ${JSON.stringify(v)}`); s.gateway6 = v; break;
    case 'dns': for (const a of list(v)) { if (!IPV4.test(a) && !(IPV6.test(a) && a.includes(':'))) bad(`not an IP address: ${JSON.stringify(a)}`); s.dns.push(a); } break;
    case 'join':
      for (const a of list(v)) {
        try { parseHostPort(a, 5000, 'join'); } catch { bad(`not an address[:port]: ${JSON.stringify(a)}`); }
        s.join.push(a);
      }
      break;
    case 'discover':
      if (v === 'off' || v === 'no' || v === 'false') s.discover = null;
      else if (/^[A-Za-z0-9-]{1,40}$/.test(v)) s.discover = v;
      else bad(`expected off or a cluster name (letters, digits, '-'), got ${JSON.stringify(v)}`);
      break;
    case 'encrypt_key':
      try { checkKey(v, 'encrypt_key'); } catch { bad('expected the base64 of 16, 24 or 32 bytes (as `serf keygen` prints)'); }
      s.encryptKey = v;
      break;
    case 'operator_key': {
      const p = v.split(/\s+/);
      if (p.length !== 3) bad('expected "NAME ROLE PUBLIC-KEY" (role: admin or viewer)');
      const [name, role, given] = p as [string, string, string];
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) bad(`bad operator name ${JSON.stringify(name)}`);
      if (!['admin', 'viewer'].includes(role)) bad(`role must be admin or viewer, got ${JSON.stringify(role)}`);
      // as `cloudy-agent operator` prints it (ed25519:<base64>) or the bare base64
      const publicKey = given.startsWith('ed25519:') ? given.slice('ed25519:'.length) : given;
      const raw = Buffer.from(publicKey, 'base64');
      if (raw.length !== 32 || raw.toString('base64') !== publicKey) bad('public key must be the base64 of a 32-byte Ed25519 key');
      s.operatorKeys.push({ name, role, publicKey });
      break;
    }
    case 'gui_admin_password_hash':
      if (!/^\$[A-Za-z0-9]+\$[!-~]{10,}$/.test(v)) bad('expected a password hash like $scrypt$... (never the password itself)');
      s.guiAdminPasswordHash = v;
      break;
    case 'guifi_node_id': if (!/^\d{1,10}$/.test(v)) bad(`expected a guifi.net node number, got ${JSON.stringify(v)}`); s.guifi.nodeId = v; break;
    case 'guifi_zone': if (!/^\d{1,10}$/.test(v)) bad(`expected a guifi.net zone number, got ${JSON.stringify(v)}`); s.guifi.zone = v; break;
    case 'guifi_user': if (!/^[^\s]{1,64}$/.test(v)) bad('expected a guifi.net user name'); s.guifi.user = v; break;
    case 'guifi_token': if (!/^[!-~]{8,256}$/.test(v)) bad('expected a guifi.net API token'); s.guifi.token = v; break;
    case 'mode': if (v !== 'edge' && v !== 'full') bad(`expected edge or full, got ${JSON.stringify(v)}`); s.mode = v as 'edge' | 'full'; break;
    case 'memory_budget': {
      const n = parseSize(v);
      if (n === undefined || n < MIN_MEMORY_BUDGET) bad(`expected a size of at least 48MB like 64MB, got ${JSON.stringify(v)}`);
      s.memoryBudget = n!;
      break;
    }
    case 'service': {
      const p = v.split(/\s+/);
      if (p.length < 2) bad('expected "TEMPLATE NAME [option=value ...]"');
      const [template, name, ...opts] = p as [string, string, ...string[]];
      if (!/^cloudy-[a-z0-9-]+$/.test(template)) bad(`template must be one of the cloudy-* LXC templates, got ${JSON.stringify(template)}`);
      if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) bad(`bad container name ${JSON.stringify(name)}`);
      const options: Record<string, string> = {};
      for (const o of opts) { const i = o.indexOf('='); if (i <= 0) bad(`option ${JSON.stringify(o)} is not key=value`); options[o.slice(0, i)] = o.slice(i + 1); }
      s.services.push({ template, name, options });
      break;
    }
    case 'ssh_authorized_key':
      if (!/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]{16,}( .*)?$/.test(v)) bad('expected one OpenSSH public key line ("ssh-ed25519 AAAA... comment")');
      s.sshAuthorizedKeys.push(v);
      break;
  }
}

/** The seed's errors as one message per line ("cloudy.conf line 3 (mode): ..."). */
export function formatSeedErrors(errors: SeedError[], file = 'cloudy.conf'): string {
  return errors.map((e) => `${file} line ${e.line}${e.key ? ` (${e.key})` : ''}: ${e.message}`).join('\n');
}

/** The agent config layer as a JSON config file (serf keys; our mode/memory_budget/community_interface). */
export function agentConfigJson(s: Seed, secretsDir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.join.length) out.retry_join = s.join;
  if (s.discover !== null) out.discover = s.discover;
  if (s.interface !== 'auto') out.community_interface = s.interface;
  if (s.encryptKey !== null) out.keyring_file = `${secretsDir}/keyring.json`;
  if (s.mode !== null) out.mode = s.mode;
  if (s.memoryBudget !== null) out.memory_budget = s.memoryBudget;
  // The agent's `guifi` key (config/guifi-settings.ts): its registrar re-reads token_file at each try.
  const g = s.guifi;
  if (g.nodeId !== null || g.user !== null || g.token !== null) {
    out.guifi = {
      ...(g.nodeId !== null ? { node_id: Number(g.nodeId) } : {}), ...(g.user !== null ? { user: g.user } : {}),
      ...(g.token !== null ? { token_file: `${secretsDir}/guifi-token` } : {}),
    };
  }
  // remote control (agent/remote): KEY@role, as -trust-operator takes them
  if (s.operatorKeys.length) out.trusted_operators = s.operatorKeys.map((k) => `ed25519:${k.publicKey}@${k.role}`);
  return out;
}

/** systemd-networkd unit for the wired interfaces (one file). */
export function networkdUnit(s: Seed): string {
  const match = s.interface !== 'auto' ? s.interface : 'en* eth*';
  const lines = ['# written by cloudy-agent seed apply from cloudy.conf', '[Match]', `Name=${match}`, '', '[Network]'];
  const dhcp4 = s.ipv4.kind === 'dhcp';
  const dhcp6 = s.ipv6.kind === 'dhcp';
  lines.push(`DHCP=${dhcp4 && dhcp6 ? 'yes' : dhcp4 ? 'ipv4' : dhcp6 ? 'ipv6' : 'no'}`);
  lines.push(`IPv6AcceptRA=${s.ipv6.kind === 'off' ? 'no' : 'yes'}`);
  if (s.ipv6.kind === 'off') lines.push('LinkLocalAddressing=ipv4');
  if (s.ipv4.kind === 'static') lines.push(`Address=${s.ipv4.address}/${s.ipv4.prefix}`);
  if (s.ipv6.kind === 'static') lines.push(`Address=${s.ipv6.address}/${s.ipv6.prefix}`);
  if (s.gateway4) lines.push(`Gateway=${s.gateway4}`);
  if (s.gateway6) lines.push(`Gateway=${s.gateway6}`);
  for (const d of s.dns) lines.push(`DNS=${d}`);
  // mDNS discovery needs a route covering 224.0.0.251 even on a LAN without a default route.
  lines.push('', '[Route]', 'Destination=224.0.0.0/4', 'Scope=link');
  return lines.join('\n') + '\n';
}

/** The seed text with secret values replaced by a note (comments and other lines kept). */
export function redactSeed(text: string): { text: string; moved: string[] } {
  const moved: string[] = [];
  const out = text.split(/(\r?\n)/).map((l) => {
    const m = /^(\s*)([A-Za-z_-]+)(\s*=\s*)(.*)$/.exec(l);
    if (!m) return l;
    const key = m[2]!.toLowerCase().replace(/-/g, '_');
    if (!(SECRET_KEYS as readonly string[]).includes(key) || m[4]!.trim() === '' || m[4]!.startsWith('imported on first boot')) return l;
    moved.push(key);
    return `${m[1]}${m[2]}${m[3]}${SECRET_NOTE}`;
  }).join('');
  return { text: out, moved };
}

export function seedError(errors: SeedError[]): AgentError {
  return new AgentError('E_CONFIG', formatSeedErrors(errors));
}
