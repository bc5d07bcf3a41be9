// Starts and stops a real Debian `serf` agent for interop tests (not a test file).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SerfPeer { proc: ChildProcess; rpc: string; bind: string; output: () => string }

export async function startSerf(opts: { name: string; bind: string; rpc: string; args?: string[] }): Promise<SerfPeer> {
  const args = ['agent', `-node=${opts.name}`, `-bind=${opts.bind}`, `-rpc-addr=${opts.rpc}`, '-log-level=debug', ...(opts.args ?? [])];
  const proc = spawn('/usr/bin/serf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d.toString(); if (out.length > 2_000_000) out = out.slice(-1_000_000); });
  proc.stderr!.on('data', (d) => { out += d.toString(); });
  const peer: SerfPeer = { proc, rpc: opts.rpc, bind: opts.bind, output: () => out };
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`serf exited: ${out}`);
    try { await serfMembers(peer); return peer; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  proc.kill('SIGKILL');
  throw new Error(`serf did not start: ${out}`);
}

export interface SerfMember { name: string; addr: string; port: number; status: string; tags: Record<string, string>; protocol: Record<string, number> }

export async function serfMembers(p: SerfPeer): Promise<SerfMember[]> {
  const { stdout } = await run('/usr/bin/serf', ['members', `-rpc-addr=${p.rpc}`, '-format', 'json'], { timeout: 5000 });
  const j = JSON.parse(stdout) as { members: { name: string; addr: string; port: number; status: string; tags: Record<string, string>; protocol: Record<string, number> }[] };
  return j.members.map((m) => ({ ...m }));
}

export async function serfCmd(p: SerfPeer, args: string[]): Promise<string> {
  const { stdout } = await run('/usr/bin/serf', [args[0]!, `-rpc-addr=${p.rpc}`, ...args.slice(1)], { timeout: 10_000 });
  return stdout;
}

export async function stopSerf(p: SerfPeer | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const exited = new Promise((r) => p.proc.once('exit', r));
  p.proc.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
}
