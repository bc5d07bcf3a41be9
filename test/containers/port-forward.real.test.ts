// Port forwarding from a "community client" (its own network namespace, linked
// to the host by a veth pair) to a container's service on the host's community
// address and published port; nftables and the iptables fallback; rules gone
// after destroy.
import { test } from 'uvu';
import { readFile, writeFile } from 'node:fs/promises';
import * as assert from 'uvu/assert';
import { createBridge, createClientNamespace, deleteLink, deleteNamespace, destroyContainers, exec, removeDir, sh, startTestAgent } from './helpers.ts';
import { waitFor } from '../support/wait.ts';

const BR = 'catbr2';
const NET = { bridge: BR, cidr: '10.213.2.0/24', gateway: '10.213.2.1' };
const NS = 'cattest-client';
const HOST_IF = 'catcli0';
const COMMUNITY_IP = '10.213.3.1';

async function fromClient(url: string): Promise<{ ok: boolean; body: string }> {
  const r = await exec.run('ip', ['netns', 'exec', NS, 'curl', '-s', '-m', '3', url], { timeoutMs: 10_000 });
  return { ok: r.exitCode === 0, body: r.stdout };
}

const BRIDGE_NF = '/proc/sys/net/bridge/bridge-nf-call-iptables';
let bridgeNfBefore: string | null = null;

/** Sets bridge-nf-call-iptables (when br_netfilter is loaded); returns the previous value. */
async function setBridgeNf(v: string | null): Promise<string | null> {
  if (v === null) return null;
  try {
    const prev = (await readFile(BRIDGE_NF, 'utf8')).trim();
    await writeFile(BRIDGE_NF, v);
    bridgeNfBefore ??= prev;
    return prev;
  } catch {
    return null; // br_netfilter not loaded: bridged traffic bypasses iptables anyway
  }
}

test.before(async () => {
  await destroyContainers('cattest-pf');
  await createBridge(BR, '10.213.2.1/24');
  await createClientNamespace(NS, HOST_IF, '10.213.3.1/24', '10.213.3.2/24', '10.213.3.1');
});

test.after(async () => {
  if (bridgeNfBefore !== null) await setBridgeNf(bridgeNfBefore);
  await destroyContainers('cattest-pf');
  await deleteNamespace(NS, HOST_IF);
  await deleteLink(BR);
});

for (const backend of ['nftables', 'iptables'] as const) {
  test(`${backend}: the container's service answers on the host's community address and published port; rules gone after destroy`, async () => {
    const name = `cattest-pf-${backend.slice(0, 3)}`;
    const port = backend === 'nftables' ? 18181 : 18182;
    const agent = await startTestAgent({ network: NET, communityIp: COMMUNITY_IP, backend });
    try {
      // Before: nothing listens there.
      assert.is((await fromClient(`http://${COMMUNITY_IP}:${port}/`)).ok, false);
      await agent.rpc.call('lxc-create', { Name: name, Template: 'busybox', HostPort: port, Start: true } as never, 'on-success');
      const r = await waitFor('service reachable from the client namespace', async () => {
        const x = await fromClient(`http://${COMMUNITY_IP}:${port}/`);
        return x.ok ? x : null;
      }, 20_000, 300);
      assert.match(r.body, `cloudy busybox container ${name}`);
      // Hairpin: another container reaches it through the community address too. With
      // br_netfilter off (the common case) this needs the agent's masquerade rule.
      const peer = `${name}-peer`;
      await agent.rpc.call('lxc-create', { Name: peer, Template: 'busybox', Start: true, HostPort: port + 100 } as never, 'on-success');
      const saved = await setBridgeNf('0');
      try {
        const viaCommunity = (await agent.rpc.call('lxc-exec', { Name: peer, Command: ['wget', '-qO-', `http://${COMMUNITY_IP}:${port}/`] } as never, 'on-success')) as Record<string, unknown>;
        assert.match(String(viaCommunity.Stdout), `cloudy busybox container ${name}`);
      } finally {
        await setBridgeNf(saved);
      }
      await agent.rpc.call('lxc-destroy', { Name: peer } as never, 'on-success');
      if (backend === 'nftables') {
        const table = await sh('nft', ['list', 'table', 'ip', 'cloudy_agent']);
        assert.match(table, `ip daddr ${COMMUNITY_IP} tcp dport ${port} dnat to 10.213.2.2:80`);
        assert.match(table, `cloudy:${name}`);
      } else {
        const rules = await sh('iptables', ['-t', 'nat', '-S', 'CLOUDY-DNAT']);
        assert.match(rules, `--dport ${port}`);
        assert.match(rules, '--to-destination 10.213.2.2:80');
        assert.match(await sh('iptables', ['-S', 'CLOUDY-FWD']), '--ctstate DNAT -j ACCEPT');
      }
      await agent.rpc.call('lxc-destroy', { Name: name } as never, 'on-success');
      assert.is((await fromClient(`http://${COMMUNITY_IP}:${port}/`)).ok, false);
      if (backend === 'nftables') {
        const r2 = await exec.run('nft', ['list', 'table', 'ip', 'cloudy_agent']);
        assert.is.not(r2.exitCode, 0, 'agent table removed with the last forward');
      } else {
        const r2 = await exec.run('iptables', ['-t', 'nat', '-S', 'CLOUDY-DNAT']);
        assert.is.not(r2.exitCode, 0, 'agent chain removed with the last forward');
        assert.not.match(await sh('iptables', ['-t', 'nat', '-S', 'PREROUTING']), 'CLOUDY-DNAT');
        assert.not.match(await sh('iptables', ['-S', 'FORWARD']), 'CLOUDY-FWD');
      }
    } finally {
      await agent.stop();
      await removeDir(agent.stateDir);
    }
  });
}

test.run();
