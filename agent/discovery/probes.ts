// The OS side of service checks: TCP connect, HTTP GET, command run. Each
// probe resolves to pass/fail with a reason and never throws.
import { connect } from 'node:net';
import type { Exec } from '../system/exec.ts';
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import type { ServiceProbe } from './publisher.ts';

// On first check, not at start (system/lazy-builtin.ts).
const http = lazyBuiltin('node:http');
const https = lazyBuiltin('node:https');

export interface ProbeResult { ok: boolean; detail: string }

export interface Prober {
  /** `servicePort` is the announced port (default target of tcp probes). */
  run(probe: ServiceProbe, servicePort: number, timeoutMs: number): Promise<ProbeResult>;
}

export function createProber(exec: Exec): Prober {
  return {
    async run(probe, servicePort, timeoutMs) {
      switch (probe.kind) {
        case 'tcp': return tcpProbe(probe.host ?? '127.0.0.1', probe.port ?? servicePort, timeoutMs);
        case 'http': return httpProbe(probe.url, timeoutMs);
        case 'exec': return execProbe(exec, probe.command, timeoutMs);
      }
    },
  };
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, detail: `tcp ${host}:${port}: no answer in ${timeoutMs} ms` }), timeoutMs);
    sock.once('connect', () => done({ ok: true, detail: `tcp ${host}:${port} open` }));
    sock.once('error', (e) => done({ ok: false, detail: `tcp ${host}:${port}: ${e.message}` }));
  });
}

/**
 * Passes on any 2xx or 3xx answer (redirects are not followed: a 3xx proves
 * the server is up). Certificates are not verified: this asks "is it up?", and
 * community services commonly run self-signed (e.g. the Cloudy GUI on 7443).
 */
export function httpProbe(url: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https().request : http().request)(u, { method: 'GET', agent: false, rejectUnauthorized: false }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      finish({ ok: code >= 200 && code < 400, detail: `GET ${url}: ${code}` });
    });
    const timer = setTimeout(() => finish({ ok: false, detail: `GET ${url}: no answer in ${timeoutMs} ms` }), timeoutMs);
    req.once('error', (e) => finish({ ok: false, detail: `GET ${url}: ${e.message}` }));
    req.end();
  });
}

export async function execProbe(exec: Exec, command: readonly string[], timeoutMs: number): Promise<ProbeResult> {
  try {
    const r = await exec.run(command[0]!, command.slice(1), { timeoutMs, maxOutputBytes: 4096 });
    if (r.timedOut) return { ok: false, detail: `${r.command}: timed out after ${timeoutMs} ms` };
    return { ok: r.exitCode === 0, detail: `${r.command}: exit ${r.exitCode}` };
  } catch (e) {
    return { ok: false, detail: `${command[0]}: ${(e as Error).message}` };
  }
}
