// A port free on `host` right now for both TCP and UDP (serf and memberlist bind
// both on the gossip port): the kernel picks a TCP port, the UDP bind checks it;
// both are closed before returning. The tests', and the benches', one copy.
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, host, () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      u.once('error', () => { u.close(); resolve(false); });
      u.bind(port, host, () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error(`no port free for TCP and UDP on ${host}`);
}
