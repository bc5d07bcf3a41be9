// Service checks of containers (edge: opens TCP connections, runs commands in
// containers through the driver). The reconciler only sees the boolean result.
import { Socket } from 'node:net';
import type { ContainerDriver } from './driver.ts';
import type { ServiceSpec } from './types.ts';

export type TcpProbe = (ip: string, port: number, timeoutMs: number) => Promise<boolean>;

export const tcpProbe: TcpProbe = (ip, port, timeoutMs) =>
  new Promise((resolve) => {
    const s = new Socket();
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => finish(false));
    s.once('connect', () => finish(true));
    s.once('error', () => finish(false));
    s.connect(port, ip);
  });

export interface ServiceChecker {
  check(name: string, ipv4: string, svc: ServiceSpec): Promise<boolean>;
}

export function createServiceChecker(driver: ContainerDriver, probe: TcpProbe = tcpProbe, timeoutMs = 3_000): ServiceChecker {
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
