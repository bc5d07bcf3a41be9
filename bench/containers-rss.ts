// Measures the agent side of container management: create+start time of busybox
// containers and the agent process's RSS while it manages 10 of them (the
// reconciler polling every second, services published, port forwards in place).
// Run as root: node --import tsx bench/containers-rss.ts
import { createBridge, deleteLink, destroyContainers, removeDir, startTestAgent } from '../test/containers/helpers.ts';
import { waitFor } from '../test/support/wait.ts';

const N = 10;
const BR = 'catbr9';
const NET = { bridge: BR, cidr: '10.213.9.0/24', gateway: '10.213.9.1' };

function mb(n: number): string { return (n / 1024 / 1024).toFixed(1); }

async function run(): Promise<void> {
  await destroyContainers('cattest-rss');
  await createBridge(BR, '10.213.9.1/24');
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const agent = await startTestAgent({ network: NET, communityIp: '10.213.9.1', intervalMs: 1000 });
  try {
    const times: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = Date.now();
      await agent.rpc.call('lxc-create', { Name: `cattest-rss${i}`, Template: 'busybox', HostPort: 19000 + i, Start: true, Memory: '32M' } as never, 'on-success');
      times.push(Date.now() - t0);
    }
    await waitFor('all services published', () => agent.announced().length >= 3, 30_000);
    const samples: number[] = [];
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(process.memoryUsage().rss);
    }
    times.sort((a, b) => a - b);
    console.log(`busybox create+start: median ${times[N >> 1]} ms, max ${times[N - 1]} ms (n=${N})`);
    console.log(`RSS: before agent ${mb(rss0)} MiB; managing ${N} containers for 30 s: min ${mb(Math.min(...samples))} max ${mb(Math.max(...samples))} MiB`);
    console.log(`announced services: ${agent.announced().length} (the 512-byte tag limit caps how many fit); publish refusals: ${agent.counters.get('drop.containers.publish_too_large')}`);
    console.log(`stats: ${JSON.stringify(agent.containers.stats())}`);
  } finally {
    await agent.stop();
    await destroyContainers('cattest-rss');
    await deleteLink(BR);
    await removeDir(agent.stateDir);
  }
}

run().catch((e) => { console.error(e); process.exitCode = 1; });
