// A private LAN for image tests: a hub network namespace holding a bridge, and
// "hosts" (namespaces with one veth on that bridge, each with the multicast
// route mDNS needs: without a route covering 224.0.0.251, sends fail with
// ENETUNREACH). Everything is named with the test's prefix (img...) and uses
// 10.223.0.0/16 only. Processes run inside with `ip netns exec`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** Runs a shell command (60 s at most unless `timeoutMs` says otherwise); throws on failure unless `allowFail`. */
export function sh(cmd: string, allowFail = false, timeoutMs = 60_000): string {
  const r = spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd}: exit ${r.status}${r.signal ? ` (${r.signal}${r.error ? `: ${r.error.message}` : ''})` : ''}: ${r.stderr}`);
  return r.stdout ?? '';
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls until fn() is truthy (bounded by count and time). */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 30_000, stepMs = 250): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) break;
    await sleep(stepMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export class Lan {
  readonly hub: string;
  readonly bridge: string;
  private readonly hosts: string[] = [];
  private readonly procs: ChildProcess[] = [];

  /** `tag`: 2-4 letters making this test's names unique (img<tag>...); `net`: third octet in 10.223.X.0/24. */
  constructor(readonly tag: string, readonly net: number) {
    this.hub = `img${tag}hub`;
    this.bridge = `img${tag}br`;
  }

  /** Removes leftovers of an earlier run with the same tag, then builds hub + bridge. */
  up(bridgeIp?: number): void {
    this.down();
    sh(`ip netns add ${this.hub}`);
    sh(`ip -n ${this.hub} link set lo up && ip -n ${this.hub} link add ${this.bridge} type bridge && ip -n ${this.hub} link set ${this.bridge} up`);
    if (bridgeIp !== undefined) {
      sh(`ip -n ${this.hub} addr add 10.223.${this.net}.${bridgeIp}/24 dev ${this.bridge}`);
      sh(`ip -n ${this.hub} route add 224.0.0.0/4 dev ${this.bridge}`);
    }
  }

  /** A host namespace with address 10.223.<net>.<last>/24 on eth0, plugged into the bridge. */
  host(name: string, last: number): string {
    const ns = `img${this.tag}${name}`;
    const peer = `img${this.tag}${name}p`.slice(0, 15);
    sh(`ip netns add ${ns}`);
    this.hosts.push(ns);
    sh(`ip link add ${peer} type veth peer name eth0 netns ${ns}`);
    sh(`ip link set ${peer} netns ${this.hub} && ip -n ${this.hub} link set ${peer} master ${this.bridge} && ip -n ${this.hub} link set ${peer} up`);
    // No duplicate address detection: serf's mDNS poll fails as a whole while the
    // IPv6 link-local address is still tentative (sendto ff02::fb: cannot assign).
    sh(`ip netns exec ${ns} sysctl -qw net.ipv6.conf.eth0.accept_dad=0`, true);
    sh(`ip -n ${ns} link set lo up && ip -n ${ns} link set eth0 up && ip -n ${ns} addr add 10.223.${this.net}.${last}/24 dev eth0`);
    sh(`ip -n ${ns} route add 224.0.0.0/4 dev eth0`);
    return ns;
  }

  /** Starts a process inside a namespace, output to a log file. */
  spawnIn(ns: string, argv: string[], logPath: string, env: Record<string, string> = {}): ChildProcess {
    const fd = openSync(logPath, 'w');
    const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    closeSync(fd);
    this.procs.push(p);
    return p;
  }

  static readLog(path: string): string {
    try { return readFileSync(path, 'utf8'); } catch { return ''; }
  }

  async stopAll(): Promise<void> {
    for (const p of this.procs.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) {
        const done = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await Promise.race([done, sleep(5000)]);
      }
    }
  }

  down(): void {
    const list = sh('ip netns list', true).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`img${this.tag}`));
    for (const ns of list) {
      // Processes still inside (from a crashed earlier run) would keep the namespace alive.
      sh(`ip netns pids ${ns} | xargs -r kill -9`, true);
      sh(`ip netns del ${ns}`, true);
    }
    this.hosts.length = 0;
  }
}
