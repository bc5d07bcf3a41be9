// Loopback port ranges chosen at run time: a base where `count` consecutive
// ports are free for both TCP and UDP on 127.0.0.1 right now (probed by
// binding each), so bench sections run beside other people's tests. Below
// 32768: the kernel hands out ephemeral ports (outgoing connections) above it.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

async function tcpFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function udpFree(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Bounded search (40 tries) in [lo, hi) for `count` consecutive ports free for TCP and UDP. */
export async function freePortRange(count: number, lo = 28000, hi = 32700): Promise<number> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const base = lo + Math.floor(Math.random() * (hi - lo - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = (await tcpFree(p)) && (await udpFree(p));
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free loopback ports in ${lo}-${hi}`);
}

/**
 * Runs `start` with fresh port bases until it does not fail on a port taken in
 * the meantime (EADDRINUSE; 3 tries). `cleanup` runs after a failed try (kills
 * what that try started).
 */
export async function withFreshPorts<T>(counts: number[], start: (bases: number[]) => Promise<T>, cleanup: () => Promise<void>): Promise<T> {
  const ranges: [number, number][] = [[28000, 30300], [30400, 32700]];
  for (let attempt = 1; ; attempt++) {
    const bases: number[] = [];
    for (let i = 0; i < counts.length; i++) bases.push(await freePortRange(counts[i]!, ...(ranges[i % ranges.length]!)));
    try {
      return await start(bases);
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use/.test((e as Error).message)) throw e;
      await cleanup();
    }
  }
}
