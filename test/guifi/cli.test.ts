// The `guifi` CLI verbs in-process against the stand-in: the command is the one
// in the executable's command list; the password comes from the reader the
// command asks (stdin in the executable), or a file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { world, USER, PASSWORD, MAC_A, type World } from './helpers.ts';
import { makeGuifiCommand } from '../../agent/guifi/cli.ts';
import { findCommand } from '../../agent/cli/index.ts';
import { TOKEN_LIFETIME_MS } from './stand-in.ts';
import { communityMac } from '../../agent/guifi/host.ts';
import { isAgentError } from '../../agent/errors.ts';

let w: World;
test.before(async () => { w = await world(); });
test.after(async () => { await w.close(); });

interface Out { code: number; out: string; err: string; asked: string[] }

async function run(args: string[], answers: (string | null)[] = []): Promise<Out> {
  const asked: string[] = [];
  const cmd = makeGuifiCommand({
    readPassword: async (prompt) => { asked.push(prompt); return answers.length ? answers.shift()! : null; },
    hostMac: async () => MAC_A,
  });
  let out = '';
  let err = '';
  const code = await cmd.run([...args, '-api', w.server.apiUrl], { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { code, out, err, asked };
}

test('the guifi command is in the executable', () => {
  assert.ok(findCommand('guifi'));
});

test('login, register, status (text and json), service-add; flags anywhere; -data-dir honoured', async () => {
  const dir = w.tmp();
  const login = await run(['login', '-user', USER, '-data-dir', dir], [PASSWORD]);
  assert.is(login.code, 0, login.err);
  assert.equal(login.asked, ['guifi.net password for alice: ']);
  assert.match(login.out, /Logged in to guifi.net as alice; token saved in .*guifi.conf/);
  const reg = await run(['register', '-data-dir', dir, '-node-id', String(w.nodeId), '-email', 'alice@example.net', '-comment', 'by hand']);
  assert.is(reg.code, 0, reg.err);
  assert.match(reg.out, /guifi.net node \d+ "Plaça Catalunya 12"\ndevice \d+ "Placa-Catalunya-12-Cloudy" \(MAC AA:BB:CC:00:00:01\), IPv4 10\.139\.40\.\d+\/255\.255\.255\.224\nadded: device, link\n/);
  assert.match(reg.err, /==> adding cloudy device/);
  const again = await run(['register', '-data-dir', dir]);
  assert.match(again.out, /already registered: nothing added/, 'NODEID comes from the state');
  const st = await run(['status', '-format', 'json', '-data-dir', dir]);
  const j = JSON.parse(st.out) as { registered: boolean; nodeName: string; device: { ipv4: { address: string }[]; services: string[] } };
  assert.equal([j.registered, j.nodeName, j.device.services], [true, 'Plaça Catalunya 12', []]);
  assert.is((await run(['service-add', '-type', 'SNPgraphs', '-data-dir', dir])).out, 'service SNPgraphs declared\n');
  assert.is((await run(['service-add', '-data-dir', dir, '-type', 'SNPgraphs'])).out, 'service SNPgraphs was already declared\n');
  const text = await run(['status', '-data-dir', dir]);
  assert.match(text.out, /Services:   SNPgraphs\nRegistered: yes/);
  assert.not.ok(readFileSync(join(dir, 'guifi.conf'), 'utf8').includes(PASSWORD));
});

test('a refused token (502) asks for the password once and goes on; no password -> clear error; a file works too', async () => {
  const dir = w.tmp();
  assert.is((await run(['login', '-user', USER, '-data-dir', dir], [PASSWORD])).code, 0);
  w.server.advance(TOKEN_LIFETIME_MS + 1);
  const none = await run(['register', '-node-id', String(w.nodeId), '-data-dir', dir], [null]);
  assert.is(none.code, 1);
  assert.match(none.err, /^Error: E_AUTH: guifi register: guifi.net guifi.cnml.clear: invalid token/m);
  assert.is(none.asked.length, 1);
  const ok = await run(['register', '-node-id', String(w.nodeId), '-data-dir', dir], [PASSWORD]);
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.err, /refused the saved token .* logging in again as alice/);
  assert.is(ok.asked.length, 1);
  w.server.advance(TOKEN_LIFETIME_MS + 1);
  const wrong = await run(['unregister', '-data-dir', dir], ['wrong', PASSWORD]);
  assert.is(wrong.code, 1);
  assert.is(wrong.asked.length, 1, 'asked once, no loop');
  assert.match(wrong.err, /username or password are not correct/);
  const pw = join(dir, 'pw');
  writeFileSync(pw, `${PASSWORD}\n`);
  const file = await run(['unregister', '-data-dir', dir, '-password-file', pw]);
  assert.is(file.code, 0, file.err);
  assert.equal(file.asked, []);
});

test('bad usage: one line on stderr, status 1, nothing sent', async () => {
  const dir = w.tmp();
  const calls = w.server.calls.length;
  const cases: [string[], RegExp][] = [
    [['register', '-data-dir', dir, '-node-id', '5'], /E_AUTH: guifi register: not logged in/],
    [['register', '-data-dir', dir], /-node-id is required/],
    [['register', '-data-dir', dir, '-node-id', '5', '-mac', 'nope'], /-mac "nope" is not a MAC/],
    [['service-add', '-data-dir', dir, '-type', 'FTP'], /-type must be one of SNPgraphs, DNS, Proxy/],
    [['status', '-data-dir', dir, '-format', 'xml'], /-format must be text or json/],
    [['login', '-data-dir', dir], /-user is required/],
    [['login', '-user', USER, '-data-dir', dir, 'extra'], /unexpected argument: extra/],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.err, re);
    assert.is(r.err.trim().split('\n').length, 1);
    assert.match(r.err, /^Error: /);
  }
  // The scaffold's own usage mistakes, as for every verb (cli-kit/rpc-command.ts): named on the first line.
  const unknown = await run(['frobnicate']);
  assert.is(unknown.code, 1);
  assert.match(unknown.err, /^Unknown guifi subcommand: frobnicate\nUsage: cloudy-agent guifi/);
  const bogus = await run(['login', '-user', USER, '-data-dir', dir, '-bogus']);
  assert.is(bogus.code, 1);
  assert.is(bogus.err, 'flag provided but not defined: -bogus\n');
  assert.is(w.server.calls.length, calls);
  const st = await run(['status', '-data-dir', dir]);
  assert.match(st.out, /User:       - \(not logged in\)[\s\S]*Registered: no/);
});

test('the community MAC: an interface without one (loopback) is a clear error naming -mac', async () => {
  const e = await communityMac({ iface: 'lo' }).catch((x: unknown) => x);
  assert.ok(isAgentError(e, 'E_UNAVAILABLE'));
  assert.match((e as Error).message, /no MAC address on the community interface lo; give one with -mac/);
  const byIp = await communityMac({ ip: '127.0.0.1' }).catch((x: unknown) => x);
  assert.ok(isAgentError(byIp, 'E_UNAVAILABLE'));
});

test.run();
