// First boot: applies the seed (agent/config/seed.ts) to a system rooted at
// `root` ('/' on the box, a temp dir in tests). Writes hostname, networkd unit,
// SSH keys, the agent's config layer, operator keys, guifi values, secrets
// (0600, off the FAT partition, the seed rewritten with a note in their place),
// the HostID derived from machine-id, the status of the seed and the first-boot
// marker. A malformed seed is not applied at all: the box boots with defaults
// (DHCP, -discover cloudy) and the status says what was wrong.
// Growing the root partition is a shell mechanism (image/overlay .../cloudy-grow-root).
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  agentConfigJson, defaultSeed, formatSeedErrors, networkdUnit, parseSeed, redactSeed, type Seed, type SeedError,
} from './seed.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

export const SEED_PATHS = {
  seed: '/boot/efi/cloudy.conf',
  etc: '/etc/cloudy-agent',
  secrets: '/etc/cloudy-agent/secrets',
  agentConfDir: '/etc/cloudy-agent/agent.d',
  state: '/var/lib/cloudy-agent',
  status: '/var/lib/cloudy-agent/seed-status.json',
  done: '/var/lib/cloudy-agent/firstboot.done',
  network: '/etc/systemd/network/20-cloudy.network',
} as const;

export interface SeedStatus {
  ok: boolean;
  /** 'file' = the seed was read; 'none' = no seed, defaults; 'defaults' = malformed, defaults used. */
  source: 'file' | 'none' | 'defaults';
  errors: SeedError[];
  message: string;
  hostname: string;
  secretsMoved: string[];
  appliedAt: string;
}

function write(root: string, path: string, text: string, mode = 0o644): void {
  const p = join(root, path);
  mkdirSync(dirname(p), { recursive: true });
  const tmp = `${p}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, p);
}

/** Default host name: cloudy-<6 hex of machine-id> (unique per flashed box once machine-id exists). */
export function defaultHostname(machineId: string): string {
  return `cloudy-${(machineId.trim() || '000000').slice(0, 6)}`;
}

/** Cloudy's HostID (32 hex), here derived from machine-id so it follows the box, not the image. */
export function hostIdFromMachineId(machineId: string): string {
  return nodeCrypto().createHash('md5').update(`cloudy-agent:${machineId.trim()}`).digest('hex');
}

export interface ApplyOptions {
  root: string;
  /** Override where the seed is (default /boot/efi/cloudy.conf under root). */
  seedPath?: string;
  /** In a container the host name is the container's (lxc.uts.name) unless the seed names one. */
  container?: boolean;
  now?: () => Date;
}

export function applySeed(o: ApplyOptions): SeedStatus {
  const root = o.root;
  const seedFile = join(root, o.seedPath ?? SEED_PATHS.seed);
  let text: string | null = null;
  try { text = readFileSync(seedFile, 'utf8'); } catch { text = null; }
  let seed: Seed = defaultSeed();
  seed.discover = 'cloudy';
  let errors: SeedError[] = [];
  let source: SeedStatus['source'] = 'none';
  if (text !== null) {
    const r = parseSeed(text);
    errors = r.errors;
    if (errors.length === 0) { seed = r.seed; source = 'file'; } else source = 'defaults';
  }
  let machineId = '';
  try { machineId = readFileSync(join(root, 'etc/machine-id'), 'utf8').trim(); } catch { /* none yet */ }
  let current = '';
  try { current = readFileSync(join(root, 'etc/hostname'), 'utf8').trim(); } catch { /* none */ }
  const hostname = seed.hostname ?? (o.container && current !== '' ? current : defaultHostname(machineId));
  const S = SEED_PATHS;

  write(root, '/etc/hostname', `${hostname}\n`);
  const hostsPath = join(root, 'etc/hosts');
  const hosts = existsSync(hostsPath) ? readFileSync(hostsPath, 'utf8').split('\n').filter((l) => !/^127\.0\.1\.1\s/.test(l) && l !== '').join('\n') : '127.0.0.1\tlocalhost';
  write(root, '/etc/hosts', `${hosts}\n127.0.1.1\t${hostname}\n`);
  write(root, S.network, networkdUnit(seed));

  if (seed.sshAuthorizedKeys.length) {
    write(root, '/root/.ssh/authorized_keys', seed.sshAuthorizedKeys.join('\n') + '\n', 0o600);
    chmodSync(join(root, 'root/.ssh'), 0o700);
  }
  mkdirSync(join(root, S.secrets), { recursive: true, mode: 0o700 });
  chmodSync(join(root, S.secrets), 0o700);
  if (seed.encryptKey) write(root, `${S.secrets}/keyring.json`, JSON.stringify([seed.encryptKey]) + '\n', 0o600);
  if (seed.guiAdminPasswordHash) write(root, `${S.secrets}/gui-admin.hash`, seed.guiAdminPasswordHash + '\n', 0o600);
  if (seed.guifi.token) write(root, `${S.secrets}/guifi-token`, seed.guifi.token + '\n', 0o600);
  if (seed.operatorKeys.length) {
    write(root, `${S.etc}/operators.conf`, '# NAME ROLE ED25519-PUBLIC-KEY (from cloudy.conf operator_key)\n'
      + seed.operatorKeys.map((k) => `${k.name} ${k.role} ${k.publicKey}`).join('\n') + '\n');
  }
  const g = seed.guifi;
  if (g.nodeId || g.zone || g.user) {
    write(root, `${S.etc}/guifi.conf`, [g.nodeId && `node_id=${g.nodeId}`, g.zone && `zone=${g.zone}`, g.user && `user=${g.user}`,
      g.token && `token_file=${S.secrets}/guifi-token`].filter(Boolean).join('\n') + '\n');
  }
  if (seed.services.length) {
    write(root, `${S.etc}/first-boot-services`, seed.services.map((s) =>
      [s.template, s.name, ...Object.entries(s.options).map(([k, v]) => `${k}=${v}`)].join(' ')).join('\n') + '\n');
  }
  const conf = agentConfigJson(seed, S.secrets);
  const message = errors.length ? `cloudy.conf is malformed, booted with defaults (DHCP, discover cloudy):\n${formatSeedErrors(errors)}` : source === 'none'
    ? 'no cloudy.conf: DHCP on wired interfaces, discovering peers as "cloudy"' : 'cloudy.conf applied';
  if (errors.length) {
    // Visible to the whole federation (serf members) and to `cloudy-agent info`: short and in one tag.
    conf.tags = { 'seed-error': formatSeedErrors(errors.slice(0, 1)).slice(0, 120) };
  }
  write(root, `${S.agentConfDir}/10-seed.json`, JSON.stringify(conf, null, 2) + '\n');

  const hostIdPath = join(root, S.state, 'HostID');
  if (!existsSync(hostIdPath) && machineId !== '') write(root, `${S.state}/HostID`, hostIdFromMachineId(machineId) + '\n');

  let moved: string[] = [];
  if (text !== null && errors.length === 0) {
    const r = redactSeed(text);
    moved = r.moved;
    if (moved.length) {
      // The FAT partition has no rename-over guarantee across power cuts; the secrets are already safe in the root fs.
      writeFileSync(seedFile, r.text);
    }
  }
  const status: SeedStatus = {
    ok: errors.length === 0, source, errors, message, hostname, secretsMoved: moved,
    appliedAt: (o.now?.() ?? new Date()).toISOString(),
  };
  write(root, S.status, JSON.stringify(status, null, 2) + '\n');
  write(root, S.done, `${status.appliedAt}\n`);
  return status;
}

export function readSeedStatus(root = '/'): SeedStatus | null {
  try { return JSON.parse(readFileSync(join(root, SEED_PATHS.status), 'utf8')) as SeedStatus; } catch { return null; }
}
