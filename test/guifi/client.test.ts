// The API client against the stand-in over real HTTP: every guifi.net error
// code as a typed error, the token's life (one per user, 12 h), and replies
// that are not guifi.net's format.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects, world, USER, PASSWORD, MAC_A, type World } from './helpers.ts';
import { GuifiApiError, isGuifiError, isTokenRefused, isNickInUse, isTransient } from '../../agent/guifi/errors.ts';
import { isAgentError } from '../../agent/errors.ts';
import { TOKEN_LIFETIME_MS } from './stand-in.ts';

let w: World;
test.before(async () => { w = await world(); });
test.after(async () => { await w.close(); });

test('login gives a token sent as "GuifiLogin auth=" on later calls', async () => {
  const c = w.client();
  const token = await c.login(USER, PASSWORD);
  assert.is(token, w.server.tokenOf(USER));
  assert.ok(Buffer.from(token, 'base64').toString().split(':').length === 3, 'base64 of uid:hash:time');
  const id = await c.addDevice({ nodeId: w.nodeId, mac: MAC_A, nick: 'client-test-1' });
  assert.ok(id > 0);
  assert.is(w.server.devices.get(id)!.status, 'Testing');
  assert.is(w.server.devices.get(id)!.type, 'cloudy');
});

test('every guifi.net error code comes out as a GuifiApiError with that code', async () => {
  const c = w.client();
  await c.login(USER, PASSWORD);
  const cases: [number, Promise<unknown>, string][] = [
    [400, c.call('guifi.nonsense.thing', {}), 'E_UNAVAILABLE'],
    [401, c.call('guifi.zone.add', {}), 'E_UNAVAILABLE'],
    [402, c.call('guifi.device.add', { type: 'cloudy' }), 'E_INVALID'],
    [403, c.addDevice({ nodeId: w.nodeId, mac: MAC_A, nick: 'client-test-1' }), 'E_INVALID'],
    [404, c.addLink(w.routerId, w.routerId), 'E_AUTH'],
    [500, c.addDevice({ nodeId: 987654, mac: MAC_A, nick: 'nowhere' }), 'E_NOT_FOUND'],
    [502, w.client({ token: 'bm90LWEtdG9rZW4=' }).clearCnml(), 'E_AUTH'],
  ];
  // Every call is already in flight: catch each now, or one that fails while an earlier one is awaited is an unhandled rejection.
  const caught = cases.map(([code, p, agentCode]) => [code, rejects(p), agentCode] as const);
  for (const [code, p, agentCode] of caught) {
    const e = await p;
    assert.ok(isGuifiError(e, code), `code ${code}: ${String(e)}`);
    assert.is((e as GuifiApiError).code, agentCode, `AgentError code for ${code}`);
    assert.not.ok(isTransient(e));
  }
  const missing = await rejects(c.call('guifi.device.add', { type: 'cloudy' })) as GuifiApiError;
  assert.is(missing.field, 'node_id', '402 names the missing field');
  assert.match(missing.message, /missing field "node_id"/);
  const nick = await rejects(c.addDevice({ nodeId: w.nodeId, mac: MAC_A, nick: 'client-test-1' })) as GuifiApiError;
  assert.is(nick.serverText, 'nick already in use', "403 carries the server's text");
  assert.ok(isNickInUse(nick));
  // 501: bob may not add devices to alice's node.
  const bob = w.client();
  await bob.login('bob', 'bobpw');
  assert.ok(isGuifiError(await rejects(bob.addDevice({ nodeId: w.nodeId, mac: MAC_A, nick: 'bobs' })), 501));
  const badLogin = await rejects(w.client().login(USER, 'wrong')) as GuifiApiError;
  assert.is(badLogin.guifiCode, 403);
  assert.match(badLogin.serverText, /username or password are not correct/);
});

test('tokens: one per user (a new login retires the old one), purged after 12 h; no token at all is 502 too', async () => {
  const first = w.client();
  await first.login(USER, PASSWORD);
  await first.clearCnml();
  const second = w.client();
  await second.login(USER, PASSWORD);
  assert.ok(isTokenRefused(await rejects(first.clearCnml())), 'the first token stopped working');
  await second.clearCnml();
  w.server.advance(TOKEN_LIFETIME_MS - 1000);
  await second.clearCnml();
  w.server.advance(2000);
  assert.ok(isTokenRefused(await rejects(second.clearCnml())), 'purged after 12 h');
  const callsBefore = w.server.calls.length;
  assert.ok(isTokenRefused(await rejects(w.client().addDevice({ nodeId: w.nodeId, mac: MAC_A, nick: 'x' }))));
  assert.is(w.server.calls.length, callsBefore, 'no request sent without a token');
});

test('replies that are not guifi.net JSON: clear E_DECODE naming the command; HTTP errors, stalls and huge replies too', async () => {
  const c = w.client({ timeoutMs: 500 });
  await c.login(USER, PASSWORD);
  const kinds = [['malformed-json', 'E_DECODE', /guifi\.cnml\.clear: malformed reply: reply is not JSON/], ['html', 'E_DECODE', /not JSON.*maintenance/], ['empty', 'E_DECODE', /not JSON/],
    ['http-500', 'E_UNAVAILABLE', /HTTP 500/], ['stall', 'E_TIMEOUT', /no complete reply/]] as const;
  for (const [kind, code, re] of kinds) {
    w.server.faults = [{ what: 'guifi.cnml.clear', kind, times: 1 }];
    const e = await rejects(c.clearCnml());
    assert.ok(isAgentError(e, code), `${kind}: ${String(e)}`);
    assert.match((e as Error).message, re);
    assert.ok(isTransient(e), `${kind} is worth a retry`);
  }
  await c.clearCnml();
  const small = w.client({ maxReplyBytes: 200 });
  assert.ok(isAgentError(await rejects(small.readNode(w.nodeId)), 'E_TOO_LARGE'));
  w.server.faults = [{ what: 'cnml', kind: 'truncated-xml', times: 1 }];
  const bad = await rejects(c.readNode(w.nodeId));
  assert.ok(isAgentError(bad, 'E_DECODE'));
  assert.match((bad as Error).message, /not well-formed XML/);
});

test('a reply with the right shape but wrong content is refused', async () => {
  const { createServer } = await import('node:http');
  const replies = [
    '{"command":"guifi.auth.login","code":{"code":200},"responses":{}}',
    '{"command":"guifi.auth.login","code":{"code":200},"responses":{"authToken":"has spaces in it"}}',
    '{"command":"guifi.device.add","code":{"code":200},"responses":{"authToken":"dG9rZW4tdG9rZW4="}}',
    '{"command":"guifi.auth.login","code":{"code":201},"errors":[]}',
    '{"command":"guifi.auth.login","code":"ok"}',
    '[1,2,3]',
  ];
  let i = 0;
  const srv = createServer((_q, r) => { r.writeHead(200, { 'content-type': 'text/html' }).end(replies[i++]); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const { GuifiClient } = await import('../../agent/guifi/client.ts');
  const c = new GuifiClient({ apiUrl: `http://127.0.0.1:${port}/api`, timeoutMs: 5000, maxReplyBytes: 1 << 20 });
  for (let k = 0; k < replies.length; k++) {
    const e = await rejects(c.login('u', 'p'));
    assert.ok(isAgentError(e, 'E_DECODE'), `reply ${k}: ${String(e)}`);
    assert.is(c.token, undefined);
  }
  srv.close();
});

test.run();
