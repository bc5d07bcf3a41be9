// The receiving side of remote control: takes a signed command (a serf query
// payload), checks it, runs it, and returns the signed answer.
//
// Checks, in this order, each refusal counted as remote.refused.<reason> and
// answered with that reason (nothing runs):
//   decode    -> the payload is not a command envelope
//   version   -> envelope version we do not speak
//   target    -> not this node (name, or tag:KEY=REGEXP against our tags)
//   untrusted -> key id not in the trust list
//   signature -> missing or bad Ed25519 signature over the signed bytes
//   role      -> the key's role does not allow the command (unknown commands
//                and forbidden arguments are refused here too, as 'invalid')
//   replay    -> sequence number already accepted from that key, or older than
//                its sliding window (sequence-store.ts)
//   rate      -> the key's token bucket is empty, or too many commands run
//                and wait (up to maxConcurrent run, 4 x that many wait)
// Then the sequence number is made durable (sequence-store.ts, write-ahead)
// and only then the command runs.
import type { KeyObject } from 'node:crypto';
import type { Counters } from '../obs/counters.ts';
import { compileRe2 } from '../gossip/serf/filters.ts';
import { AgentError, errorMessage } from '../errors.ts';
import {
  ENVELOPE_VERSION, TAG_TARGET_PREFIX, decodeCommand, encodeAnswer, packSigned, requestId, unpackSigned,
  type Answer, type Command, type Refusal,
} from './envelope.ts';
import { keyIdHex, signBytes, verifyBytes } from './keys.ts';
import type { Role, TrustStore } from './trust.ts';
import type { SequenceStore } from './sequence-store.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { AuditLog } from './audit.ts';

export interface CommandOutput { exit: number; stdout: string; stderr: string }

/** One command a remote operator may run. */
export interface RemoteCommand {
  name: string;
  /** The registry command these arguments amount to (its role is the registry's); throws E_INVALID for arguments never allowed. */
  registryName(args: readonly string[]): string;
  run(args: readonly string[]): Promise<CommandOutput>;
}

export interface ExecutorDeps {
  nodeName: string;
  tags: () => Record<string, string>;
  nodeKey: { privateKey: KeyObject; raw: Uint8Array };
  trust: TrustStore;
  sequences: SequenceStore;
  rate: RateLimiter;
  audit: AuditLog;
  counters: Counters;
  commands: ReadonlyMap<string, RemoteCommand>;
  /** The role the command registry declares for a command (registry.roleOf): the one role table. */
  roleOf(registryName: string): Role | undefined;
  maxAnswerBytes: number;
  maxConcurrent: number;
}

export interface Outcome {
  status: Answer['status'];
  /** The parsed command when it got past decoding (its reply address is used for large answers). */
  command: Command | null;
  /** The command's signed bytes (the answer names their hash). */
  signedCommand: Uint8Array;
  out: CommandOutput;
}

/** What goes back: `inline` in the serf response; `large`, when set, over TCP to the command's reply address. */
export interface Reply { inline: Uint8Array; large: Uint8Array | null }

/** Commands that may wait for a running slot, per slot. */
const QUEUE_PER_SLOT = 4;

const ROLE_RANK: Record<Role, number> = { viewer: 0, admin: 1 };

export class RemoteExecutor {
  private running = 0;
  /** Commands past every check: running, or durable and waiting for a slot. */
  private admitted = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly d: ExecutorDeps) {}

  isTarget(target: string): boolean {
    if (!target.startsWith(TAG_TARGET_PREFIX)) return target === this.d.nodeName;
    const spec = target.slice(TAG_TARGET_PREFIX.length);
    const eq = spec.indexOf('=');
    if (eq <= 0) return false;
    const re = compileRe2(spec.slice(eq + 1));
    return re !== null && re.test(this.d.tags()[spec.slice(0, eq)] ?? '');
  }

  async handle(payload: Uint8Array, requester: string): Promise<Outcome> {
    let signed: Uint8Array = payload;
    let cmd: Command | null = null;
    const refuse = (reason: Refusal, detail: string): Outcome => {
      this.d.counters.inc(`remote.refused.${reason}`);
      this.d.audit.add({ direction: 'in', peer: requester, keyId: cmd ? keyIdHex0(cmd.keyId) : '-', seq: cmd?.seq ?? 0, command: cmd ? [cmd.command, ...cmd.args].join(' ') : '-', outcome: `refused ${reason}` });
      return { status: reason, command: cmd, signedCommand: signed, out: { exit: 1, stdout: '', stderr: `remote command refused (${reason}): ${detail}\n` } };
    };
    let sig: Uint8Array;
    let decoded: Command | { version: number };
    try {
      ({ signed, sig } = unpackSigned(payload));
      decoded = decodeCommand(signed);
    } catch (e) {
      return refuse('decode', errorMessage(e));
    }
    if (decoded.version !== ENVELOPE_VERSION || !('target' in decoded)) return refuse('version', `version ${decoded.version} (this node speaks ${ENVELOPE_VERSION})`);
    cmd = decoded;
    if (!this.isTarget(cmd.target)) return refuse('target', `addressed to ${cmd.target}, this is ${this.d.nodeName}`);
    const trusted = this.d.trust.byId(keyIdHex0(cmd.keyId));
    if (!trusted) return refuse('untrusted', `key ${keyIdHex0(cmd.keyId)} is not trusted here`);
    if (!verifyBytes(trusted.publicKey, signed, sig)) return refuse('signature', sig.length === 0 ? 'unsigned' : 'bad signature');
    const rc = this.d.commands.get(cmd.command);
    if (!rc) return refuse('invalid', `unknown command ${JSON.stringify(cmd.command)}`);
    let regName: string;
    try { regName = rc.registryName(cmd.args); } catch (e) { return refuse('invalid', errorMessage(e)); }
    const need = this.d.roleOf(regName);
    if (need === undefined) return refuse('invalid', `${regName} is not a command of this node`);
    if (ROLE_RANK[trusted.role] < ROLE_RANK[need]) return refuse('role', `${[cmd.command, ...cmd.args.slice(0, 1)].join(' ')} needs the ${need} role, key ${trusted.id} is ${trusted.role}`);
    const stale = this.d.sequences.staleness(trusted.id, cmd.seq);
    if (stale) {
      this.d.counters.inc(`remote.replay.${stale}`);
      return refuse('replay', stale === 'duplicate' ? `sequence ${cmd.seq} was accepted before`
        : stale === 'state-lost' ? `this node lost its record of the sequence numbers it ran (corrupt file moved aside): key ${trusted.id} is refused until an operator runs \`cloudy-agent operator unlock ${trusted.id} -floor N\` on it`
          : `sequence ${cmd.seq} is older than the replay window (${this.d.sequences.windowSize} below ${this.d.sequences.lastAccepted(trusted.id)})`);
    }
    if (!this.d.rate.take(trusted.id)) return refuse('rate', `key ${trusted.id} is over its rate limit`);
    // Commands sent at once (the GUI, a script) wait for a free slot; beyond the queue they are refused.
    if (this.admitted >= this.d.maxConcurrent * (1 + QUEUE_PER_SLOT)) return refuse('rate', `${this.admitted} remote commands running or waiting`);
    this.admitted++;
    try {
      // Write-ahead, before waiting for a slot: commands sent at once share one write.
      let fresh: boolean;
      try { fresh = await this.d.sequences.accept(trusted.id, cmd.seq); } catch (e) {
        this.d.counters.inc('remote.sequence_write_errors');
        return { status: 'ok', command: cmd, signedCommand: signed, out: { exit: 1, stdout: '', stderr: `cannot record the sequence number, nothing run: ${errorMessage(e)}\n` } };
      }
      if (!fresh) return refuse('replay', `sequence ${cmd.seq} was accepted meanwhile`);
      if (this.running >= this.d.maxConcurrent) await new Promise<void>((r) => this.queue.push(r));
      else this.running++;
      try {
        this.d.counters.inc('remote.executed');
        let out: CommandOutput;
        try { out = await rc.run(cmd.args); } catch (e) {
          out = { exit: 1, stdout: '', stderr: `${e instanceof AgentError ? `${e.code}: ` : ''}${errorMessage(e)}\n` };
        }
        this.d.audit.add({ direction: 'in', peer: requester, keyId: trusted.id, seq: cmd.seq, command: [cmd.command, ...cmd.args].join(' '), outcome: out.exit === 0 ? 'ok' : `exit ${out.exit}` });
        return { status: 'ok', command: cmd, signedCommand: signed, out: this.bound(out) };
      } finally {
        // The slot passes straight to the next waiter.
        const nextWaiter = this.queue.shift();
        if (nextWaiter) nextWaiter(); else this.running--;
      }
    } finally {
      this.admitted--;
    }
  }

  /**
   * The signed answer of an outcome: whole in the serf response when it fits
   * `budget` bytes; else a small signed "large" marker in the response and the
   * whole answer for the reply address; without one, cut to fit.
   */
  reply(o: Outcome, budget: number): Reply {
    const full = this.sign(o.signedCommand, o.status, o.out);
    if (full.length <= budget) return { inline: full, large: null };
    if (o.command?.reply) return { inline: this.sign(o.signedCommand, 'large', { exit: 0, stdout: '', stderr: '' }, full.length), large: full };
    return { inline: this.truncated(o.signedCommand, o.status, o.out, budget), large: null };
  }

  private truncated(signedCommand: Uint8Array, status: Answer['status'], out: CommandOutput, budget: number): Uint8Array {
    const note = `\n[answer cut to fit a serf response: the requester gave no reply address]\n`;
    let keep = Math.max(0, budget - 300 - this.d.nodeName.length - note.length);
    let a: Uint8Array;
    do {
      a = this.sign(signedCommand, status, { exit: out.exit, stdout: out.stdout.slice(0, keep) + note, stderr: out.stderr.slice(0, 200) });
      keep = Math.floor(keep * 0.8);
    } while (a.length > budget && keep > 0);
    return a;
  }

  private bound(out: CommandOutput): CommandOutput {
    const max = this.d.maxAnswerBytes;
    if (out.stdout.length + out.stderr.length <= max) return out;
    return { exit: out.exit, stdout: out.stdout.slice(0, max) + `\n[output cut at ${max} bytes]\n`, stderr: out.stderr.slice(0, 4096) };
  }

  private sign(signedCommand: Uint8Array, status: Answer['status'], out: CommandOutput, size = 0): Uint8Array {
    const inner = encodeAnswer({
      version: ENVELOPE_VERSION, node: this.d.nodeName, nodeKey: this.d.nodeKey.raw, request: requestId(signedCommand),
      status, exit: out.exit, stdout: out.stdout, stderr: out.stderr, size,
    });
    return packSigned(inner, signBytes(this.d.nodeKey.privateKey, inner));
  }
}

function keyIdHex0(id: Uint8Array): string { return Buffer.from(id).toString('hex'); }
