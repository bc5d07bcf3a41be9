// The one way tests start the real Debian `serf` binary (0.9.4) as a peer:
// a `serf agent` on a loopback address, talked to with the serf CLI. It can
// record its events through an -event-handler script (eventHandler: false for
// floods, which would spawn thousands of scripts), keeps the log lines that
// report a node suspected or failed, and logs to a file instead of a pipe when
// the test blocks its own event loop (spawnSync of the serf CLI: a full pipe
// would block the agent itself).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, chmodSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExec } from '../../agent/system/exec.ts';
import { waitFor } from './wait.ts';

export const SERF_BIN = '/usr/bin/serf';
const exec = createExec();

export interface SerfAgentOptions {
  name: string;
  /** A loopback address (interop tests: 127.0.3.x, flood tests: 127.0.8.x). */
  ip: string;
  /** Default 7946. */
  port?: number;
  /** Default 7373. */
  rpcPort?: number;
  /** Record events through a handler script (default true). */
  eventHandler?: boolean;
  /** More -event-handler scripts (serf's syntax, e.g. "user:deploy=/path"). */
  handlers?: string[];
  /** Default debug. */
  logLevel?: 'debug' | 'info' | 'warn' | 'err';
  /** Default lan; null leaves the flag out (serf's own default). */
  profile?: 'lan' | 'wan' | 'local' | null;
  /** Default 4; null leaves the flag out (serf's own default, the latest). */
  protocol?: number | null;
  tags?: Record<string, string>;
  join?: string[];
  encrypt?: string;
  keyringFile?: string;
  snapshot?: string;
  replay?: boolean;
  rejoin?: boolean;
  /** serf agent has no -rpc-auth flag: written as rpc_auth in a config file. */
  rpcAuth?: string;
  /** Log to a file rather than a pipe (see the header). */
  logToFile?: boolean;
  /** Any other `serf agent` flags, appended last. */
  extra?: string[];
}

export interface CliMember { name: string; addr: string; port: number; tags: Record<string, string>; status: string; protocol: Record<string, number> }

export class SerfAgent {
  proc: ChildProcess | null = null;
  readonly dir: string;
  readonly rpc: string;
  readonly eventsFile: string;
  readonly port: number;
  private readonly logFile: string;
  private logTail = '';

  /** Log lines kept whole (the tail is cut): a node suspected, refuted or marked failed. */
  readonly alarms: string[] = [];

  /** Starts an agent and waits until its RPC answers (throws if it exits first). */
  static async launch(o: SerfAgentOptions): Promise<SerfAgent> {
    const a = new SerfAgent(o);
    a.start();
    try {
      await a.waitReady();
    } catch (e) {
      await a.stop();
      a.cleanup();
      throw new Error(`serf agent ${o.name} did not start: ${(e as Error).message}\n${a.log().slice(-2000)}`);
    }
    return a;
  }

  constructor(readonly o: SerfAgentOptions) {
    this.port = o.port ?? 7946;
    this.rpc = `${o.ip}:${o.rpcPort ?? 7373}`;
    const needDir = o.eventHandler !== false || o.rpcAuth !== undefined || o.logToFile === true;
    this.dir = needDir ? mkdtempSync(join(tmpdir(), `serf-${o.name}-`)) : '';
    this.logFile = o.logToFile ? join(this.dir, 'agent.log') : '';
    if (o.rpcAuth !== undefined) writeFileSync(join(this.dir, 'rpc.json'), JSON.stringify({ rpc_auth: o.rpcAuth }));
    if (o.eventHandler === false) { this.eventsFile = ''; return; }
    this.eventsFile = join(this.dir, 'events.log');
    const handler = join(this.dir, 'handler.sh');
    // One line per event: EVENT|user-event-name|query-name|payload. Queries answer "resp:<node>:<payload>".
    writeFileSync(handler, `#!/bin/sh
payload=$(cat)
echo "$SERF_EVENT|$SERF_USER_EVENT|$SERF_QUERY_NAME|$payload" >> '${this.eventsFile}'
if [ "$SERF_EVENT" = "query" ]; then printf 'resp:%s:%s' "$SERF_SELF_NAME" "$payload"; fi
`);
    chmodSync(handler, 0o755);
  }

  get addr(): string { return `${this.o.ip}:${this.port}`; }
  get name(): string { return this.o.name; }

  start(extra: Partial<SerfAgentOptions> = {}): void {
    const o = { ...this.o, ...extra };
    const args = ['agent', `-node=${o.name}`, `-bind=${o.ip}:${this.port}`, `-rpc-addr=${this.rpc}`, `-log-level=${o.logLevel ?? 'debug'}`];
    if (o.profile !== null) args.push(`-profile=${o.profile ?? 'lan'}`);
    if (o.protocol !== null) args.push(`-protocol=${o.protocol ?? 4}`);
    if (this.eventsFile !== '') args.push(`-event-handler=${join(this.dir, 'handler.sh')}`);
    for (const h of o.handlers ?? []) args.push(`-event-handler=${h}`);
    if (o.rpcAuth !== undefined) args.push(`-config-file=${join(this.dir, 'rpc.json')}`);
    for (const [k, v] of Object.entries(o.tags ?? {})) args.push('-tag', `${k}=${v}`);
    for (const j of o.join ?? []) args.push(`-join=${j}`);
    if (o.encrypt) args.push(`-encrypt=${o.encrypt}`);
    if (o.keyringFile) args.push(`-keyring-file=${o.keyringFile}`);
    if (o.snapshot) args.push(`-snapshot=${o.snapshot}`);
    if (o.replay) args.push('-replay');
    if (o.rejoin) args.push('-rejoin');
    args.push(...(o.extra ?? []));
    if (this.logFile !== '') {
      const fd = openSync(this.logFile, 'a');
      this.proc = spawn(SERF_BIN, args, { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      return;
    }
    this.proc = spawn(SERF_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    const keep = (d: Buffer) => {
      const text = d.toString();
      this.logTail = (this.logTail + text).slice(-500_000);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        if (this.alarms.length < 10_000 && /EventMemberFailed|as failed|Suspect .* has failed|Refuting a suspect/.test(l)) this.alarms.push(l);
      }
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
  }

  log(): string {
    if (this.logFile === '') return this.logTail;
    try { return readFileSync(this.logFile, 'utf8'); } catch { return ''; }
  }

  /** Log lines where serf complains about what it received (decode errors, bad messages). */
  decodeErrors(): string[] {
    return this.log().split('\n').filter((l) => /\[(ERR|WARN)\]/.test(l) && /decod|malformed|unsupported|Invalid|invalid|checksum|crc/i.test(l));
  }

  async waitReady(timeoutMs = 20_000): Promise<void> {
    await waitFor(`${this.o.name} RPC`, async () => {
      if (this.proc === null || this.proc.exitCode !== null) throw new Error('serf agent exited');
      return (await this.members()).length > 0;
    }, timeoutMs, 200);
  }

  /** Runs a serf CLI command against this agent (its -rpc-addr, and -rpc-auth if set). */
  async cli(args: string[], timeoutMs = 20_000): Promise<{ code: number; out: string; err: string }> {
    const auth = this.o.rpcAuth !== undefined ? [`-rpc-auth=${this.o.rpcAuth}`] : [];
    const r = await exec.run(SERF_BIN, [...args.slice(0, 1), `-rpc-addr=${this.rpc}`, ...auth, ...args.slice(1)], { timeoutMs });
    return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
  }

  /** Like cli(), but returns stdout and throws when the command fails. */
  async run(args: string[], timeoutMs = 20_000): Promise<string> {
    const r = await this.cli(args, timeoutMs);
    if (r.code !== 0) throw new Error(`serf ${args.join(' ')}: exit ${r.code}: ${r.err || r.out}`);
    return r.out;
  }

  async members(): Promise<CliMember[]> {
    const r = await this.cli(['members', '-format=json'], 5000).catch(() => null);
    if (!r || r.code !== 0) return [];
    try {
      const j = JSON.parse(r.out) as { members: { name: string; addr: string; port: number; tags: Record<string, string>; status: string; protocol: Record<string, number> }[] };
      return j.members;
    } catch { return []; }
  }

  async member(name: string): Promise<CliMember | undefined> {
    return (await this.members()).find((m) => m.name === name);
  }

  /** Log lines saying `node` was marked failed. */
  failedLines(node: string): string[] {
    return this.alarms.filter((l) => l.includes(`EventMemberFailed: ${node} `) || l.includes(`Marking ${node} as failed`));
  }

  /** Status of `node` as this agent sees it ('none' when unknown, 'error' when the CLI failed). */
  async statusOf(node: string): Promise<string> {
    const r = await this.cli(['members', '-format=json', `-name=^${node}$`], 8000).catch(() => null);
    if (!r || r.code !== 0) return 'error';
    try {
      const j = JSON.parse(r.out) as { members: { name: string; status: string }[] };
      return j.members.find((m) => m.name === node)?.status ?? 'none';
    } catch { return 'error'; }
  }

  /** Alive members this agent lists (-1 when the CLI failed). */
  async aliveCount(): Promise<number> {
    const r = await this.cli(['members', '-format=json', '-status=alive'], 8000).catch(() => null);
    if (!r || r.code !== 0) return -1;
    try { return (JSON.parse(r.out) as { members: unknown[] }).members.length; } catch { return -1; }
  }

  /** Lines written by the event handler. */
  events(): string[] {
    if (this.eventsFile === '' || !existsSync(this.eventsFile)) return [];
    return readFileSync(this.eventsFile, 'utf8').split('\n').filter(Boolean);
  }

  kill9(): void { this.proc?.kill('SIGKILL'); this.proc = null; }

  /** Stops the agent (SIGKILL unless told otherwise; SIGKILL after 5 s if a gentler signal is ignored). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => { p.once('exit', () => r()); });
    p.kill(signal);
    await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 5000).unref())]);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 3000).unref())]);
    }
  }

  async waitExit(timeoutMs: number): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) { this.proc = null; return; }
    await new Promise<void>((r) => { p.once('exit', () => r()); setTimeout(r, timeoutMs).unref(); });
    this.proc = null;
  }

  cleanup(): void { if (this.dir !== '') rmSync(this.dir, { recursive: true, force: true }); }

  /** stop() and cleanup(). */
  async dispose(): Promise<void> {
    await this.stop();
    this.cleanup();
  }
}
