// Bounded audit log of remote commands received and sent (`cloudy-agent
// remote-log`): the newest `max` records in memory; each is also logged as a
// line (namespace remote), so a node with a persistent log keeps them longer.
import { isoTime } from '../obs/iso-time.ts';
import type { Logger } from '../obs/log.ts';

export interface AuditRecord {
  time: string;
  direction: 'in' | 'out';
  /** Requester (in) or target (out). */
  peer: string;
  keyId: string;
  seq: number;
  command: string;
  /** "ok", "exit N", or the refusal reason. */
  outcome: string;
}

export class AuditLog {
  private readonly ring: AuditRecord[] = [];
  constructor(private readonly max: number, private readonly log: Logger | null = null) {}

  add(r: Omit<AuditRecord, 'time'>): void {
    const rec = { time: isoTime(), ...r };
    this.ring.push(rec);
    if (this.ring.length > this.max) this.ring.splice(0, this.ring.length - this.max);
    this.log?.info(`${r.direction === 'in' ? 'from' : 'to'} ${r.peer} key ${r.keyId} seq ${r.seq}: ${r.command} -> ${r.outcome}`);
  }

  records(): readonly AuditRecord[] { return this.ring; }
}
