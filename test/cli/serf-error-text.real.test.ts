// Issue 13 point 2: where we answer serf's RPC verbs, the error text is the
// real serf 0.9.4's byte for byte. The same serf CLI command goes to a real
// `serf agent` and to our agent; their outputs must be identical.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startDaemon, type DaemonHandle } from '../../agent/daemon.ts';
import { defaultAgentConfig } from '../../agent/config/agent-config.ts';
import { Logger } from '../../agent/obs/log.ts';
import { serfCliAsync, startSerfAgent, type SerfAgent } from './helpers.ts';
import { freePort } from '../support/net.ts';

const IP_REAL = '127.0.25.21';
const IP_OURS = '127.0.25.22';
let real: SerfAgent | null = null;
let ours: DaemonHandle | null = null;
let rpcReal = '';
let rpcOurs = '';


test.before(async () => {
  const [gr, rr, go, ro] = [await freePort(IP_REAL), await freePort(IP_REAL), await freePort(IP_OURS), await freePort(IP_OURS)];
  real = await startSerfAgent({ name: 'fd-real', bind: `${IP_REAL}:${gr}`, rpc: `${IP_REAL}:${rr}` });
  ours = await startDaemon({ ...defaultAgentConfig(), nodeName: 'fd-ours', bind: `${IP_OURS}:${go}`, rpcAddr: `${IP_OURS}:${ro}`, profile: 'lan', plugins: [] },
    { logger: Logger.silent() });
  rpcReal = `-rpc-addr=${IP_REAL}:${rr}`;
  rpcOurs = `-rpc-addr=${IP_OURS}:${ro}`;
});

test.after(async () => {
  try { await ours?.stop(); } catch { /* ignore */ }
  await real?.stop();
});

const CASES: Record<string, string[]> = {
  'tags over 512 bytes': ['tags', '-set', `x=${'a'.repeat(600)}`],
  'event over 512 bytes before encoding': ['event', 'ev', 'b'.repeat(600)],
  'event over 512 bytes after encoding': ['event', 'ev', 'b'.repeat(505)],
  'query over 1024 bytes': ['query', '-timeout=1s', 'q', 'c'.repeat(1100)],
};

for (const [name, args] of Object.entries(CASES)) {
  test(`${name}: the same answer as serf 0.9.4`, async () => {
    const r = await serfCliAsync([args[0]!, rpcReal, ...args.slice(1)]);
    const o = await serfCliAsync([args[0]!, rpcOurs, ...args.slice(1)]);
    assert.is.not(r.code, 0, `real serf refuses: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, /exceeds/);
    assert.is(o.stdout + o.stderr, r.stdout + r.stderr);
    assert.is(o.code, r.code);
  });
}

test.run();
