// Edge helper: a memberlist node on real sockets (NetTransport bound to
// bindAddr:bindPort, UDP+TCP on the same port), with DNS resolution for join
// and an advertise address picked from the interfaces for wildcard binds.

import { lookup } from 'node:dns/promises';
import { NetTransport } from '../transport/net-transport.ts';
import { isWildcard, pickAdvertiseAddr } from '../transport/advertise.ts';
import type { MemberlistConfig } from './config.ts';
import { MemberlistNode } from './memberlist.ts';

export interface NetMemberlistOptions extends Omit<MemberlistConfig, 'transport'> {
  bindAddr: string;
  bindPort: number;
}

export async function createNetMemberlist(opts: NetMemberlistOptions): Promise<MemberlistNode> {
  const { bindAddr, bindPort, ...rest } = opts;
  if (!rest.advertiseAddr && isWildcard(bindAddr)) rest.advertiseAddr = pickAdvertiseAddr(bindAddr);
  const transport = await NetTransport.start({
    bindAddr, bindPort, maxTcpStreams: opts.limits.maxTcpStreams, counters: opts.counters, logger: opts.logger.child('transport'),
  });
  const resolve = opts.resolve ?? (async (host: string) => (await lookup(host, { all: true })).map((r) => r.address));
  try {
    return MemberlistNode.create({ ...rest, transport, resolve });
  } catch (e) {
    await transport.shutdown();
    throw e;
  }
}
