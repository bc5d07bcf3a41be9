// Our CLI client against REAL serf agents: every subcommand must print what
// the Debian `serf` CLI prints for the same agent and arguments (modulo Go map
// order and timing-dependent values) and exit with the same status.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ours, serfCli, serfCliAsync, serfCliProc, sortTagsInMembers, startSerfAgent, type SerfAgent } from './helpers.ts';
import { waitFor, sleep } from '../support/wait.ts';

const K1 = 'AAECAwQFBgcICQoLDA0ODw==';
const K2 = 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=';
const A = { name: 'v1', bind: '127.0.4.10:19101', rpc: '127.0.4.10:19111' };
const B = { name: 'v2', bind: '127.0.4.11:19102', rpc: '127.0.4.11:19112' };
const C = { name: 'v3', bind: '127.0.4.12:19103', rpc: '127.0.4.12:19113' };
const rpcA = `-rpc-addr=${A.rpc}`;
const agents: SerfAgent[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'cli-vs-serf-'));

test.before(async () => {
  const handler = 'query:whoami=echo resp-from-$SERF_SELF_NAME';
  agents.push(await startSerfAgent({ ...A, tags: { role: 'web', dc: 'east' }, encrypt: K1, handlers: [handler] }));
  agents.push(await startSerfAgent({ ...B, tags: { role: 'db' }, encrypt: K1, handlers: [handler], join: A.bind }));
  await waitFor('two alive members', () => serfCli(['members', rpcA, '-status=alive']).stdout.trim().split('\n').length === 2);
});

test.after(async () => {
  for (const a of agents) await a.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** serf lists members in Go map order (random): sort the lines. */
// (Lines end-trimmed: only the last line of serf's output loses its trailing glue.)
const sortLines = (s: string) => s.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '').sort().join('\n');
/** Per-node failure lines of `keys` come in Go map order: sort them. */
const sortFailed = (s: string) => {
  const l = s.split('\n');
  const f = l.filter((x) => x.startsWith('failed:')).sort();
  let i = 0;
  return l.map((x) => (x.startsWith('failed:') ? f[i++]! : x)).join('\n');
};
const membersNorm = (s: string) => sortLines(sortTagsInMembers(s));
/** members -format json, members sorted by name (Go map order otherwise). */
const membersJsonNorm = (s: string) => {
  if (!s.trim().startsWith('{')) return s;
  const v = JSON.parse(s) as { members: { name: string }[] | null };
  v.members?.sort((a, b) => a.name.localeCompare(b.name));
  return JSON.stringify(v, null, 2);
};

async function same(args: string[], normalize: (s: string) => string = (s) => s): Promise<void> {
  // Usage texts are worded by us: compare everything up to them.
  const cut = (r: { code: number; stdout: string; stderr: string }) => {
    const i = r.stdout.search(/^Usage: /m);
    return i < 0 ? r : { ...r, stdout: r.stdout.slice(0, i) + '<usage>' };
  };
  const theirs = cut(serfCli(args));
  const mine = cut(await ours(args));
  assert.is(mine.code, theirs.code, `exit code of ${args.join(' ')}\nserf stderr: ${theirs.stderr}\nour stderr: ${mine.stderr}`);
  assert.is(normalize(mine.stdout), normalize(theirs.stdout), `stdout of ${args.join(' ')}`);
  assert.is(normalize(mine.stderr), normalize(theirs.stderr), `stderr of ${args.join(' ')}`);
}

test('members (text, detailed, filters)', async () => {
  await same(['members', rpcA], membersNorm);
  await same(['members', rpcA, '-status=alive', '-tag', 'role=web'], membersNorm);
  await same(['members', rpcA, '-name=v2'], membersNorm);
  await same(['members', rpcA, '-name=nomatch']);
  await same(['members', rpcA, '-tag', 'role=w.*'], membersNorm);
  // -detailed: tags sit mid-line; compare per line with the tag field sorted.
  const norm = (s: string) => s.split('\n').map((l) => l.replace(/(\s)(\S+=[^|\s]*(?:,\S+=[^|\s]*)*)(\s+Protocol)/, (_m, a: string, t: string, b: string) => a + t.split(',').sort().join(',') + b)).join('\n');
  await same(['members', rpcA, '-detailed'], (s) => sortLines(norm(s)));
});

test('members -format json (byte-identical)', async () => {
  await same(['members', rpcA, '-format', 'json'], membersJsonNorm);
  await same(['members', rpcA, '-format=json', '-name=none']);
  // Per-member blocks are byte-identical (same indentation, key order, escaping).
  const blocks = (s: string) => (s.match(/\n    \{\n[\s\S]*?\n    \}/g) ?? []).sort();
  const t = serfCli(['members', rpcA, '-format=json']).stdout;
  const m = (await ours(['members', rpcA, '-format=json'])).stdout;
  assert.is(blocks(t).length, 2);
  assert.equal(blocks(m), blocks(t));
});

test('members: bad format, bad tag filter', async () => {
  await same(['members', rpcA, '-format=xml']);
  await same(['members', rpcA, '-tag', 'novalue']);
});

test('tags -set / -delete', async () => {
  await same(['tags', rpcA, '-set', 'foo=bar']);
  await waitFor('tag visible', () => serfCli(['members', rpcA, '-tag', 'foo=bar']).stdout.includes('v1'));
  await same(['members', rpcA], membersNorm);
  await same(['tags', rpcA, '-delete', 'foo']);
  // No flags: usage on stdout and status 1 (the usage text itself is ours).
  const t = serfCli(['tags', rpcA]);
  const m = await ours(['tags', rpcA]);
  assert.is(m.code, t.code);
  assert.ok(m.stdout.startsWith('Usage:') && t.stdout.startsWith('Usage:'));
});

test('event', async () => {
  await same(['event', rpcA, 'deploy', 'payload-v1']);
  await same(['event', rpcA, '-coalesce=false', 'restart']);
  await same(['event', rpcA, 'big', 'x'.repeat(600)]);
});

// One query at a time: serf's Query() stamps a query with queryClock.Time() and the
// clock only moves on in the local handleQuery(), so two queries entering agent v1
// within microseconds share an LTime; registerQueryResponse() keys by LTime, the
// second replaces the first, and the first gets no acks or responses
// ("query reply ID mismatch" in v1's log).
const inTurn = async (args: string[]) => { const t = await serfCliAsync(args); return [t, await ours(args)] as const; };

test('query (text and json)', async () => {
  const args = ['query', rpcA, '-timeout=3s', 'whoami', 'p'];
  const [theirs, mine] = await inTurn(args);
  assert.is(mine.code, theirs.code);
  const sortBody = (s: string) => {
    const lines = s.trim().split('\n');
    return [lines[0], ...lines.slice(1, -2).sort(), ...lines.slice(-2)].join('\n');
  };
  assert.is(sortBody(mine.stdout), sortBody(theirs.stdout));
  assert.ok(mine.stdout.includes("Response from 'v2': resp-from-v2"), mine.stdout);

  const jargs = ['query', rpcA, '-format=json', '-timeout=2s', '-node=v2', 'whoami'];
  const [tj, mj] = await inTurn(jargs);
  assert.is(mj.code, tj.code);
  assert.is(mj.stdout, tj.stdout);

  const nargs = ['query', rpcA, '-no-ack', '-timeout=2s', '-tag', 'role=db', 'whoami'];
  const [tn, mn] = await inTurn(nargs);
  assert.is(mn.stdout, tn.stdout);
  await same(['query', rpcA, '-relay-factor=300', 'x']);
  await same(['query', rpcA]);
});

test('info (same sections and keys)', async () => {
  const shape = (s: string) => s.split('\n').map((l) => l.replace(/ = .*$/, ' = X')).join('\n');
  await same(['info', rpcA], shape);
  const t = JSON.parse(serfCli(['info', rpcA, '-format=json']).stdout) as Record<string, Record<string, string>>;
  const m = JSON.parse((await ours(['info', rpcA, '-format=json'])).stdout) as Record<string, Record<string, string>>;
  assert.equal(Object.keys(m), Object.keys(t));
  assert.equal(m.agent, t.agent);
  assert.equal(m.tags, t.tags);
});

test('rtt', async () => {
  await waitFor('coordinates', async () => (await ours(['rtt', rpcA, 'v1', 'v2'])).code === 0, 15_000);
  const t = serfCli(['rtt', rpcA, 'v1', 'v2']);
  const m = await ours(['rtt', rpcA, 'v1', 'v2']);
  assert.is(m.code, t.code);
  const re = /^Estimated v1 <-> v2 rtt: \d+\.\d{3} ms\n$/;
  assert.match(t.stdout, re);
  assert.match(m.stdout, re);
  await same(['rtt', rpcA, 'nosuchnode']);
  await same(['rtt', rpcA]);
});

test('keys -list / -install / -use / -remove', async () => {
  await same(['keys', rpcA, '-list']);
  await same(['keys', rpcA, '-install', K2]);
  const sortKeys = (s: string) => { const l = s.split('\n'); return [...l.slice(0, 3), ...l.slice(3).sort()].join('\n'); };
  await same(['keys', rpcA, '-list'], sortKeys);
  await same(['keys', rpcA, '-use', K2]);
  await same(['keys', rpcA, '-remove', K1]);
  await same(['keys', rpcA, '-list']);
  await same(['keys', rpcA, '-remove', K2], sortFailed); // the primary key: every node refuses
  await same(['keys', rpcA, '-install', 'not-base64!']);
  await same(['keys', rpcA, '-list', '-install', K1]);
});

test('join', async () => {
  agents.push(await startSerfAgent({ ...C, encrypt: K2, rpcAuth: 'tok' }));
  await same(['join', rpcA, '127.0.4.12:19103']);
  await same(['join', rpcA, '127.0.4.99:1'], (s) => s.replace(/\d+\.\d+s/g, 'T'));
  await same(['join', rpcA]);
});

test('-rpc-auth and SERF_RPC_ADDR / SERF_RPC_AUTH environment', async () => {
  const rpcC = `-rpc-addr=${C.rpc}`;
  await same(['members', rpcC, '-rpc-auth=tok'], membersNorm);
  await same(['members', rpcC, '-rpc-auth=wrong']);
  await same(['members', rpcC]); // no token: the agent answers "Authentication required"
  const env = { SERF_RPC_ADDR: C.rpc, SERF_RPC_AUTH: 'tok' };
  const t = serfCli(['members'], env);
  const m = await ours(['members'], { env });
  assert.is(m.code, 0, m.stdout);
  assert.is(membersNorm(m.stdout), membersNorm(t.stdout));
});

test('monitor: same replayed log lines, exit 0 on interrupt', async () => {
  const ac = new AbortController();
  const run = ours(['monitor', rpcA, '-log-level=info'], { signal: ac.signal });
  const theirs = serfCliProc(['monitor', rpcA, '-log-level=info']);
  await sleep(2000);
  ac.abort();
  theirs.interrupt();
  const [mine, t] = await Promise.all([run, theirs.done]);
  assert.is(mine.code, 0);
  assert.is(t.code, 0);
  // The replayed log ring is the same for both clients (up to the first line about a client connecting).
  // The replayed log ring is the same for both clients; lines about RPC clients differ (ports).
  const lines = (s: string) => s.split('\n').filter((x) => x !== '' && !x.includes('agent.ipc'));
  const n = Math.min(8, lines(t.stdout).length);
  assert.ok(n >= 3, t.stdout.slice(0, 300));
  assert.equal(lines(mine.stdout).slice(0, n), lines(t.stdout).slice(0, n));
});

test('errors: connection refused, bad flag, force-leave', async () => {
  await same(['members', '-rpc-addr=127.0.4.13:19199']);
  await same(['info', '-rpc-addr=127.0.4.13:19199']);
  await same(['force-leave', rpcA, 'nonexistent']);
  await same(['force-leave', rpcA]);
  const bad = await ours(['members', '-bogus']);
  assert.is(bad.code, 1);
  assert.is(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /-bogus/);
  assert.is(serfCli(['members', '-bogus']).code, 1);
});

test('leave', async () => {
  const b = agents[1]!;
  const mine = await ours(['leave', `-rpc-addr=${B.rpc}`]);
  assert.is(mine.code, 0, mine.stderr);
  assert.is(mine.stdout, 'Graceful leave complete\n');
  await waitFor('serf agent exit after leave', () => b.proc === null || b.proc.exitCode !== null);
  await same(['leave', `-rpc-addr=${B.rpc}`]);
});

test.run();
