// Real-LXC test plumbing: a private bridge, a "community client" network
// namespace, an agent stack (RPC server + real ServiceAnnouncer + containers
// plug-in) and thorough cleanup. Everything is named cat*/cattest-* and uses
// 10.213.x.0/24 subnets that never leave the machine.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExec, type Exec } from '../../agent/system/exec.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { CommandRegistry } from '../../agent/commands/registry.ts';
import { rpcVerbs } from '../../agent/commands/rpc-verbs.ts';
import { RpcServer } from '../../agent/rpc/server.ts';
import { RpcClient } from '../../agent/rpc/client.ts';
import { ServiceAnnouncer } from '../../agent/discovery/services.ts';
import { MemoryServiceStore } from '../../agent/discovery/store.ts';
import { decodeServicesTag } from '../../agent/discovery/codec.ts';
import type { Serf } from '../../agent/gossip/serf/types.ts';
import { TagHolder } from '../support/fakes.ts';
import { startContainers, type ContainersHandle } from '../../agent/containers/plugin.ts';
import { PortForwarder } from '../../agent/containers/port-forward.ts';
import type { ContainerEvent } from '../../agent/containers/types.ts';
import type { BridgeNetwork } from '../../agent/containers/ipam.ts';

export const REPO = new URL('../..', import.meta.url).pathname;
export const TEMPLATES = join(REPO, 'lxc-templates');
export const exec: Exec = createExec();

export async function sh(file: string, args: string[], allowFail = false): Promise<string> {
  const r = await exec.run(file, args, { timeoutMs: 60_000 });
  if (r.exitCode !== 0 && !allowFail) throw new Error(`${file} ${args.join(' ')}: ${r.exitCode} ${r.stderr}`);
  return r.stdout;
}

export async function createBridge(name: string, gatewayCidr: string): Promise<void> {
  await sh('ip', ['link', 'del', name], true);
  await sh('ip', ['link', 'add', name, 'type', 'bridge']);
  await sh('ip', ['addr', 'add', gatewayCidr, 'dev', name]);
  await sh('ip', ['link', 'set', name, 'up']);
}

export async function deleteLink(name: string): Promise<void> {
  await sh('ip', ['link', 'del', name], true);
}

/** A network namespace "community client" linked to the host by a veth pair (gateway '': no default route, only the link). */
export async function createClientNamespace(ns: string, hostIf: string, hostCidr: string, clientCidr: string, gateway: string): Promise<void> {
  await deleteNamespace(ns, hostIf);
  const peer = `${hostIf}p`;
  await sh('ip', ['netns', 'add', ns]);
  await sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peer]);
  await sh('ip', ['link', 'set', peer, 'netns', ns]);
  await sh('ip', ['addr', 'add', hostCidr, 'dev', hostIf]);
  await sh('ip', ['link', 'set', hostIf, 'up']);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', clientCidr, 'dev', peer]);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up']);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  if (gateway) await sh('ip', ['netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', gateway]);
}

export async function deleteNamespace(ns: string, hostIf: string): Promise<void> {
  await sh('ip', ['netns', 'del', ns], true);
  await sh('ip', ['link', 'del', hostIf], true);
}

/** Destroys test containers and removes the agent's forwarding rules (both backends). */
export async function destroyContainers(prefix: string): Promise<void> {
  const names = (await sh('lxc-ls', ['-1'], true)).split(/\s+/).filter((n) => n.startsWith(prefix));
  for (const n of names) await sh('lxc-destroy', ['-f', '-n', n], true);
  for (const backend of ['nftables', 'iptables'] as const) {
    await new PortForwarder({ exec, logger: Logger.silent(), backend, enableForwarding: async () => {} }).clear().catch(() => {});
  }
}

export interface TestAgent {
  rpc: RpcClient;
  server: RpcServer;
  containers: ContainersHandle;
  announcer: ServiceAnnouncer;
  serf: TagHolder;
  events: ContainerEvent[];
  counters: Counters;
  stateDir: string;
  logger: Logger;
  /** Cloudy records currently in the services tag. */
  announced(): { s: string; p: string; i: string; d: string }[];
  stop(): Promise<void>;
}

export async function startTestAgent(o: { network: BridgeNetwork; communityIp: string; stateDir?: string; intervalMs?: number; backend?: 'nftables' | 'iptables'; templateDirs?: string[]; firewallTable?: string }): Promise<TestAgent> {
  const logger = Logger.root({ level: process.env.TEST_VERBOSE ? 'DEBUG' : 'ERR' });
  const counters = new Counters();
  const limits = defaultLimits();
  const registry = new CommandRegistry();
  const serf = new TagHolder('cattest-node');
  const announcer = new ServiceAnnouncer({
    serf, store: new MemoryServiceStore(), facts: { hostname: 'cattest', communityIp: o.communityIp, microcloud: 'guifi' },
    logger: logger.child('discovery'), counters, maxServices: 16,
  });
  await announcer.start();
  const stateDir = o.stateDir ?? (await mkdtemp(join(tmpdir(), 'cattest-state-')));
  const events: ContainerEvent[] = [];
  const containers = await startContainers({
    registry, publisher: announcer, exec, logger, counters, limits, stateDir, communityIp: o.communityIp,
    network: o.network, templateDirs: o.templateDirs ?? [TEMPLATES], intervalMs: o.intervalMs ?? 300,
    tuning: { backoffBaseMs: 300, backoffMaxMs: 2_000, onFailureMaxRetries: 3, stableAfterMs: 60_000 },
    ...(o.backend ? { firewallBackend: o.backend } : {}),
    ...(o.firewallTable ? { firewallTable: o.firewallTable } : {}),
    onEvent: (e) => events.push(e),
  });
  const server = new RpcServer({ serf: {} as Serf, extensions: rpcVerbs(registry), logger, counters, limits, addr: '127.0.0.1:0' });
  const addr = await server.listen();
  const rpc = await RpcClient.connect(`${addr.host}:${addr.port}`);
  return {
    rpc, server, containers, announcer, serf, events, counters, stateDir, logger,
    announced() {
      const v = serf.tags.services;
      return v ? (decodeServicesTag(v, 1 << 20) as unknown as { s: string; p: string; i: string; d: string }[]) : [];
    },
    async stop() {
      rpc.close();
      await server.close();
      await containers.stop();
    },
  };
}

export async function removeDir(d: string): Promise<void> {
  await rm(d, { recursive: true, force: true });
}
