// The LXC adapter of the containers domain (implements ContainerDriver from
// driver.ts): the one module of the agent that runs lxc-* tools. Every call goes through
// the injected Exec with an argument array (never a shell), a timeout and
// bounded output; every name reaching here has been validated by the caller
// and is validated again (defence in depth: a name starting with '-' would be
// read as an option). Tool failures become AgentError E_EXEC with exit code and
// stderr; a host without LXC gives E_UNAVAILABLE.
import { readFile, writeFile, rename, access, readdir, unlink, open, stat, truncate, rm, lstat, mkdir } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { AgentError, isAgentError } from '../errors.ts';
import { check, type Exec, type ExecResult } from '../system/exec.ts';
import type { Logger } from '../obs/log.ts';
import { validateName, validateTemplateName, validateTemplateArgs } from './validate.ts';
import { LXC_LOG_FILE, LXC_LS_FIELDS, configAddresses, parseExitCause, parseLxcInfo, parseLxcLsFancy } from './lxc-output.ts';
import type { ContainerInfo, ObservedContainer } from './types.ts';
import type { AttachResult, ContainerDriver } from './driver.ts';
import { pinStaticAddress, rootfsDir, type StaticAddress } from './rootfs-network.ts';

export interface LxcDriverOptions {
  exec: Exec;
  logger: Logger;
  /** Bytes of tool output kept. */
  maxOutputBytes: number;
  /** Directories searched for a template NAME (as NAME, then cloudy-NAME); then LXC's own lxc-NAME. */
  templateDirs: string[];
  /** LXC's stock template directory. */
  stockTemplateDir?: string;
  /** Override of `lxc-config lxc.lxcpath` (tests). */
  lxcPath?: string;
  /** Template runs (debootstrap, apt) may take long. */
  createTimeoutMs?: number;
  commandTimeoutMs?: number;
}

const LOG_MAX_BYTES = 256 * 1024;
const LOG_TAIL_BYTES = 64 * 1024;
const CGROUP_KEY_RE = /^[a-z0-9_]+\.[a-z0-9_.]+$/;

export class LxcDriver implements ContainerDriver {
  private cachedPath: string | undefined;
  private checked = false;

  constructor(private readonly o: LxcDriverOptions) {
    this.cachedPath = o.lxcPath;
  }

  private async run(tool: string, args: string[], timeoutMs?: number, input?: string): Promise<ExecResult> {
    try {
      // A configured LXC path (config key lxc.path) applies to every lxc-* tool, not only to the files read here.
      if (this.o.lxcPath && tool !== 'lxc-config' && !(args.length === 1 && args[0] === '--version')) args = ['-P', this.o.lxcPath, ...args];
      return await this.o.exec.run(tool, args, {
        timeoutMs: timeoutMs ?? this.o.commandTimeoutMs ?? 60_000,
        maxOutputBytes: this.o.maxOutputBytes,
        ...(input !== undefined ? { input } : {}),
      });
    } catch (e) {
      if (isAgentError(e, 'E_UNAVAILABLE')) {
        throw new AgentError('E_UNAVAILABLE', `LXC is not installed or not in PATH (${tool} not found): install the Debian package "lxc"`, { tool });
      }
      throw e;
    }
  }

  async available(): Promise<void> {
    if (this.checked) return;
    check(await this.run('lxc-ls', ['--version'], 10_000));
    this.checked = true;
  }

  async lxcPath(): Promise<string> {
    if (this.cachedPath) return this.cachedPath;
    const r = check(await this.run('lxc-config', ['lxc.lxcpath'], 10_000));
    const p = r.stdout.trim();
    if (!p.startsWith('/')) throw new AgentError('E_UNAVAILABLE', `lxc-config lxc.lxcpath returned '${p}'`);
    this.cachedPath = p;
    return p;
  }

  async list(): Promise<ObservedContainer[]> {
    const r = check(await this.run('lxc-ls', ['-f', '-F', LXC_LS_FIELDS.join(',')]));
    return parseLxcLsFancy(r.stdout);
  }

  async info(name: string): Promise<ContainerInfo> {
    validateName(name);
    const r = await this.run('lxc-info', ['-H', '-n', name]);
    if (r.exitCode !== 0 && /doesn't exist|does not exist/.test(r.stderr + r.stdout)) {
      throw new AgentError('E_NOT_FOUND', `container ${name} does not exist`);
    }
    return parseLxcInfo(check(r).stdout, name);
  }

  async resolveTemplate(template: string): Promise<string> {
    validateTemplateName(template);
    const candidates: string[] = [];
    for (const d of this.o.templateDirs) candidates.push(join(d, template), join(d, `cloudy-${template}`));
    const stock = this.o.stockTemplateDir ?? '/usr/share/lxc/templates';
    candidates.push(join(stock, `lxc-${template}`));
    for (const c of candidates) {
      try {
        await access(c, fsConstants.X_OK);
        return c;
      } catch { /* next */ }
    }
    const known: string[] = [];
    for (const d of this.o.templateDirs) {
      try { known.push(...(await readdir(d)).filter((f) => f.startsWith('cloudy-')).map((f) => f.slice(7))); } catch { /* missing dir */ }
    }
    throw new AgentError('E_NOT_FOUND', `unknown template '${template}'${known.length ? `; available: ${[...new Set(known)].sort().join(', ')}` : ''} (or any LXC template in ${stock})`);
  }

  async create(name: string, templatePath: string, configText: string, templateArgs: string[]): Promise<void> {
    validateName(name);
    validateTemplateArgs(templateArgs);
    if (!templatePath.startsWith('/')) throw new AgentError('E_INVALID', 'template path must be absolute');
    // lxc-create reads the initial config (-f) from a file; it is written next to the containers.
    const dir = await this.lxcPath();
    const cfg = join(dir, `.cloudy-create-${name}.conf`);
    await writeFile(cfg, configText, { mode: 0o600 });
    try {
      const args = ['-n', name, '-t', templatePath, '-f', cfg];
      if (templateArgs.length) args.push('--', ...templateArgs);
      this.o.logger.info(`lxc-create ${name} (template ${templatePath})`);
      const r = await this.run('lxc-create', args, this.o.createTimeoutMs ?? 45 * 60_000);
      if (r.exitCode !== 0 && /already exists/.test(r.stderr)) throw new AgentError('E_EXISTS', `container ${name} already exists`);
      check(r);
    } finally {
      await unlink(cfg).catch(() => {});
    }
  }

  async start(name: string): Promise<void> {
    validateName(name);
    // Keep LXC's per-container log bounded: it is only read for the last run.
    const log = await this.file(name, LXC_LOG_FILE);
    try { if ((await stat(log)).size > LOG_MAX_BYTES) await truncate(log, 0); } catch { /* no log yet */ }
    check(await this.run('lxc-start', ['-n', name]));
    // lxc-start returns once the monitor is up; wait until LXC reports RUNNING.
    check(await this.run('lxc-wait', ['-n', name, '-s', 'RUNNING', '-t', '20'], 30_000));
  }

  async stop(name: string, opts: { timeoutSec?: number; kill?: boolean } = {}): Promise<void> {
    validateName(name);
    const t = opts.timeoutSec ?? 30;
    const args = opts.kill ? ['-n', name, '-k'] : ['-n', name, '-t', String(t)];
    const r = await this.run('lxc-stop', args, (t + 15) * 1000);
    // Exit 2 = already stopped: stopping is idempotent.
    if (r.exitCode === 2 || /not running/.test(r.stderr)) return;
    check(r);
  }

  async flush(name: string): Promise<void> {
    validateName(name);
    // Root filesystems are written with delayed allocation (and often mounted commit=60 on
    // flash): without this a power cut soon after create leaves empty files (an empty
    // inittab) in a container the state file already calls created.
    const dir = await this.file(name, '');
    const rootfs = rootfsDir(await this.readConfig(name), await this.file(name, 'rootfs'));
    for (const p of new Set([dir, ...(rootfs ? [rootfs] : [])])) {
      check(await this.o.exec.run('sync', ['-f', p], { timeoutMs: this.o.commandTimeoutMs ?? 60_000 }));
    }
  }

  async removePartial(name: string): Promise<boolean> {
    validateName(name);
    const dir = join(await this.lxcPath(), name);
    try { await access(join(dir, 'partial')); } catch { return false; }
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  async destroy(name: string): Promise<void> {
    validateName(name);
    const r = await this.run('lxc-destroy', ['-n', name, '-f'], 5 * 60_000);
    if (r.exitCode !== 0 && /doesn't exist|does not exist|not defined/.test(r.stderr)) return;
    check(r);
  }

  async attach(name: string, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<AttachResult> {
    validateName(name);
    if (argv.length === 0) throw new AgentError('E_INVALID', 'exec needs a command');
    // --clear-env: the agent's environment (RPC keys, PATH of the host) does not leak into the container.
    const r = await this.run('lxc-attach', ['-n', name, '--clear-env', '--set-var', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--', ...argv],
      opts.timeoutMs ?? 60_000, opts.input);
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
  }

  async cgroupSet(name: string, key: string, value: string): Promise<void> {
    validateName(name);
    if (!CGROUP_KEY_RE.test(key) || !/^[A-Za-z0-9 _.-]+$/.test(value)) throw new AgentError('E_INVALID', `invalid cgroup setting ${key}=${value}`);
    check(await this.run('lxc-cgroup', ['-n', name, key, value]));
  }

  async cgroupGet(name: string, key: string): Promise<string> {
    validateName(name);
    if (!CGROUP_KEY_RE.test(key)) throw new AgentError('E_INVALID', `invalid cgroup key ${key}`);
    return check(await this.run('lxc-cgroup', ['-n', name, key])).stdout.trim();
  }

  private async file(name: string, f: string): Promise<string> {
    validateName(name);
    return join(await this.lxcPath(), name, f);
  }

  async readConfig(name: string): Promise<string> {
    const p = await this.file(name, 'config');
    try {
      return await readFile(p, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new AgentError('E_NOT_FOUND', `container ${name} does not exist`);
      throw new AgentError('E_IO', `read ${p}: ${(e as Error).message}`);
    }
  }

  async pinAddress(name: string, a: StaticAddress): Promise<string[]> {
    const dir = await this.file(name, 'rootfs');
    const rootfs = rootfsDir(await this.readConfig(name), dir);
    if (rootfs === null) {
      this.o.logger.warn(`${name}: root filesystem is not a directory; cannot check it for a DHCP client`);
      return [];
    }
    return pinStaticAddress(rootfs, a);
  }

  async writeRootfsFile(name: string, relPath: string, text: string): Promise<boolean> {
    if (relPath.startsWith('/') || relPath.split('/').includes('..')) throw new AgentError('E_INVALID', `not a path below the root: ${relPath}`);
    const rootfs = rootfsDir(await this.readConfig(name), await this.file(name, 'rootfs'));
    if (rootfs === null) return false;
    // The root belongs to the container: a symbolic link on the way (etc -> /etc of the host) is refused, never followed.
    let at = rootfs;
    for (const part of relPath.split('/').filter(Boolean)) {
      at = join(at, part);
      const st = await lstat(at).catch(() => null);
      if (st?.isSymbolicLink()) throw new AgentError('E_INVALID', `${at} is a symbolic link; not writing through it`);
      if (!st && at !== join(rootfs, relPath)) await mkdir(at);
    }
    const p = join(rootfs, relPath);
    const tmp = `${p}.cloudy-tmp`;
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, p);
    return true;
  }

  async configuredAddresses(): Promise<{ name: string; ipv4: string[] }[]> {
    const dir = await this.lxcPath();
    let names: string[];
    try { names = await readdir(dir); } catch { return []; }
    const out: { name: string; ipv4: string[] }[] = [];
    for (const n of names) {
      if (n.startsWith('.')) continue;
      let text: string;
      try { text = await readFile(join(dir, n, 'config'), 'utf8'); } catch { continue; }
      const ipv4 = configAddresses(text);
      if (ipv4.length) out.push({ name: n, ipv4 });
    }
    return out;
  }

  async writeConfig(name: string, text: string): Promise<void> {
    const p = await this.file(name, 'config');
    const tmp = `${p}.cloudy-tmp`;
    await writeFile(tmp, text, { mode: 0o640 });
    await rename(tmp, p);
  }

  async readServiceFile(name: string): Promise<string | null> {
    try {
      return await readFile(await this.file(name, 'cloudy-service.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async lastExit(name: string): Promise<'clean' | 'failure' | 'unknown'> {
    const p = await this.file(name, LXC_LOG_FILE);
    let fh;
    try {
      fh = await open(p, 'r');
      const size = (await fh.stat()).size;
      const len = Math.min(size, LOG_TAIL_BYTES);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      return parseExitCause(buf.toString('utf8'));
    } catch {
      return 'unknown';
    } finally {
      await fh?.close();
    }
  }
}
