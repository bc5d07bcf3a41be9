// Edge helper: a memberlist node on real sockets (NetTransport bound to
// bindAddr:bindPort, UDP+TCP on the same port). The transport resolves DNS
// names for join and picks the advertise address for wildcard binds.

import { NetTransport } from '../transport/net-transport.ts';
import type { MemberlistConfig } from './config.ts';
import { MemberlistNode } from './memberlist.ts';

export interface NetMemberlistOptions extends Omit<MemberlistConfig, 'transport'> {
  bindAddr: string;
  bindPort: number;
}

export async function createNetMemberlist(opts: NetMemberlistOptions): Promise<MemberlistNode> {
  const { bindAddr, bindPort, ...rest } = opts;
  const transport = await NetTransport.start({
    bindAddr, bindPort, maxTcpStreams: opts.limits.maxTcpStreams, counters: opts.counters, logger: opts.logger.child('transport'),
  });
  try {
    return MemberlistNode.create({ ...rest, transport });
  } catch (e) {
    await transport.shutdown();
    throw e;
  }
}
