// The gossip loop (memberlist state.go gossip): every GossipInterval, up to
// GossipNodes random peers that are alive, suspect, or dead for at most
// GossipToTheDeadTime each get their own batch of pending broadcasts, as one
// message or a compound, with CRC toward PMax ≥ 5 and encryption.

import { COMPOUND_OVERHEAD_PER_PART } from '../wire/packet.ts';
import type { Core } from './core.ts';

export function gossipOnce(core: Core): void {
  const now = core.clock.now();
  const targets = core.table.randomNodes(core.profile.gossipNodes, (n) => {
    if (n.name === core.name) return false;
    if (n.state === 'alive' || n.state === 'suspect') return true;
    if (n.state === 'dead') return now - n.stateChange <= core.profile.gossipToTheDeadMs;
    return false;
  });
  for (const node of targets) {
    const msgs = core.getBroadcasts(COMPOUND_OVERHEAD_PER_PART, core.gossipRoom());
    if (msgs.length === 0) return;
    core.counters.inc('gossip.sent');
    core.rawSend({ addr: node.addr, port: node.port }, msgs, node);
  }
}
