// `config set limit.NAME VALUE|default` from a remote admin: validated as a
// config file's `limits` entry, written to <data-dir>/remote/limits.json
// (config/limit-overrides-file.ts), applied at the next start (most limits
// size tables and queues when components are built). `config get` shows the
// effective value as `limit.NAME` and a change not yet applied as
// `limit.NAME.pending` (a value, or `default`).
import { AgentError } from '../errors.ts';
import type { FileStore } from '../state/atomic-file.ts';
import { effectiveLimits, parseLimitOverride, type AgentConfig } from '../config/agent-config.ts';
import { encodeLimitsFile, parseLimitsFile } from '../config/limit-overrides-file.ts';
import type { LimitName, Limits } from '../config/limits.ts';

/**
 * Limits a remote admin may not change, because a bad value would lock the
 * operator out of remote control with no remote way back (only a local
 * operator could repair it):
 * - remoteRateBurst, remoteRatePerMinute: set to 1 the node accepts about one
 *   command a minute, shared with every other operator; the repair itself is throttled.
 * - remoteReplayWindow: the sequence store is sized by it at load; a smaller
 *   window refuses commands still in flight from other operators' counters.
 * - remoteAnswerMaxBytes, remoteConcurrent: tiny values make answers (even a
 *   `config get`) fail or every command busy.
 * - maxRpcClients: remote commands run through the agent's own RPC.
 * - stateRetryMs: how fast a full/read-only disk is retried, this file included.
 */
export const LOCKOUT_LIMITS: ReadonlySet<LimitName> = new Set<LimitName>([
  'remoteRateBurst', 'remoteRatePerMinute', 'remoteReplayWindow', 'remoteAnswerMaxBytes', 'remoteConcurrent', 'maxRpcClients', 'stateRetryMs',
]);

/**
 * Member-bound tables that config/agent-config.ts effectiveLimits scales to
 * the memory budget: remotely they may be lowered, never raised above the
 * mode's default scaled to this node's budget (raising them breaks the memory
 * bound; that is a local decision: -limit, memory_budget).
 */
export const BUDGET_LIMITS: ReadonlySet<LimitName> = new Set<LimitName>([
  'maxMembers', 'coordinateCache', 'snapshotPeers', 'maxPushPullNodes', 'maxHeldStreamBytes',
]);

export class RemoteLimits {
  private constructor(
    private readonly config: AgentConfig,
    private readonly file: FileStore,
    /** The file as the daemon applied it at start. */
    private readonly applied: Partial<Limits>,
    /** The file now. */
    private pending: Partial<Limits>,
  ) {}

  static async load(config: AgentConfig, file: FileStore): Promise<RemoteLimits> {
    // daemon.ts already moved a bad file aside before this runs; a file broken since is treated the same.
    const now = (await file.readOrMoveAside?.(parseLimitsFile, 'remote limit changes are lost')) ?? {};
    return new RemoteLimits(config, file, { ...now }, { ...now });
  }

  /** `limit.NAME.pending` for every change that applies at the next start. */
  pendingSettings(): Record<string, string> {
    const out: Record<string, string> = {};
    const names = new Set([...Object.keys(this.applied), ...Object.keys(this.pending)]) as Set<LimitName>;
    for (const n of names) {
      if (this.applied[n] === this.pending[n]) continue;
      out[`limit.${n}.pending`] = this.pending[n] === undefined ? 'default' : String(this.pending[n]);
    }
    return out;
  }

  /** Validates, writes the file durably (or records the storage error for retry), answers `VALUE (applies at next restart)`. */
  async set(rawName: string, value: string): Promise<string> {
    const where = `limit.${rawName}`;
    const v = value.trim();
    let name: LimitName;
    let n: number | undefined;
    try {
      if (v === 'default') {
        [name] = parseLimitOverride(`${rawName}=1`, where);
      } else {
        [name, n] = parseLimitOverride(`${rawName}=${v}`, where);
      }
    } catch (e) {
      throw new AgentError('E_INVALID', (e as Error).message);
    }
    if (LOCKOUT_LIMITS.has(name)) throw new AgentError('E_INVALID', `limit.${name} cannot be set remotely (a bad value could lock remote operators out): set it locally with -limit`);
    if (name in this.config.limitFlags) throw new AgentError('E_INVALID', `limit.${name} is set by a -limit flag on this node, which wins over remote changes`);
    if (n !== undefined && BUDGET_LIMITS.has(name)) {
      const ceiling = effectiveLimits({ ...this.config, limitOverrides: {}, limitFlags: {} })[name];
      if (n > ceiling) throw new AgentError('E_INVALID', `limit.${name} ${n} is above ${ceiling}, what this node's mode and memory budget allow: raise it locally (-limit, memory_budget)`);
    }
    const next = { ...this.pending };
    if (n === undefined) delete next[name]; else next[name] = n;
    await this.file.write(encodeLimitsFile(next));
    this.pending = next;
    return `${n === undefined ? 'default' : n} (applies at next restart)`;
  }
}
