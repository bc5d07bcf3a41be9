// Port forwarding from the host's community address to containers (DNAT): an
// adapter of the containers domain, running nft/iptables through system/exec.ts.
//
// All rules live in state the agent owns, so they can be rebuilt wholesale and
// removed without touching anyone else's rules:
//   nftables (preferred): table `ip cloudy_agent` with nat chains on the
//     prerouting hook (traffic from the community network) and the output hook
//     (connections from the host itself). Every apply replaces the whole table
//     in one atomic `nft -f` transaction.
//   iptables (fallback): chain CLOUDY-DNAT in the nat table, jumped to from
//     PREROUTING and OUTPUT, flushed and refilled on every apply.
// An empty rule set removes the table/chain entirely (clean host after the
// last container is destroyed or the agent shuts its forwarding down).
// Rendering is pure (unit-tested); applying runs nft/iptables through Exec.
import { AgentError, isAgentError } from '../errors.ts';
import { check, type Exec } from '../system/exec.ts';
import { enableIpv4Forwarding } from '../system/host.ts';
import { SerialQueue } from '../system/serial-queue.ts';
import type { Logger } from '../obs/log.ts';
import { validateIpv4 } from './validate.ts';

export interface PortForward {
  /** Owner tag (container name), kept as a rule comment. */
  owner: string;
  protocol: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

export const NFT_TABLE = 'cloudy_agent';
export const IPT_CHAIN = 'CLOUDY-DNAT';
/** filter-table chain jumped to from FORWARD: accepts DNATed connections even where FORWARD's policy is DROP. */
export const IPT_FWD_CHAIN = 'CLOUDY-FWD';
/** nat-table chain jumped to from POSTROUTING: hairpin masquerade. */
export const IPT_SNAT_CHAIN = 'CLOUDY-SNAT';

function checkForward(f: PortForward): void {
  validateIpv4(f.hostIp, 'host address');
  validateIpv4(f.containerIp, 'container address');
  if (f.protocol !== 'tcp' && f.protocol !== 'udp') throw new AgentError('E_INVALID', `invalid protocol ${String(f.protocol)}`);
  for (const p of [f.hostPort, f.containerPort]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new AgentError('E_INVALID', `invalid port ${p}`);
  }
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(f.owner)) throw new AgentError('E_INVALID', `invalid rule owner ${f.owner}`);
}

/** Sorted copy (stable rule order = stable diffs). */
function ordered(forwards: readonly PortForward[]): PortForward[] {
  return [...forwards].sort((a, b) => a.hostIp.localeCompare(b.hostIp) || a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol));
}

/**
 * One nft script replacing the agent's table. `table ...` first makes the
 * following `delete` valid even when the table does not exist yet.
 */
const CIDR_RE = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;

function checkCidr(c: string): void {
  if (!CIDR_RE.test(c)) throw new AgentError('E_INVALID', `invalid CIDR ${c}`);
  validateIpv4(c.split('/')[0]!, 'subnet');
}

/**
 * `hairpinCidr` (the containers' subnet): a container reaching another
 * container's service through the community address gets its source masqueraded
 * to the host, so the answer comes back through the host and is un-NATed
 * (otherwise the server would answer it directly on the bridge).
 */
export function renderNftScript(forwards: readonly PortForward[], hairpinCidr?: string, table = NFT_TABLE): string {
  const lines = [`table ip ${table}`, `delete table ip ${table}`];
  if (forwards.length === 0) return lines.join('\n') + '\n';
  const rules = ordered(forwards).map((f) => {
    checkForward(f);
    return `    ip daddr ${f.hostIp} ${f.protocol} dport ${f.hostPort} dnat to ${f.containerIp}:${f.containerPort} comment "cloudy:${f.owner}"`;
  });
  lines.push(
    `table ip ${table} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...rules,
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    ...rules,
    '  }',
    // Lets forwarded connections through on hosts whose iptables-nft FORWARD policy is DROP only when
    // that policy lives in this hook's priority order after us; harmless otherwise.
    '  chain forward {',
    '    type filter hook forward priority filter - 1; policy accept;',
    '    ct status dnat accept',
    '  }',
  );
  if (hairpinCidr) {
    checkCidr(hairpinCidr);
    lines.push(
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      `    ip saddr ${hairpinCidr} ip daddr ${hairpinCidr} ct status dnat masquerade comment "cloudy:hairpin"`,
      '  }',
    );
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** iptables argument lists (nat table) that fill the agent chain. */
export function renderIptablesRules(forwards: readonly PortForward[]): string[][] {
  return ordered(forwards).map((f) => {
    checkForward(f);
    return ['-t', 'nat', '-A', IPT_CHAIN, '-d', `${f.hostIp}/32`, '-p', f.protocol, '--dport', String(f.hostPort),
      '-m', 'comment', '--comment', `cloudy:${f.owner}`, '-j', 'DNAT', '--to-destination', `${f.containerIp}:${f.containerPort}`];
  });
}

export type FirewallBackend = 'nftables' | 'iptables';

export interface PortForwarderOptions {
  exec: Exec;
  logger: Logger;
  /** Force a backend (tests); default: nftables if `nft` works, else iptables. */
  backend?: FirewallBackend;
  /** Containers' subnet, for hairpin masquerade (container -> community address -> container). */
  hairpinCidr?: string;
  /** nftables table holding the forwards (default cloudy_agent; the config's lxc.nft_table). */
  table?: string;
  /** Enables IPv4 forwarding when rules exist (default: write /proc/sys/net/ipv4/ip_forward). */
  enableForwarding?: () => Promise<void>;
}

export class PortForwarder {
  private backend: FirewallBackend | undefined;
  private current: PortForward[] = [];
  private readonly queue = new SerialQueue();

  constructor(private readonly o: PortForwarderOptions) {
    this.backend = o.backend;
  }

  rules(): readonly PortForward[] { return this.current; }

  async backendInUse(): Promise<FirewallBackend> {
    if (this.backend) return this.backend;
    try {
      const r = await this.o.exec.run('nft', ['list', 'tables'], { timeoutMs: 10_000 });
      this.backend = r.exitCode === 0 ? 'nftables' : 'iptables';
    } catch (e) {
      if (!isAgentError(e, 'E_UNAVAILABLE')) throw e;
      this.backend = 'iptables';
    }
    this.o.logger.info(`port forwarding through ${this.backend}`);
    return this.backend;
  }

  /** Replaces the whole rule set (serialised: concurrent calls apply in call order). */
  apply(forwards: readonly PortForward[]): Promise<void> {
    const snapshot = forwards.map((f) => ({ ...f }));
    for (const f of snapshot) checkForward(f);
    return this.queue.run(() => this.applyNow(snapshot));
  }

  /** Removes everything the agent installed. */
  clear(): Promise<void> {
    return this.apply([]);
  }

  private async applyNow(forwards: PortForward[]): Promise<void> {
    if (forwards.length > 0) await (this.o.enableForwarding ?? enableIpv4Forwarding)();
    const backend = await this.backendInUse();
    if (backend === 'nftables') {
      check(await this.o.exec.run('nft', ['-f', '-'], { input: renderNftScript(forwards, this.o.hairpinCidr, this.o.table), timeoutMs: 20_000 }));
    } else {
      await this.applyIptables(forwards);
    }
    this.current = forwards;
    this.o.logger.debug(`port forwards: ${forwards.map((f) => `${f.hostIp}:${f.hostPort}/${f.protocol}->${f.containerIp}:${f.containerPort}`).join(', ') || 'none'}`);
  }

  private async ipt(args: string[]): Promise<number> {
    return (await this.o.exec.run('iptables', ['-w', '5', ...args], { timeoutMs: 20_000 })).exitCode;
  }

  private async applyIptables(forwards: PortForward[]): Promise<void> {
    const hooks = ['PREROUTING', 'OUTPUT'];
    if (forwards.length === 0) {
      for (let i = 0; i < 16; i++) if ((await this.ipt(['-t', 'nat', '-D', 'POSTROUTING', '-j', IPT_SNAT_CHAIN])) !== 0) break;
      await this.ipt(['-t', 'nat', '-F', IPT_SNAT_CHAIN]);
      await this.ipt(['-t', 'nat', '-X', IPT_SNAT_CHAIN]);
      for (let i = 0; i < 16; i++) if ((await this.ipt(['-t', 'filter', '-D', 'FORWARD', '-j', IPT_FWD_CHAIN])) !== 0) break;
      await this.ipt(['-t', 'filter', '-F', IPT_FWD_CHAIN]);
      await this.ipt(['-t', 'filter', '-X', IPT_FWD_CHAIN]);
      for (const h of hooks) {
        for (let i = 0; i < 16; i++) if ((await this.ipt(['-t', 'nat', '-D', h, '-j', IPT_CHAIN])) !== 0) break;
      }
      await this.ipt(['-t', 'nat', '-F', IPT_CHAIN]);
      await this.ipt(['-t', 'nat', '-X', IPT_CHAIN]);
      return;
    }
    if ((await this.ipt(['-t', 'filter', '-L', IPT_FWD_CHAIN, '-n'])) !== 0) {
      check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'filter', '-N', IPT_FWD_CHAIN]));
      check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'filter', '-A', IPT_FWD_CHAIN, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT']));
    }
    if ((await this.ipt(['-t', 'filter', '-C', 'FORWARD', '-j', IPT_FWD_CHAIN])) !== 0) {
      check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'filter', '-I', 'FORWARD', '1', '-j', IPT_FWD_CHAIN]));
    }
    if ((await this.ipt(['-t', 'nat', '-L', IPT_CHAIN, '-n'])) !== 0) {
      check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'nat', '-N', IPT_CHAIN]));
    }
    for (const h of hooks) {
      if ((await this.ipt(['-t', 'nat', '-C', h, '-j', IPT_CHAIN])) !== 0) {
        check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'nat', '-I', h, '1', '-j', IPT_CHAIN]));
      }
    }
    if (this.o.hairpinCidr) {
      checkCidr(this.o.hairpinCidr);
      if ((await this.ipt(['-t', 'nat', '-L', IPT_SNAT_CHAIN, '-n'])) !== 0) {
        check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'nat', '-N', IPT_SNAT_CHAIN]));
        check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'nat', '-A', IPT_SNAT_CHAIN, '-s', this.o.hairpinCidr, '-d', this.o.hairpinCidr,
          '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'MASQUERADE']));
      }
      if ((await this.ipt(['-t', 'nat', '-C', 'POSTROUTING', '-j', IPT_SNAT_CHAIN])) !== 0) {
        check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'nat', '-I', 'POSTROUTING', '1', '-j', IPT_SNAT_CHAIN]));
      }
    }
    check(await this.o.exec.run('iptables', ['-w', '5', '-t', 'nat', '-F', IPT_CHAIN]));
    for (const args of renderIptablesRules(forwards)) check(await this.o.exec.run('iptables', ['-w', '5', ...args]));
  }
}
