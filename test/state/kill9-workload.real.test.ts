// The crash test: a real agent process (the bundled agent, every
// plug-in) runs a scripted workload - publish and unpublish services, set
// tags, create/start/stop/destroy busybox containers, rotate the gossip key,
// join and leave a real serf peer - and is killed with SIGKILL (its whole
// process group, so an lxc-create it was running dies with it, as in a power
// cut; the containers themselves run detached and survive, as they do when
// only the agent crashes) at a random moment, CR_KILLS times in a row
// (default 200) within CR_KILL_BUDGET_S seconds (default 600: 200 kills take 400-600 s on a
// quiet machine; under load fewer fit, and the count is printed; run-all's per-file limit is 900 s).
//
// A real serf agent (the "watcher", same keyring) watches throughout. After
// every restart, before the next workload round:
//  - the watcher sees the node alive again under the same name, carrying this
//    boot's number (-tag boot=N): it came back, and its keyring still gossips;
//  - keyring, tags and services files are whole and hold, for every operation,
//    its result or the state before it (acknowledged ones: their result);
//  - no state file was found corrupt (nothing moved aside, nothing logged);
//  - every container in LXC (our lxc path) is managed by the agent and every
//    managed one exists in LXC; each is as before or after its operation;
//  - no container service is announced for a container that is not running.
// Container operations take seconds where the others take milliseconds, so
// only CR_CONTAINER_PCT percent of operations (default 15) touch containers.
//
// Resources: bridge crkbr0 (10.226.1.0/24), nft table cr_kill, lxc path and
// data dir in a temp dir, containers cr-w0..cr-w2, ports chosen at run time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerfAgent } from '../support/real-serf.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { freePort } from '../support/net.ts';
import { prepareBundledLxcAgent } from '../support/bundled-lxc-agent.ts';
import { RpcClient } from '../../agent/rpc/client.ts';
import { decodeServicesTag } from '../../agent/discovery/codec.ts';

const root = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'cr-kw-'));
const KILLS = Number(process.env.CR_KILLS ?? 200);
const BUDGET_MS = Number(process.env.CR_KILL_BUDGET_S ?? 600) * 1000;
const CONTAINER_PCT = Number(process.env.CR_CONTAINER_PCT ?? 15);
const KEY0 = 'HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=';
const BR = 'crkbr0';
const NET = { bridge: BR, cidr: '10.226.1.0/24', gateway: '10.226.1.1' };
const TABLE = 'cr_kill';
const NODE = 'cr-w';
const CNAMES = ['cr-w0', 'cr-w1', 'cr-w2'];
const data = join(work, 'data');
const lxcPath = join(work, 'lxc');
const bundle = join(work, 'agent.cjs');

const sh = (file: string, args: string[]): { code: number; out: string; err: string } => {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
};
const lxcNames = (): string[] => sh('lxc-ls', ['-P', lxcPath, '-1']).out.split(/\s+/).filter((n) => n.startsWith('cr-w'));
const lxcState = (n: string): string => /State:\s+(\S+)/.exec(sh('lxc-info', ['-P', lxcPath, '-n', n, '-s']).out)?.[1] ?? 'MISSING';

let watcher: SerfAgent | null = null;
let peer: SerfAgent | null = null;
let agent: ChildProcess | null = null;
const killGroup = (p: ChildProcess | null): void => { if (p?.pid && p.exitCode === null && p.signalCode === null) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } } };

test.after(async () => {
  killGroup(agent);
  await watcher?.dispose();
  await peer?.dispose();
  for (const n of lxcNames()) sh('lxc-destroy', ['-P', lxcPath, '-f', '-n', n]);
  sh('nft', ['delete', 'table', 'ip', TABLE]);
  sh('ip', ['link', 'del', BR]);
  if (!process.env.CR_KEEP) rmSync(work, { recursive: true, force: true });
});

/** What the test knows for sure (acknowledged operations), and the one in flight when the kill came. */
interface Model {
  round: number;
  services: Set<string>; // user services "type:port"
  primary: string;
  /** A `keys -use` that some member did not answer (not acknowledged): the node may have it as primary too. */
  primaryMaybe: string | null;
  containers: Map<string, 'RUNNING' | 'STOPPED'>;
  peerJoined: boolean;
}
type Op =
  | { kind: 'tags'; round: number }
  | { kind: 'publish' | 'unpublish'; key: string }
  | { kind: 'install-key' | 'use-key' | 'remove-key'; key: string }
  | { kind: 'join' | 'leave' }
  | { kind: 'create' | 'start' | 'stop' | 'destroy'; name: string };

test(`kill -9 during the issue's workload (${KILLS} kills, ${BUDGET_MS / 1000} s bound): nothing lost, nothing mixed, node back each time`, async () => {
  // Bundled agent: starts in well under a second, so 200 restarts fit the bound.
  prepareBundledLxcAgent({ bundle, work, network: NET, lxcPath, data, nftTable: TABLE });
  const [wp, wr, pp, pr, ap, ar] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  watcher = await SerfAgent.launch({ name: 'cr-watcher', ip: '127.0.0.1', port: wp, rpcPort: wr, eventHandler: false, encrypt: KEY0, logLevel: 'warn' });
  const rpcAddr = `127.0.0.1:${ar}`;
  const logFile = join(work, 'agent.log');

  const start = (boot: number): ChildProcess => {
    // Each boot's lines are marked, so a finding can be read against the boot that made it.
    appendFileSync(logFile, `=== boot ${boot} (after ${kills} kills) ===\n`);
    const fd = openSync(logFile, 'a');
    const p = spawn(process.execPath, [bundle, 'agent', `-node=${NODE}`, `-bind=127.0.0.1:${ap}`, `-rpc-addr=${rpcAddr}`,
      `-data-dir=${data}`, `-keyring-file=${data}/keyring.json`, `-tags-file=${data}/tags.json`, `-encrypt=${KEY0}`,
      `-snapshot=${data}/serf.snapshot`, `-config-file=${join(work, 'agent.json')}`, '-tag', `boot=${boot}`,
      `-join=127.0.0.1:${wp}`, '-profile=lan'], { cwd: root, stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    return p;
  };

  const m: Model = { round: 0, services: new Set(), primary: KEY0, primaryMaybe: null, containers: new Map(), peerJoined: false };
  const bad: string[] = [];
  const t0 = Date.now();
  let kills = 0;
  let ops = 0;
  let inflight: Op | null = null;
  let logSeen = 0;
  const unanswered: string[] = [];
  const counts: Record<string, number> = {};
  const took: Record<string, number> = {};
  const phases: Record<string, number> = {};
  let phaseAt = Date.now();
  const phase = (name: string): void => { const now = Date.now(); phases[name] = (phases[name] ?? 0) + now - phaseAt; phaseAt = now; };

  /**
   * A fresh peer serf (it left, or it missed a key rotation): the cluster's keys now. After a
   * `keys -use` not every member answered, the live nodes may use either key as primary: the
   * peer then gets both (a keyring file, the newer first), as an operator would hand out.
   */
  const freshPeer = async (): Promise<SerfAgent> => {
    await peer?.dispose();
    let keys: { keyringFile: string } | { encrypt: string } = { encrypt: m.primary };
    if (m.primaryMaybe && m.primaryMaybe !== m.primary) {
      keys = { keyringFile: join(work, 'peer-keyring.json') };
      writeFileSync(keys.keyringFile, JSON.stringify([m.primaryMaybe, m.primary]));
    }
    peer = await SerfAgent.launch({ name: 'cr-peer', ip: '127.0.0.1', port: pp, rpcPort: pr, eventHandler: false, ...keys, logLevel: 'warn' });
    return peer;
  };

  for (let boot = 1; kills < KILLS && Date.now() - t0 < BUDGET_MS; boot++) {
    agent = start(boot);
    const exited = new Promise<void>((r) => agent!.once('exit', () => r()));
    let rpc: RpcClient;
    try {
      rpc = await waitFor('agent RPC', () => RpcClient.connect(rpcAddr, { timeoutMs: 2000 }), 60_000, 100);
      phase('rpc');
      // It came back: the real serf sees this boot alive (same name, a keyring it can gossip with).
      await waitFor(`watcher sees ${NODE} boot ${boot} alive`, async () => {
        const me = await watcher!.member(NODE);
        return me?.status === 'alive' && me.tags.boot === String(boot);
      }, 60_000, 100);
      phase('watcher');
      // Containers plug-in up (it finishes cut creates/destroys before declaring its commands;
      // an unknown command closes the connection, so each try connects anew).
      rpc.close();
      rpc = await waitFor('lxc.list', async () => {
        const c = await RpcClient.connect(rpcAddr, { timeoutMs: 2000 });
        try { await c.call('lxc-list', undefined, 'on-success'); return c; } catch (e) { c.close(); throw e; }
      }, 120_000, 200);
      phase('containers');
    } catch (e) {
      bad.push(`boot ${boot}: ${(e as Error).message}\n${readFileSync(logFile, 'utf8').slice(logSeen).slice(-3000)}`);
      break;
    }

    if (boot > 1) {
      const where = `kill ${kills} (in flight: ${inflight ? JSON.stringify(inflight) : 'nothing'})`;
      const mark = (what: string): void => { bad.push(`${where}: ${what}`); };
      try {
        // Keyring: whole, primary = last acknowledged or the one being made primary.
        const keys = JSON.parse(readFileSync(join(data, 'keyring.json'), 'utf8')) as string[];
        const okPrimary = [m.primary, ...(inflight?.kind === 'use-key' ? [inflight.key] : []), ...(m.primaryMaybe ? [m.primaryMaybe] : [])];
        if (!Array.isArray(keys) || !okPrimary.includes(keys[0]!)) mark(`keyring ${JSON.stringify(keys)}, expected primary ${okPrimary.join(' or ')}`);
        else { m.primary = keys[0]!; m.primaryMaybe = null; }
        // Tags: the acknowledged round or the one in flight, never a mix.
        const tags = JSON.parse(readFileSync(join(data, 'tags.json'), 'utf8')) as Record<string, string>;
        const r = Number(tags.round ?? 0);
        const okRounds = [m.round, ...(inflight?.kind === 'tags' ? [inflight.round] : [])];
        if (!okRounds.includes(r) || (r > 0 && tags.check !== `c${r}`)) mark(`tags ${JSON.stringify(tags)}, expected round ${okRounds.join(' or ')}`);
        else m.round = r;
        // Published services: the acknowledged set, or it with the operation in flight applied.
        const saved = existsSync(join(data, 'discovery/services.json'))
          ? (JSON.parse(readFileSync(join(data, 'discovery/services.json'), 'utf8')) as { services: { type: string; port: number; owner?: string }[] }).services
          : [];
        const user = new Set(saved.filter((s) => (s.owner ?? 'user') === 'user').map((s) => `${s.type}:${s.port}`));
        const after = new Set(m.services);
        if (inflight?.kind === 'publish') after.add(inflight.key);
        if (inflight?.kind === 'unpublish') after.delete(inflight.key);
        const same = (a: Set<string>, c: Set<string>): boolean => a.size === c.size && [...a].every((x) => c.has(x));
        if (!same(user, m.services) && !same(user, after)) mark(`services ${[...user].join(',')}, expected ${[...m.services].join(',')} or ${[...after].join(',')}`);
        else m.services = user;
        // Nothing corrupt: nothing moved aside, no temp file read back.
        const corrupt = (function walk(d: string): string[] {
          return readdirSync(d).flatMap((f) => { const p = join(d, f); return statSync(p).isDirectory() ? walk(p) : f.includes('.corrupt-') ? [p] : []; });
        })(data);
        if (corrupt.length > 0) mark(`moved aside: ${corrupt.join(', ')}`);
        const newLog = readFileSync(logFile, 'utf8').slice(logSeen);
        const alarms = newLog.split('\n').filter((l) => /corrupt|moved it to|not valid JSON|cannot restore/i.test(l));
        if (alarms.length > 0) mark(`log: ${alarms.join(' | ')}`);
        // Containers: LXC and the agent agree, each before or after its operation.
        const list = ((await rpc.call('lxc-list', undefined, 'on-success')) as { Containers?: { Name: string; Managed: boolean; State: string }[] }).Containers ?? [];
        const managed = new Map(list.filter((c) => c.Managed).map((c) => [c.Name, c.State]));
        const inLxc = lxcNames();
        for (const n of inLxc) if (!managed.has(n)) mark(`container ${n} exists in LXC but the agent forgot it`);
        for (const n of managed.keys()) if (!inLxc.includes(n)) mark(`the agent manages ${n}, which LXC does not have`);
        for (const n of CNAMES) {
          const was = m.containers.get(n) ?? 'MISSING';
          const now = inLxc.includes(n) ? lxcState(n) : 'MISSING';
          const ok = [was];
          if (inflight && 'name' in inflight && inflight.name === n) {
            ok.push(inflight.kind === 'create' ? 'STOPPED' : inflight.kind === 'start' ? 'RUNNING' : inflight.kind === 'stop' ? 'STOPPED' : 'MISSING');
            if (inflight.kind === 'destroy') ok.push('STOPPED'); // destroy stops first
          }
          if (!ok.includes(now)) mark(`container ${n} is ${now}, expected ${ok.join(' or ')}`);
          if (now === 'MISSING') m.containers.delete(n); else m.containers.set(n, now === 'RUNNING' ? 'RUNNING' : 'STOPPED');
        }
        // No service announced for a container that is not running (the agent's own tag).
        const self = (await rpc.members()).find((x) => x.name === NODE);
        const recs = decodeServicesTag(self?.tags.services ?? '', 1 << 20) as unknown as { p: string | number; s: string }[];
        for (const rec of recs) {
          const i = Number(rec.p) - 21000;
          if (i < 0 || i >= CNAMES.length) continue;
          if (m.containers.get(CNAMES[i]!) !== 'RUNNING') mark(`service ${rec.s}:${rec.p} announced for ${CNAMES[i]}, which is ${m.containers.get(CNAMES[i]!) ?? 'gone'}`);
        }
      } catch (e) {
        mark(`check failed: ${(e as Error).message}`);
      }
      // What is now true for the peer: ask the watcher.
      m.peerJoined = (await watcher.member('cr-peer'))?.status === 'alive';
    }
    logSeen = statSync(logFile).size;
    inflight = null;
    phase('checks');

    // The workload, killed at a random moment.
    // A few operations run whole, then one is cut at a random moment of its
    // expected duration (learnt from the acknowledged ones), so slow container
    // operations are cut anywhere too, and still finish sometimes.
    let killed = false;
    let timer: NodeJS.Timeout | null = null;
    let opsThisBoot = 0;
    // An operation that never answers is a finding too: after 30 s the agent is killed and it is reported.
    let hung = false;
    const safety = setTimeout(() => { hung = true; killed = true; killGroup(agent); }, 30_000);
    // publish/unpublish answer without a body, the lxc commands with one.
    const call = (verb: string, body: Record<string, unknown>): Promise<unknown> => rpc.call(verb, body as never, verb.startsWith('lxc-') ? 'on-success' : false);
    try {
      while (!killed) {
        const op = pick(m);
        inflight = op;
        const opStart = Date.now();
        if (timer === null && (opsThisBoot >= 3 || Math.random() < 0.4)) {
          const est = counts[op.kind] ? took[op.kind]! / counts[op.kind]! : /create|start|stop|destroy/.test(op.kind) ? 4000 : 800;
          timer = setTimeout(() => { killed = true; killGroup(agent); }, Math.floor(Math.random() * est * 1.3));
        }
        opsThisBoot++;
        switch (op.kind) {
          case 'tags': await rpc.updateTags({ round: String(op.round), check: `c${op.round}` }, []); m.round = op.round; break;
          case 'publish': {
            const [type, port] = op.key.split(':');
            await call('cloudy-publish', { Description: `svc_${type}`, Type: type, Port: Number(port) });
            m.services.add(op.key);
            break;
          }
          case 'unpublish': {
            const [type, port] = op.key.split(':');
            await call('cloudy-unpublish', { Type: type, Port: Number(port) });
            m.services.delete(op.key);
            break;
          }
          case 'install-key': case 'use-key': case 'remove-key': {
            let r = await keyOp(rpc, op.kind, op.key);
            // Re-run as an operator does when a member has not answered (it may be leaving); a few times, bounded.
            for (let again = 0; r === 'unanswered' && again < 6; again++) {
              unanswered.push(`boot ${boot} ${op.kind} (try ${again + 1}): ${await whoAnswers(rpc)}`);
              await sleep(500);
              r = await keyOp(rpc, op.kind, op.key);
            }
            if (r === 'peer-out-of-step') { await peer?.dispose(); peer = null; m.peerJoined = false; }
            if (r === 'unanswered') {
              // Not acknowledged: the step is taken again later (the rotation does not move on), as an operator does
              // when serf says "2/3 nodes reported success". The live nodes may already have it.
              unanswered.push(`boot ${boot} ${op.kind}: still unanswered after 7 tries: ${await whoAnswers(rpc)}`);
              if (op.kind === 'use-key') m.primaryMaybe = op.key;
              break;
            }
            if (op.kind === 'use-key') { m.primary = op.key; m.primaryMaybe = null; }
            rotation!.stage = op.kind === 'install-key' ? 'use' : 'remove';
            if (op.kind === 'remove-key') rotation = null;
            break;
          }
          case 'join': {
            const p = await freshPeer();
            await rpc.join([p.addr], false);
            m.peerJoined = true;
            break;
          }
          case 'leave': await peer?.run(['leave']).catch(() => ''); await peer?.dispose(); peer = null; m.peerJoined = false; break;
          case 'create': {
            const i = CNAMES.indexOf(op.name);
            await call('lxc-create', { Name: op.name, Template: 'busybox', Restart: 'never', ServiceType: 'web', ServicePort: 80, HostPort: 21000 + i });
            m.containers.set(op.name, 'STOPPED');
            break;
          }
          case 'start': await call('lxc-start', { Name: op.name }); m.containers.set(op.name, 'RUNNING'); break;
          case 'stop': await call('lxc-stop', { Name: op.name }); m.containers.set(op.name, 'STOPPED'); break;
          case 'destroy': await call('lxc-destroy', { Name: op.name }); m.containers.delete(op.name); break;
        }
        inflight = null;
        ops++;
        counts[op.kind] = (counts[op.kind] ?? 0) + 1;
        took[op.kind] = (took[op.kind] ?? 0) + Date.now() - opStart;
      }
    } catch (e) {
      // The kill cut this operation (or it failed on its own: then the agent is still running).
      if (!killed) bad.push(`boot ${boot}: ${JSON.stringify(inflight)} failed without a kill: ${(e as Error).message}`);
    }
    if (timer) clearTimeout(timer);
    clearTimeout(safety);
    if (hung) bad.push(`boot ${boot}: ${JSON.stringify(inflight)} did not answer within 30 s`);
    if (inflight) counts[`cut ${inflight.kind}`] = (counts[`cut ${inflight.kind}`] ?? 0) + 1;
    killGroup(agent);
    await exited;
    rpc.close();
    phase('workload+kill');
    kills++;
    // A peer that missed a rotation cannot gossip any more: give it the current key next time it joins.
    if (inflight && (inflight.kind === 'join' || inflight.kind === 'leave')) { await peer?.dispose(); peer = null; }
  }
  console.log(`kill -9 workload: ${kills} kills in ${Math.round((Date.now() - t0) / 1000)} s, ${ops} operations acknowledged ${JSON.stringify(counts)}, ${bad.length} inconsistencies`);
  console.log(`  s spent: ${JSON.stringify(Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v / 1000)])))}`);
  console.log(`  mean ms per operation: ${JSON.stringify(Object.fromEntries(Object.entries(took).map(([k, v]) => [k, Math.round(v / counts[k]!)])))}`);
  for (const l of unanswered) console.log(`  key query not answered by every member (not an inconsistency, see keyOp): ${l}`);
  for (const l of bad.slice(0, 20)) console.log(`  ${l}`);
  if (bad.length > 0 || process.env.CR_KEEP) {
    // The agent's log (every boot marked) and the findings, for reading after the run.
    const dir = join(root, 'test-artifacts', 'kill9-workload', new Date().toISOString().replace(/:/g, '-'));
    mkdirSync(dir, { recursive: true });
    copyFileSync(logFile, join(dir, 'agent.log'));
    writeFileSync(join(dir, 'findings.txt'), `${bad.join('\n\n')}\n\nunanswered key queries:\n${unanswered.join('\n')}\n`);
    console.log(`  agent log and findings kept in ${dir}`);
  }
  assert.ok(kills >= Math.min(KILLS, 3), `only ${kills} kills in the time bound`);
  assert.ok((counts.create ?? 0) + (counts.start ?? 0) > 0, 'no container operation ran');
  assert.equal(bad, []);

  function pick(s: Model): Op {
    if (Math.random() * 100 < CONTAINER_PCT) {
      const n = CNAMES[Math.floor(Math.random() * CNAMES.length)]!;
      const st = s.containers.get(n);
      if (!st) return { kind: 'create', name: n };
      if (st === 'STOPPED') return Math.random() < 0.6 ? { kind: 'start', name: n } : { kind: 'destroy', name: n };
      return Math.random() < 0.6 ? { kind: 'stop', name: n } : { kind: 'destroy', name: n };
    }
    const r = Math.random();
    if (r < 0.3) return { kind: 'tags', round: s.round + 1 };
    if (r < 0.6) {
      const key = `svc${Math.floor(Math.random() * 4)}:${20000 + Math.floor(Math.random() * 4)}`;
      return s.services.has(key) ? { kind: 'unpublish', key } : { kind: 'publish', key };
    }
    if (r < 0.85) return rotationStep(s);
    return s.peerJoined ? { kind: 'leave' } : { kind: 'join' };
  }
});

/** The key rotation under way: install a new key, make it primary, remove the old one (a cut step is done again). */
let rotation: { key: string; old: string; stage: 'install' | 'use' | 'remove' } | null = null;
function rotationStep(s: Model): Op {
  rotation ??= { key: randomBytes(32).toString('base64'), old: s.primary, stage: 'install' };
  if (rotation.stage === 'install') return { kind: 'install-key', key: rotation.key };
  if (rotation.stage === 'use') return { kind: 'use-key', key: rotation.key };
  return { kind: 'remove-key', key: rotation.old };
}

/**
 * A key operation answered. Not counted as failures of the agent:
 *  - errors from the serf peer only: it may have missed a step while it was away;
 *  - no error at all but fewer answers than members ("2/3 nodes reported success"):
 *    serf counts every member not yet declared dead, so a peer killed a moment ago
 *    (the workload kills it without a leave) is asked and never answers; real serf
 *    answers the same. The issue asks that each node's keyring be the state before or
 *    after the operation and that the node can still gossip - both checked after every
 *    restart (keyring file, watcher sees the node alive) - not that a cluster-wide query
 *    reaches a member that is gone. The step is then taken again, as an operator would.
 */
async function keyOp(rpc: RpcClient, op: 'install-key' | 'use-key' | 'remove-key', key: string): Promise<'ok' | 'peer-out-of-step' | 'unanswered'> {
  try {
    await rpc.keyOp(op, key);
    return 'ok';
  } catch (e) {
    const body = (e as { body?: { messages?: Record<string, string>; numErr?: number; numResp?: number; numNodes?: number } }).body;
    const msgs = body?.messages;
    if (msgs && Object.keys(msgs).length > 0 && Object.keys(msgs).every((n) => n === 'cr-peer')) return 'peer-out-of-step';
    if (body && body.numErr === 0 && (body.numResp ?? 0) < (body.numNodes ?? 0)) return 'unanswered';
    // Anything else is a finding: keep who answered what (the node names and their errors) for the record.
    if (body && e instanceof Error) e.message += ` ${JSON.stringify({ messages: msgs ?? {}, numErr: body.numErr, numResp: body.numResp, numNodes: body.numNodes })}`;
    throw e;
  }
}

/** The members the agent counts, for the record of an unanswered key query. */
async function whoAnswers(rpc: RpcClient): Promise<string> {
  try {
    return (await rpc.members()).map((x) => `${x.name}=${x.status}`).join(' ');
  } catch (e) {
    return `members: ${(e as Error).message}`;
  }
}

test.run();
