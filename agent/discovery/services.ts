// This node's published Cloudy services and the `services` tag that carries
// them, with avahi-ps semantics (CLOUDY-FACTS §1.2, §1.5):
// - a service is keyed by (type, port); publishing the same pair replaces it;
// - unpublishing the last service deletes the tag (`serf tags -delete services`);
// - the node's whole tag map must fit serf's 512-byte meta limit: a publish
//   that would not fit is refused (E_TOO_LARGE, bytes over in the message) and
//   leaves everything already published untouched.
// A service whose liveness check fails is "withdrawn": kept in the list (and on
// disk) but left out of the tag until the check passes again.
import { AgentError } from '../errors.ts';
import type { Logger } from '../obs/log.ts';
import type { Counters } from '../obs/counters.ts';
import type { Serf } from '../gossip/serf/types.ts';
import type { ServiceAnnouncement, ServicePublisher } from './publisher.ts';
import { decodeServicesTag, encodeServicesTag, SERVICES_TAG, type ServiceRecord } from './codec.ts';
import { serviceKey, toRecord, validateAnnouncement, type NodeFacts } from './record.ts';
import { encodedTagsSize } from './tag-size.ts';
import { META_MAX_SIZE } from '../gossip/wire/memberlist-messages.ts';
import type { ServiceStore } from './store.ts';
import { SerialQueue } from '../system/serial-queue.ts';

export interface PublishedService {
  service: ServiceAnnouncement;
  /** Left out of the tag because its check failed. */
  withdrawn: boolean;
}

export interface ServiceAnnouncerOptions {
  serf: Pick<Serf, 'localMember' | 'setTags'> & Partial<Pick<Serf, 'onEvent'>>;
  store: ServiceStore;
  facts: NodeFacts;
  logger: Logger;
  counters: Counters;
  /** Most services kept (published + withdrawn); the tag limit usually binds first. */
  maxServices: number;
  /** Bound for decoding the tag when someone else changed it (limits.servicesTagMaxDecoded). */
  maxDecodedBytes?: number;
}

/** Owner of services adopted from a tag someone else set (avahi-ps through `serf tags`). */
export const EXTERNAL_OWNER = 'external';

export type ServicesListener = (list: readonly PublishedService[]) => void;

export class ServiceAnnouncer implements ServicePublisher {
  private entries: PublishedService[] = [];
  private readonly queue = new SerialQueue();
  private readonly listeners = new Set<ServicesListener>();
  /** The `services` value we last set (undefined = tag absent); null before start. */
  private lastTagValue: string | undefined | null = null;
  private unsubscribeEvents: (() => void) | null = null;

  constructor(private readonly opts: ServiceAnnouncerOptions) {}

  /** Stops following tag changes made by others. */
  close(): void {
    this.unsubscribeEvents?.();
    this.unsubscribeEvents = null;
  }

  /**
   * Restores the saved list and announces it, in one tag update. `own` (the
   * agent's self-announcement) replaces whatever `own.owner` published before
   * and goes first. Saved services that no longer fit are dropped (logged, counted).
   */
  async start(own?: { owner: string; services: ServiceAnnouncement[] }): Promise<void> {
    await this.serialize(async () => {
      let saved: ServiceAnnouncement[] = [];
      try {
        saved = await this.opts.store.load((m) => this.opts.logger.warn(m));
      } catch (e) {
        this.opts.counters.inc('discovery.store_load_error');
        this.opts.logger.error(`cannot restore published services, starting empty: ${(e as Error).message}`);
      }
      const restored: PublishedService[] = [];
      const seen = new Set<string>();
      const candidates = [
        ...(own?.services ?? []).map((svc) => ({ ...svc, owner: own!.owner })),
        ...saved.filter((svc) => !own || (svc.owner ?? 'user') !== own.owner),
      ];
      for (const svc of candidates) {
        try {
          validateAnnouncement(svc);
        } catch (e) {
          this.opts.counters.inc('discovery.store_invalid_entry');
          this.opts.logger.warn(`dropping saved service: ${(e as Error).message}`);
          continue;
        }
        const key = serviceKey(svc.type, svc.port);
        if (seen.has(key) || restored.length >= this.opts.maxServices) continue;
        seen.add(key);
        restored.push({ service: normalize(svc), withdrawn: false });
      }
      // Other tags may have grown since the list was saved: drop the newest until it fits.
      while (restored.length > 0 && this.tagSizeFor(restored) > META_MAX_SIZE) {
        const dropped = restored.pop()!;
        this.opts.counters.inc('discovery.restore_dropped_too_large');
        this.opts.logger.warn(`saved service ${dropped.service.type}:${dropped.service.port} no longer fits the 512-byte tags, dropped`);
      }
      const changed = JSON.stringify(restored.map((e) => e.service)) !== JSON.stringify(saved);
      await this.applyAndCommit(restored, changed);
    });
    // Cloudy's GUI and avahi-ps publish with `serf tags -set services=...` through
    // the agent RPC; follow such changes of our own tag instead of overwriting them.
    const self = this.opts.serf.localMember().name;
    this.unsubscribeEvents ??= this.opts.serf.onEvent?.((e) => {
      if (e.type === 'member-update' && e.members.some((m) => m.name === self)) {
        void this.serialize(async () => this.adoptExternalChange()).catch(() => {});
      }
    }) ?? null;
  }

  async publish(svc: ServiceAnnouncement): Promise<void> {
    validateAnnouncement(svc);
    const clean = normalize(svc);
    await this.serialize(async () => {
      const key = serviceKey(clean.type, clean.port);
      const next = this.entries.filter((e) => serviceKey(e.service.type, e.service.port) !== key);
      if (next.length >= this.opts.maxServices) {
        throw new AgentError('E_LIMIT', `at most ${this.opts.maxServices} services can be published`);
      }
      // Re-publishing clears a withdrawal: the caller vouches for the service again.
      next.push({ service: clean, withdrawn: false });
      await this.applyAndCommit(next, true);
      this.opts.logger.info(`published ${clean.type}:${clean.port} (${clean.description})`);
    });
  }

  async unpublish(type: string, port: number): Promise<void> {
    await this.serialize(async () => {
      const key = serviceKey(type, port);
      const next = this.entries.filter((e) => serviceKey(e.service.type, e.service.port) !== key);
      if (next.length === this.entries.length) return;
      await this.applyAndCommit(next, true);
      this.opts.logger.info(`unpublished ${type}:${port}`);
    });
  }

  announced(): readonly ServiceAnnouncement[] {
    return this.entries.map((e) => e.service);
  }

  /** Unpublishes every service of one owner (e.g. a container being removed). */
  async unpublishOwner(owner: string): Promise<number> {
    return this.serialize(async () => {
      const next = this.entries.filter((e) => (e.service.owner ?? 'user') !== owner);
      const removed = this.entries.length - next.length;
      if (removed > 0) await this.applyAndCommit(next, true);
      return removed;
    });
  }

  /**
   * Takes a service out of the tag (withdrawn = true) or puts it back. Returns
   * false when nothing changed or (when restoring) it does not fit any more,
   * in which case it stays withdrawn.
   */
  async setWithdrawn(type: string, port: number, withdrawn: boolean): Promise<boolean> {
    return this.serialize(async () => {
      const key = serviceKey(type, port);
      const idx = this.entries.findIndex((e) => serviceKey(e.service.type, e.service.port) === key);
      if (idx < 0 || this.entries[idx]!.withdrawn === withdrawn) return false;
      const next = this.entries.map((e, i) => (i === idx ? { ...e, withdrawn } : e));
      try {
        await this.applyAndCommit(next, false);
      } catch (e) {
        if (!withdrawn && e instanceof AgentError && e.code === 'E_TOO_LARGE') {
          this.opts.counters.inc('discovery.restore_refused_too_large');
          this.opts.logger.warn(`${type}:${port} passes its check again but no longer fits the tags: ${e.message}`);
          return false;
        }
        throw e;
      }
      this.opts.counters.inc(withdrawn ? 'discovery.check_withdrawn' : 'discovery.check_restored');
      this.opts.logger.info(`${type}:${port} ${withdrawn ? 'withdrawn (check failing)' : 'announced again (check passing)'}`);
      return true;
    });
  }

  list(): readonly PublishedService[] {
    return this.entries.map((e) => ({ service: structuredClone(e.service), withdrawn: e.withdrawn }));
  }

  /**
   * The list as of the tag right now: a change another tool made with
   * `serf tags -set` is adopted first (read-through), so a script that sets
   * the tag and then asks sees its own write without waiting for the event.
   */
  async current(): Promise<readonly PublishedService[]> {
    return this.serialize(async () => this.list());
  }

  /** Records currently in the tag. */
  records(): ServiceRecord[] {
    return this.entries.filter((e) => !e.withdrawn).map((e) => toRecord(e.service, this.opts.facts));
  }

  /** Called after every change of the list (the checker follows it). */
  onChange(l: ServicesListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Resolves once every queued change is applied. */
  async idle(): Promise<void> {
    await this.queue.idle();
  }

  // -------------------------------------------------------------------------

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const step = async (): Promise<T> => {
      await this.adoptExternalChange();
      return fn();
    };
    return this.queue.run(step);
  }

  /**
   * When the `services` tag is no longer what we set, someone else (avahi-ps
   * via `serf tags`) changed it: their list becomes ours. Records we do not
   * have are adopted (owner "external"), ours missing from it are dropped,
   * withdrawn ones (not in the tag by design) are kept.
   */
  private async adoptExternalChange(): Promise<void> {
    if (this.lastTagValue === null) return; // not started
    const current = this.opts.serf.localMember().tags[SERVICES_TAG];
    if (current === this.lastTagValue) return;
    let records: ServiceRecord[];
    try {
      records = current === undefined ? [] : decodeServicesTag(current, this.opts.maxDecodedBytes ?? 64 * 1024);
    } catch (e) {
      this.opts.counters.inc('discovery.external_tag_undecodable');
      this.opts.logger.warn(`services tag changed by someone else and does not decode (${(e as Error).message}); keeping ours`);
      this.lastTagValue = current;
      return;
    }
    const inTag = new Map(records.map((r) => [`${r.s}\u0000${r.p}`, r]));
    const next: PublishedService[] = [];
    for (const e of this.entries) {
      const key = serviceKey(e.service.type, e.service.port);
      const r = inTag.get(key);
      if (e.withdrawn) { next.push(e); inTag.delete(key); continue; }
      if (!r) continue; // unpublished by the other writer
      inTag.delete(key);
      next.push({ service: { ...e.service, description: r.d, ...(r.t ? { txt: r.t.replace(/ /g, '&') } : {}) }, withdrawn: false });
    }
    let skipped = 0;
    for (const r of inTag.values()) {
      const port = /^\d{1,5}$/.test(r.p) ? Number(r.p) : NaN;
      const svc: ServiceAnnouncement = { type: r.s, description: r.d, port, owner: EXTERNAL_OWNER };
      if (r.t) svc.txt = r.t.replace(/ /g, '&');
      if (r.i && r.i !== this.opts.facts.communityIp) svc.ip = r.i;
      try {
        validateAnnouncement(svc);
      } catch {
        skipped++;
        continue;
      }
      if (next.length < this.opts.maxServices) next.push({ service: svc, withdrawn: false });
      else skipped++;
    }
    if (skipped) this.opts.counters.inc('discovery.external_record_skipped', skipped);
    this.opts.counters.inc('discovery.external_tag_adopted');
    this.opts.logger.info(`services tag changed outside the agent (serf tags?): now ${next.length} services`);
    this.entries = next;
    this.lastTagValue = current;
    await this.save(next);
    this.notify();
  }

  /** Saves the published list; a failure is counted and logged, not thrown: the tag is what counts, the file only restores it after a restart. */
  private async save(entries: readonly PublishedService[]): Promise<void> {
    try {
      await this.opts.store.save(entries.map((e) => e.service));
    } catch (e) {
      this.opts.counters.inc('discovery.store_save_error');
      this.opts.logger.error(`cannot save published services: ${(e as Error).message}`);
    }
  }

  private notify(): void {
    for (const l of this.listeners) {
      try { l(this.list()); } catch (e) { this.opts.logger.error(`services listener failed: ${(e as Error).message}`); }
    }
  }

  private tagsFor(entries: readonly PublishedService[]): Record<string, string> {
    const tags = { ...this.opts.serf.localMember().tags };
    const records = entries.filter((e) => !e.withdrawn).map((e) => toRecord(e.service, this.opts.facts));
    if (records.length === 0) delete tags[SERVICES_TAG];
    else tags[SERVICES_TAG] = encodeServicesTag(records);
    return tags;
  }

  private tagSizeFor(entries: readonly PublishedService[]): number {
    return encodedTagsSize(this.tagsFor(entries));
  }

  /** Sets the tag for `next`; only when serf accepted it do `next` (and the saved file) become current. */
  private async applyAndCommit(next: PublishedService[], persist: boolean): Promise<void> {
    const tags = this.tagsFor(next);
    const size = encodedTagsSize(tags);
    if (size > META_MAX_SIZE) {
      const over = size - META_MAX_SIZE;
      this.opts.counters.inc('discovery.publish_refused_too_large');
      throw new AgentError(
        'E_TOO_LARGE',
        `the node's tags would take ${size} bytes, ${over} bytes over serf's ${META_MAX_SIZE}-byte limit; nothing changed`,
        { size, limit: META_MAX_SIZE, over },
      );
    }
    const current = this.opts.serf.localMember().tags;
    if (current[SERVICES_TAG] !== tags[SERVICES_TAG]) {
      try {
        await this.opts.serf.setTags(tags);
      } catch (e) {
        // Like serf's SetTags, the tags are already in place locally when the
        // wait for the broadcast times out; gossip and push/pull spread them.
        if (!(e instanceof AgentError && e.code === 'E_TIMEOUT')) throw e;
        this.opts.counters.inc('discovery.tag_broadcast_timeout');
        this.opts.logger.warn(`services tag set, but its broadcast is still pending: ${e.message}`);
      }
    }
    this.entries = next;
    this.lastTagValue = tags[SERVICES_TAG];
    if (persist) await this.save(next);
    this.notify();
  }
}

function normalize(svc: ServiceAnnouncement): ServiceAnnouncement {
  const out: ServiceAnnouncement = { type: svc.type, description: svc.description, port: svc.port, owner: svc.owner ?? 'user' };
  if (svc.txt !== undefined && svc.txt !== '') out.txt = svc.txt;
  if (svc.ip !== undefined) out.ip = svc.ip;
  if (svc.check !== undefined) out.check = structuredClone(svc.check);
  return out;
}
