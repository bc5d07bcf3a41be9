// Test helpers for discovery: a serf stand-in that keeps tags and enforces the
// 512-byte meta limit the way serf's SetTags does, and small waits.
import { AgentError } from '../../agent/errors.ts';
import type { Member } from '../../agent/gossip/serf/types.ts';
import { encodedTagsSize, SERF_META_MAX_SIZE } from '../../agent/discovery/tag-size.ts';

export function member(name: string, tags: Record<string, string>, status: Member['status'] = 'alive'): Member {
  return {
    name, addr: '127.0.5.1', port: 5000, tags, status,
    protocolMin: 1, protocolMax: 5, protocolCur: 2, delegateMin: 2, delegateMax: 5, delegateCur: 4,
  };
}

export class TagHolder {
  tags: Record<string, string> = {};
  setCalls = 0;
  /** Like memberlist UpdateNode under load: tags applied, then the wait for the broadcast times out. */
  timeoutAfterSet = false;
  constructor(readonly name = 'self') {}
  localMember(): Member { return member(this.name, { ...this.tags }); }
  async setTags(tags: Record<string, string>): Promise<void> {
    const size = encodedTagsSize(tags);
    if (size > SERF_META_MAX_SIZE) throw new AgentError('E_TOO_LARGE', `encoded length of tags exceeds limit of ${SERF_META_MAX_SIZE} bytes`);
    this.setCalls++;
    this.tags = { ...tags };
    if (this.timeoutAfterSet) throw new AgentError('E_TIMEOUT', 'timeout waiting for update broadcast');
  }
}

/** Resolves with the error `fn` rejects with; throws when it resolves. */
export async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
