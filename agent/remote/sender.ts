// The requesting side (full node: `cloudy-agent remote`, the GUI/API): signs a
// command with the operator key, sends it as a serf query with a node or tag
// filter (so real serf nodes relay it), and verifies each answer:
//   - signed by the key inside it, over the exact bytes;
//   - names the node that answered (serf's From), and for a node target that
//     node is the target;
//   - carries the hash of THIS command (no replayed answers);
//   - its node key is the one pinned for that node name (NodePins).
// Trust model of node keys: trust on first use, like ssh's known_hosts. The
// first verified answer from a node pins its key in `known-nodes.json` next to
// the operator key; later answers signed by another key are rejected as
// forged. Weakness: a node that impersonates the target on the very first
// contact gets pinned instead (pin explicitly with `remote -pin NODE=KEY`,
// the key that `cloudy-agent operator show -node` prints on the edge).
import type { KeyObject } from 'node:crypto';
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import { AgentError, errorMessage } from '../errors.ts';
import type { FileStore } from '../state/atomic-file.ts';
import { withFileLock } from '../state/file-lock.ts';
import {
  REMOTE_QUERY_NAME, TAG_TARGET_PREFIX, TOKEN_BYTES, decodeAnswer, requestId, signCommand, unpackSigned,
  type Answer, type ReplyTo,
} from './envelope.ts';
import { formatPublicKey, parsePublicKey, publicKeyFromRaw, verifyBytes } from './keys.ts';
import { LargeAnswerListener } from './large-answer.ts';
import type { AuditLog } from './audit.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

export interface QueryTransport {
  /** Sends a query; `onResponse` gets every response; resolves at the query's end (or when `signal` aborts). */
  query(p: { name: string; payload: Uint8Array; filterNodes?: string[]; filterTags?: Record<string, string>; relayFactor: number; timeoutMs: number },
    onResponse: (from: string, payload: Uint8Array) => void, signal: AbortSignal): Promise<void>;
}

/** Pinned node keys (trust on first use). */
export class NodePins {
  private pins = new Map<string, string>();
  private constructor(private readonly file: FileStore | null) {}

  static async load(file: FileStore | null): Promise<NodePins> {
    const p = new NodePins(file);
    const b = await file?.read();
    if (b) {
      try { p.pins = new Map(Object.entries(JSON.parse(Buffer.from(b).toString('utf8')) as Record<string, string>)); } catch {
        throw new AgentError('E_CONFIG', 'known-nodes file is corrupt');
      }
    }
    return p;
  }

  get(node: string): string | undefined { return this.pins.get(node); }

  async pin(node: string, key: string): Promise<void> {
    this.pins.set(node, formatPublicKey(parsePublicKey(key)));
    await this.file?.write(new TextEncoder().encode(JSON.stringify(Object.fromEntries(this.pins), null, 2) + '\n'));
  }

  /** 'pinned' (matches), 'new' (first contact, now pinned), 'mismatch'. */
  async check(node: string, raw: Uint8Array): Promise<'pinned' | 'new' | 'mismatch'> {
    const k = formatPublicKey(raw);
    const have = this.pins.get(node);
    if (have === undefined) { await this.pin(node, k); return 'new'; }
    return have === k ? 'pinned' : 'mismatch';
  }
}

/**
 * Per-operator sequence numbers: consecutive (1 more each command), persisted,
 * and shared by every process that signs with the key (the `remote` CLI and the
 * full node's GUI): `lockPath` serializes their read-increment-write. Numbers
 * stay consecutive so that commands sent at once land inside the edge's replay
 * window (sequence-store.ts) however they are reordered. A lost or new counter
 * starts from the clock (microseconds since 1970), above any number a working
 * clock handed out before.
 */
export class OperatorSequence {
  private last = 0;
  private chain: Promise<unknown> = Promise.resolve();
  constructor(private readonly file: FileStore | null, private readonly now: () => number = Date.now, private readonly lockPath: string | null = null) {}

  next(): Promise<number> {
    const step = async (): Promise<number> => {
      const b = await this.file?.read();
      const stored = b ? Number(Buffer.from(b).toString('utf8').trim()) || 0 : 0;
      const n = Math.max(stored + 1, this.last + 1, stored === 0 && this.last === 0 ? this.now() * 1000 : 0);
      this.last = n;
      await this.file?.write(new TextEncoder().encode(`${n}\n`));
      return n;
    };
    const run = (): Promise<number> => (this.lockPath ? withFileLock(this.lockPath, step) : step());
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => {});
    return p;
  }
}

export type RemoteTarget = { node: string } | { tag: string; expr: string };

export interface RemoteResult {
  node: string;
  /** ok: the command ran (see exit); refused: the node refused it (reason); forged: an answer failed verification. */
  status: 'ok' | 'refused' | 'forged';
  reason?: string;
  exit: number;
  stdout: string;
  stderr: string;
}

export interface RunResult {
  results: RemoteResult[];
  /** Fan-out: matching members (when known) that did not answer. */
  missing: string[];
  /** Answers that failed verification (a node's real answer may still have arrived after a forged one). */
  rejected: { node: string; reason: string }[];
}

export interface RemoteClientDeps {
  transport: QueryTransport;
  key: { privateKey: KeyObject; raw: Uint8Array };
  sequence: OperatorSequence;
  pins: NodePins;
  /** Address the targets connect back to for large answers ('' = no large answers). */
  replyHost: string;
  maxAnswerBytes: number;
  audit?: AuditLog;
}

export class RemoteClient {
  private listener: LargeAnswerListener | null = null;
  constructor(private readonly d: RemoteClientDeps) {}

  private async replyTo(): Promise<ReplyTo | null> {
    if (this.d.replyHost === '') return null;
    if (!this.listener) {
      this.listener = new LargeAnswerListener({ host: this.d.replyHost, maxBytes: this.d.maxAnswerBytes + 4096, maxConnections: 64, stallMs: 30_000 });
      await this.listener.listen();
    }
    return { addr: this.d.replyHost, port: this.listener.port, token: new Uint8Array(nodeCrypto().randomBytes(TOKEN_BYTES)) };
  }

  async close(): Promise<void> { await this.listener?.close(); this.listener = null; }

  /**
   * Runs `command args` on the target. A node target finishes as soon as that
   * node's (verified) answer is complete. A tag target finishes once every
   * `expected` member's verified answer is complete (the caller's view of the
   * matching alive members), else at the timeout, and reports the expected
   * members that did not answer; without `expected` it waits for the timeout.
   */
  async run(target: RemoteTarget, command: string, args: string[], o: { timeoutMs: number; relayFactor?: number; expected?: string[] }): Promise<RunResult> {
    const reply = await this.replyTo();
    const seq = await this.d.sequence.next();
    const targetStr = 'node' in target ? target.node : `${TAG_TARGET_PREFIX}${target.tag}=${target.expr}`;
    const payload = signCommand(this.d.key, { target: targetStr, seq, command, args, reply });
    const req = requestId(unpackSigned(payload).signed);
    const results = new Map<string, RemoteResult>();
    const pendingLarge = new Map<string, number>();
    const ac = new AbortController();
    const waitingFor = 'node' in target ? [target.node] : (o.expected ?? []);
    // A forged answer does not count: the node's real one may still come.
    const complete = (n: string): boolean => { const st = results.get(n)?.status; return (st === 'ok' || st === 'refused') && !pendingLarge.has(n); };
    const finishIfDone = (): void => { if (waitingFor.length > 0 && waitingFor.every(complete) && pendingLarge.size === 0) ac.abort(); };
    const rejected: { node: string; reason: string }[] = [];
    const forged = (node: string, why: string): void => {
      if (rejected.length < 64) rejected.push({ node, reason: why });
      if (!results.has(node) || results.get(node)!.status === 'forged') {
        results.set(node, { node, status: 'forged', reason: why, exit: 1, stdout: '', stderr: `answer from ${node} rejected: ${why}\n` });
      }
    };
    const verify = async (from: string, bytes: Uint8Array, viaTcp: boolean): Promise<Answer | null> => {
      let a: Answer;
      try {
        const { signed, sig } = unpackSigned(bytes);
        a = decodeAnswer(signed);
        if (!verifyBytes(publicKeyFromRaw(a.nodeKey), signed, sig)) { forged(from, 'bad signature'); return null; }
      } catch (e) { forged(from, errorMessage(e)); return null; }
      if (a.node !== from) { forged(from, `signed by node ${a.node}`); return null; }
      if ('node' in target && a.node !== target.node) { forged(from, 'not the target'); return null; }
      if (Buffer.compare(Buffer.from(a.request), Buffer.from(req)) !== 0) { forged(from, 'answers another command'); return null; }
      if (viaTcp && (a.status === 'large' || a.size !== 0)) { forged(from, 'malformed large answer'); return null; }
      if (await this.d.pins.check(a.node, a.nodeKey) === 'mismatch') { forged(from, `node key ${formatPublicKey(a.nodeKey)} is not the one pinned for ${a.node}`); return null; }
      return a;
    };
    const accept = (a: Answer): void => {
      const refused = a.status !== 'ok';
      results.set(a.node, { node: a.node, status: refused ? 'refused' : 'ok', ...(refused ? { reason: a.status } : {}), exit: a.exit, stdout: a.stdout, stderr: a.stderr });
      pendingLarge.delete(a.node);
      this.d.audit?.add({ direction: 'out', peer: a.node, keyId: '-', seq, command: [command, ...args].join(' '), outcome: refused ? `refused ${a.status}` : (a.exit === 0 ? 'ok' : `exit ${a.exit}`) });
      finishIfDone();
    };
    const unexpect = reply ? this.listener!.expect(reply.token, (bytes) => {
      // The TCP answer may overtake its marker; it is verified on its own (signature, pin, request, target).
      let node = '';
      try { node = decodeAnswer(unpackSigned(bytes).signed).node; } catch { return; }
      if (results.get(node)?.status === 'ok' || results.get(node)?.status === 'refused') return;
      void verify(node, bytes, true).then((a) => { if (a) accept(a); });
    }) : () => {};
    try {
      await this.d.transport.query({
        name: REMOTE_QUERY_NAME, payload, relayFactor: o.relayFactor ?? 0, timeoutMs: o.timeoutMs,
        ...('node' in target ? { filterNodes: [target.node] } : { filterTags: { [target.tag]: target.expr } }),
      }, (from, bytes) => {
        void verify(from, bytes, false).then((a) => {
          if (!a) return;
          if (a.status === 'large') {
            if (results.get(a.node)?.status === 'ok') return; // the TCP answer came first
            if (a.size > this.d.maxAnswerBytes + 4096) { forged(from, `announced answer of ${a.size} bytes is over the limit`); return; }
            pendingLarge.set(a.node, a.size);
          } else accept(a);
        });
      }, ac.signal);
      // A large answer may still be on its way when the query's collector closes: give it the rest of a grace period.
      const t0 = Date.now();
      while (pendingLarge.size > 0 && !ac.signal.aborted && Date.now() - t0 < Math.min(o.timeoutMs, 10_000)) await new Promise((r) => setTimeout(r, 50));
    } finally {
      unexpect();
    }
    for (const [node] of pendingLarge) if (!results.has(node)) results.set(node, { node, status: 'forged', reason: 'large answer never arrived', exit: 1, stdout: '', stderr: `${node}: the large answer did not arrive\n` });
    const answered = new Set(results.keys());
    return { results: [...results.values()].sort((a, b) => a.node.localeCompare(b.node)), missing: waitingFor.filter((n) => !answered.has(n)).sort(), rejected };
  }
}
