// Container health: whether a container's service answers, from its
// cloudy-service.json check (tcp to the container's address, a command run
// inside it, or none). Separate from discovery's ServiceChecker on purpose:
// this one checks from the host into a container (exec goes through the LXC
// driver) and only feeds the reconciler a boolean; the TCP connect itself is
// discovery's tcpProbe.
import { tcpProbe as discoveryTcpProbe } from '../discovery/probes.ts';
import type { ContainerDriver } from './driver.ts';
import type { ServiceSpec } from './types.ts';

export type TcpProbe = (ip: string, port: number, timeoutMs: number) => Promise<boolean>;

export const tcpProbe: TcpProbe = async (ip, port, timeoutMs) => (await discoveryTcpProbe(ip, port, timeoutMs)).ok;

export interface ContainerHealth {
  check(name: string, ipv4: string, svc: ServiceSpec): Promise<boolean>;
}

export function createContainerHealth(driver: ContainerDriver, probe: TcpProbe = tcpProbe, timeoutMs = 3_000): ContainerHealth {
  return {
    async check(name, ipv4, svc) {
      switch (svc.check.kind) {
        case 'none':
          return true;
        case 'tcp': {
          const port = Number(svc.check.arg) || svc.port;
          return probe(ipv4, port, timeoutMs);
        }
        case 'exec': {
          try {
            const r = await driver.attach(name, ['/bin/sh', '-c', svc.check.arg], { timeoutMs });
            return r.exitCode === 0 && !r.timedOut;
          } catch {
            return false;
          }
        }
      }
    },
  };
}
