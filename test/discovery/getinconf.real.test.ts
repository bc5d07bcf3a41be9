// Point 1 of issue 13: `e` comes from getinconf's client config exactly as
// avahi-ps takes it (the bash fragment in test/fixtures/avahi-ps/device-name.sh
// is the judge), -microcloud overrides it, and `info` names the source.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveMicrocloud } from '../../agent/discovery/getinconf.ts';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';
import { Logger } from '../../agent/obs/log.ts';
import { ours as cli } from '../cli/helpers.ts';
import { discoveryPlugin } from '../../agent/discovery/plugin.ts';
import { freePort } from '../support/net.ts';

const FRAGMENT = fileURLToPath(new URL('../fixtures/avahi-ps/device-name.sh', import.meta.url));
let dir = '';
const daemons: DaemonHandle[] = [];

test.before(async () => { dir = await mkdtemp(join(tmpdir(), 'fd-getinconf-')); });
test.after(async () => {
  for (const d of daemons) { try { await d.stop(); } catch { /* ignore */ } }
  await rm(dir, { recursive: true, force: true });
});

const CASES: Record<string, string | null> = {
  iso: 'NETWORK_NAME="guifi"\nINTERNAL_DEV="eth0"\n',
  cloudynitzar: 'GETINCONF_IGNORE="1"\n',
  bare: 'NETWORK_NAME=microcloud1\n',
  single: "# getinconf\nNETWORK_NAME='mc-bcn'\nexport INTERNAL_DEV=eth1\n",
  twice: 'NETWORK_NAME="first"\nNETWORK_NAME="second"\n',
  missing: null,
};

test('every getinconf file gives the DEVICE_NAME avahi-ps computes from it', async () => {
  for (const [name, text] of Object.entries(CASES)) {
    const file = join(dir, `${name}.conf`);
    if (text !== null) await writeFile(file, text);
    const bash = execFileSync('bash', [FRAGMENT, file], { encoding: 'utf8' });
    const ours = await resolveMicrocloud({ configured: null, file });
    assert.is(ours.name, bash, `${name}: avahi-ps says ${JSON.stringify(bash)}`);
  }
  // The two cases the issue names.
  assert.is((await resolveMicrocloud({ configured: null, file: join(dir, 'cloudynitzar.conf') })).name, '');
  assert.is((await resolveMicrocloud({ configured: 'x', file: join(dir, 'iso.conf') })).name, 'x');
});


async function agent(ip: string, plugin: Parameters<typeof discoveryPlugin>[0]): Promise<string> {
  const gossip = await freePort(ip);
  const rpc = await freePort(ip);
  daemons.push(await startDaemon({
    ...defaultAgentConfig(), nodeName: `fd-e-${gossip}`, bind: `${ip}:${gossip}`, rpcAddr: `${ip}:${rpc}`, profile: 'lan',
    plugins: [discoveryPlugin({ federationIntervalMs: 60_000, ...plugin })],
  }, { logger: Logger.silent() }));
  return `-rpc-addr=${ip}:${rpc}`;
}

test('a cloudynitzar node publishes e="" and info says where it came from; -microcloud wins', async () => {
  const file = join(dir, 'cloudynitzar.conf');
  const rpc = await agent('127.0.25.1', { getinconfFile: file, announceSelf: false });
  assert.is((await cli(['publish', 'Web', 'http', '8080', rpc])).code, 0);
  const found = JSON.parse((await cli(['search', rpc])).stdout) as Record<string, string>[];
  assert.is(found.find((r) => r.s === 'http')!.e, '');
  const info = JSON.parse((await cli(['info', '-format=json', rpc])).stdout) as Record<string, Record<string, string>>;
  assert.is(info.discovery!.microcloud, '');
  assert.is(info.discovery!.microcloud_source, `${file} (no NETWORK_NAME)`);

  const rpc2 = await agent('127.0.25.2', { getinconfFile: file, microcloud: 'mc1', announceSelf: false });
  assert.is((await cli(['publish', 'Web', 'http', '8080', rpc2])).code, 0);
  const found2 = JSON.parse((await cli(['search', rpc2])).stdout) as Record<string, string>[];
  assert.is(found2.find((r) => r.s === 'http')!.e, 'mc1');
  const info2 = JSON.parse((await cli(['info', '-format=json', rpc2])).stdout) as Record<string, Record<string, string>>;
  assert.is(info2.discovery!.microcloud_source, 'config (-microcloud)');
});

test.run();
