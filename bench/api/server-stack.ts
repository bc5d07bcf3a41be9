// Server stack measurement (issue 11 point 1): RSS of a small HTTP server on
// node:http alone against hono on @hono/node-server, each in its own Node
// process serving the same two routes, measured after 500 requests.
//
//   node --import tsx bench/api/server-stack.ts   (prints a JSON result; run.ts --only api uses it)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

const SERVERS: Record<string, string> = {
  'bare node (no server)': `setInterval(() => {}, 1000); process.send('ready:0');`,
  'node:http': `
    const http = require('node:http');
    const routes = new Map([['/api/v1/info', () => ({ name: 'n', mode: 'full' })], ['/api/v1/members', () => ({ members: [] })]]);
    const s = http.createServer((req, res) => {
      const h = routes.get(req.url.split('?')[0]);
      const body = JSON.stringify(h ? h() : { error: { code: 'not_found', message: 'no route' } });
      res.writeHead(h ? 200 : 404, { 'content-type': 'application/json' }).end(body);
    });
    s.listen(0, '127.0.0.1', () => process.send('ready:' + s.address().port));`,
  'hono + @hono/node-server': `
    const { Hono } = require('hono');
    const { serve } = require('@hono/node-server');
    const app = new Hono();
    app.get('/api/v1/info', (c) => c.json({ name: 'n', mode: 'full' }));
    app.get('/api/v1/members', (c) => c.json({ members: [] }));
    app.notFound((c) => c.json({ error: { code: 'not_found', message: 'no route' } }, 404));
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => process.send('ready:' + info.port));`,
};

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function get(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path, agent: false }, (res) => { res.resume(); res.on('end', resolve); });
    r.on('error', reject);
    r.end();
  });
}

async function measure(name: string, src: string, requests: number): Promise<{ name: string; idleKiB: number; afterKiB: number }> {
  const child = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: process.cwd() });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(Number(String(m).split(':')[1])));
      child.once('exit', (c) => reject(new Error(`${name} exited ${c}`)));
    });
    await new Promise((r) => setTimeout(r, 500));
    const idleKiB = rssKiB(child.pid!);
    if (port > 0) for (let i = 0; i < requests; i++) await get(port, i % 2 ? '/api/v1/info' : '/api/v1/members');
    await new Promise((r) => setTimeout(r, 500));
    return { name, idleKiB, afterKiB: rssKiB(child.pid!) };
  } finally {
    child.kill();
  }
}

export async function measureServerStacks(repeats = 3, requests = 500): Promise<{ name: string; idleKiB: number; afterKiB: number }[]> {
  const out: { name: string; idleKiB: number; afterKiB: number }[] = [];
  for (const [name, src] of Object.entries(SERVERS)) {
    const runs = [];
    for (let i = 0; i < repeats; i++) runs.push(await measure(name, src, requests));
    const med = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    out.push({ name, idleKiB: med(runs.map((r) => r.idleKiB)), afterKiB: med(runs.map((r) => r.afterKiB)) });
  }
  return out;
}

if (process.argv[1]?.endsWith('server-stack.ts')) {
  console.log(JSON.stringify(await measureServerStacks(), null, 1));
}
