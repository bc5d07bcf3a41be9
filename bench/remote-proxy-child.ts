// Child of bench/remote.ts: one idle edge agent (in-process daemon, edge
// limits); prints its VmRSS after 8 s of idling and a full GC, then starts the
// management proxy (node:http server listening, no request), idles again and
// prints VmRSS again. The difference is what the proxy costs an idle edge.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from '../agent/daemon.ts';
import { defaultAgentConfig } from '../agent/config/agent-config.ts';
import { discoveryPlugin } from '../agent/discovery/plugin.ts';
import { freePort } from '../test/remote/helpers.ts';

const host = '127.22.3.9';
const dir = mkdtempSync(join(tmpdir(), 'rc-bench-proxy-'));
const gc = (globalThis as { gc?: () => void }).gc!;
const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
async function settle(): Promise<number> {
  await new Promise((r) => setTimeout(r, 8000));
  gc(); await new Promise((r) => setTimeout(r, 300)); gc();
  return rss();
}
const h = await startDaemon({
  ...defaultAgentConfig(), nodeName: 'rc-bidle', bind: `${host}:${await freePort(host)}`, rpcAddr: `${host}:${await freePort(host)}`, profile: 'lan', mode: 'edge',
  dataDir: dir, containers: false, plugins: [discoveryPlugin({ stateDir: dir })],
}, { writeLog: null });
const before = await settle();
const { ManagementProxy } = await import('../agent/api/proxy.ts');
const proxy = new ManagementProxy({ serf: h.serf, limits: h.limits, logger: h.logger.child('proxy'), counters: h.counters });
await proxy.listen(host, await freePort(host));
const after = await settle();
process.stdout.write(`before_kb=${before} after_kb=${after}\n`);
await proxy.close();
await h.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
