// Drives a swarm tool process (bench/swarm/main.ts) over its stdin/stdout
// line protocol. The swarm runs under `prlimit` so it may open two file
// descriptors per member beyond the default limit.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, type ProcessRegistry } from './agents.ts';

export interface SwarmProcessOptions {
  base: number;
  port: number;
  prefix: string;
  join: string[];
  durationS: number;
  /** Members the swarm may reach (sizes the descriptor limit). */
  maxMembers: number;
  /** Operator keys (`KEY[@role]`) the members trust: they answer remote-control queries. */
  trustOperators?: string[];
}

function openFilesLimits(): { soft: number; hard: number } {
  try {
    const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return { soft: Number(m[1]), hard: Number(m[2]) };
  } catch { /* not Linux */ }
  return { soft: 1024, hard: 1024 };
}

/** Whether prlimit may raise the hard descriptor limit to `n` here (needs CAP_SYS_RESOURCE, missing in some containers). */
function canRaiseHardLimit(n: number): boolean {
  if (!existsSync('/usr/bin/prlimit')) return false;
  const r = spawnSync('/usr/bin/prlimit', [`--nofile=${n}:${n}`, 'true'], { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

export class SwarmProcess {
  private readonly waiters: { prefix: string; resolve: (line: string) => void }[] = [];
  private tail = '';
  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const i = this.waiters.findIndex((w) => line.startsWith(w.prefix));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(line);
    });
    child.stderr!.on('data', (d: Buffer) => { this.tail = (this.tail + d.toString()).slice(-4096); });
  }

  static start(reg: ProcessRegistry, o: SwarmProcessOptions): SwarmProcess {
    const args = [
      join(REPO_ROOT, 'bench/swarm/main.ts'), '-count', '0', '-base', String(o.base), '-port', String(o.port),
      '-prefix', o.prefix, '-duration', String(o.durationS), '-max-members', String(o.maxMembers),
      ...o.join.flatMap((j) => ['-join', j]), ...(o.trustOperators ?? []).flatMap((k) => ['-trust-operator', k]),
    ];
    // Two descriptors per member. Raise the soft limit as far as allowed: up to the
    // need when the hard limit may be raised (CAP_SYS_RESOURCE), else to the hard limit.
    const need = o.maxMembers * 2 + 1024;
    const { hard } = openFilesLimits();
    const target = canRaiseHardLimit(need) ? need : Math.min(need, hard);
    const child = existsSync('/usr/bin/prlimit')
      ? reg.spawn('/usr/bin/prlimit', [`--nofile=${target}:${Math.max(target, hard)}`, process.execPath, '--import', 'tsx', ...args], { stdin: 'pipe' })
      : reg.spawn(process.execPath, ['--import', 'tsx', ...args], { stdin: 'pipe' });
    return new SwarmProcess(child);
  }

  get pid(): number { return this.child.pid ?? -1; }

  private request(cmd: string | null, reply: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`swarm: no "${reply}" within ${timeoutMs} ms; stderr: ${this.tail.trim().slice(-300)}`)), timeoutMs);
      this.waiters.push({ prefix: reply, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      if (cmd !== null) this.child.stdin!.write(`${cmd}\n`);
    });
  }

  /** Waits for the initial `ready 0`. */
  async ready(timeoutMs = 30_000): Promise<void> { await this.request(null, 'ready', timeoutMs); }

  /** Grows to `total` members; resolves with the member count once sockets are bound and the join push/pull is done. */
  async grow(total: number, timeoutMs = 120_000): Promise<number> {
    return Number((await this.request(`grow ${total}`, 'ready', timeoutMs)).split(' ')[1]);
  }

  async pushPull(timeoutMs = 30_000): Promise<number> {
    return Number((await this.request('pushpull', 'pushpull', timeoutMs)).split(' ')[1]);
  }

  async stats(timeoutMs = 10_000): Promise<Record<string, number>> {
    return JSON.parse((await this.request('stats', 'stats', timeoutMs)).slice(6)) as Record<string, number>;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise<void>((r) => { this.child.once('exit', () => r()); setTimeout(r, 10_000); });
    this.child.stdin!.end();
    await gone;
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
