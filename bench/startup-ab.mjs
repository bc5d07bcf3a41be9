// Interleaved A/B of our executables' start-up (issue 17): each variant started in turn
// RUNS times (`agent` alone on loopback, the systemd unit's malloc settings, trace on),
// median ms per trace phase, per-run deltas between phases, and CPU ms (10 ms ticks)
// when RPC listens. Interleaving is what makes a shared, noisy machine's figures
// comparable between variants; bench/startup.ts runs variants one after the other.
//
//   node bench/startup-ab.mjs RUNS EXE [EXE ...]     (an EXE may carry arguments: "node22 --flag x.js")
//   NICE=1 ...                                       (starts them under nice -n -20)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [runs, ...exes] = process.argv.slice(2);
const dataDir = mkdtempSync(join(tmpdir(), 'fp-ab-'));
const env = { ...process.env, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072', CLOUDY_AGENT_STARTUP_TRACE: '1' };
delete env.NODE_OPTIONS;
const res = exes.map(() => ({}));
function once(exe) {
  return new Promise((resolve) => {
    const [file, ...pre] = exe.split(' ');
    const c = spawn(process.env.NICE ? 'nice' : file, [...(process.env.NICE ? ['-n', '-20', file] : []), ...pre, 'agent', '-node', 'x', '-bind', '127.0.0.1:0', '-rpc-addr', '127.0.0.1:0', '-log-level', 'warn', '-data-dir', dataDir], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = ''; let cpu = null;
    c.stderr.on('data', (d) => { err += d; if (cpu === null && err.includes('RPC listening')) { try { const f = readFileSync(`/proc/${c.pid}/stat`, 'utf8').slice(0).split(') ')[1].split(' '); cpu = (Number(f[11]) + Number(f[12])) * 10; } catch {} } if (err.includes('daemon started')) c.kill('SIGTERM'); });
    setTimeout(() => c.kill('SIGKILL'), 8000);
    c.on('exit', () => { const ph = {}; for (const l of err.split('\n')) { const m = /^cloudy-agent startup-trace ([\d.]+) (.*)$/.exec(l); if (m) ph[m[2]] = Number(m[1]); } ph['cpu@RPC'] = cpu; resolve(ph); });
  });
}
for (let i = 0; i < Number(runs); i++) for (let j = 0; j < exes.length; j++) { const ph = await once(exes[j]); for (const [k, v] of Object.entries(ph)) (res[j][k] ??= []).push(v); }
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const phases = Object.keys(res[0]).filter((p) => !p.startsWith('plug-in'));
rmSync(dataDir, { recursive: true, force: true });
console.log(['phase', ...exes.map((e) => e.split('/').pop())].join(' | '));
for (const p of phases) console.log([p, ...res.map((r) => r[p] ? med(r[p]).toFixed(0) : '-')].join(' | '));
// per-run deltas: bootstrap -> modules evaluated (compile/deserialize + evaluate), evaluated -> RPC listening, bootstrap -> RPC
const d = (r, a, b) => { const xs = []; for (let i = 0; i < (r[b] ?? []).length; i++) if (r[a]?.[i] !== undefined) xs.push(r[b][i] - r[a][i]); return xs.length ? med(xs).toFixed(0) : '-'; };
console.log(['Δ bootstrap→modules evaluated', ...res.map((r) => d(r, 'node bootstrap done', 'modules evaluated'))].join(' | '));
console.log(['Δ modules evaluated→RPC listening', ...res.map((r) => d(r, 'modules evaluated', 'RPC listening'))].join(' | '));
console.log(['Δ bootstrap→RPC listening', ...res.map((r) => d(r, 'node bootstrap done', 'RPC listening'))].join(' | '));
