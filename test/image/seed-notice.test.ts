// A box whose first-boot seed was malformed says so on the page its owner opens
// first: the edge management proxy's own page (no full node reachable) leads
// with the seed's error, escaped; with no notice there is no notice block.
// (The flashed image shows it for real in raw-image.real.test.ts.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { ManagementProxy } from '../../agent/api/proxy.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { Logger } from '../../agent/obs/log.ts';

const me = { name: 'edge-1', addr: '127.0.0.1', port: 5000, tags: {}, status: 'alive' };
const serf = { localMember: () => me, members: () => [me], getCoordinate: () => null } as unknown as ConstructorParameters<typeof ManagementProxy>[0]['serf'];
const LIMITS = { proxyConcurrent: 4, proxyMaxBodyBytes: 1024, proxyTimeoutMs: 3000 };
const logger = Logger.root({ level: 'ERR', write: () => {} });

async function page(notices?: () => string[]): Promise<{ status: number; body: string }> {
  const p = new ManagementProxy({ serf, limits: LIMITS, logger, counters: new Counters(), ...(notices ? { notices } : {}) });
  const a = await p.listen('127.0.0.1', 0);
  try {
    return await new Promise((resolve, reject) => {
      request(`http://127.0.0.1:${a.port}/?node=edge-1`, (res) => {
        let b = '';
        res.on('data', (d) => { b += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      }).on('error', reject).end();
    });
  } finally { await p.close(); }
}

test('the fallback page leads with the seed error, escaped', async () => {
  const r = await page(() => ['cloudy.conf is malformed, booted with defaults:\ncloudy.conf line 2 (mode): expected edge or full, got "<turbo>"']);
  assert.is(r.status, 503);
  assert.match(r.body, /<pre class="notice">cloudy\.conf is malformed, booted with defaults:\ncloudy\.conf line 2 \(mode\): expected edge or full, got &#34;&#60;turbo&#62;&#34;<\/pre>/);
  assert.ok(r.body.indexOf('id="notices"') < r.body.indexOf('id="no-full-node"'), 'the notice comes first');
});

test('without notices the page has no notice block', async () => {
  const r = await page();
  assert.is(r.status, 503);
  assert.not.match(r.body, /notices/);
  assert.match(r.body, /No full node reachable/);
});

test.run();
