// The guifi part of the agent's configuration: the config file's `guifi`
// object, the -guifi-* flags, and the first-boot seed's guifi_* keys landing
// there; secrets re-read from their files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromJson } from '../../agent/config/config-file.ts';
import { configFromArgv } from '../../agent/cli/commands/agent.ts';
import { currentSecrets, defaultGuifiSettings } from '../../agent/config/guifi-settings.ts';
import { agentConfigJson, parseSeed } from '../../agent/config/seed.ts';
import { guifiSettingsOf } from '../../agent/guifi/plugin.ts';
import { isAgentError } from '../../agent/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'gf-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('config file: the guifi object, every key; unknown keys and bad values name the key', () => {
  const l = configFromJson({ guifi: {
    api: 'http://127.0.0.1:1/api', node_id: 12, user: 'u', password: 'p', password_file: '/pw', token: 't', token_file: '/tk',
    device_name: 'My-Box', link_device: '34', email: 'a@b', comment: 'c', mac: 'aa:bb:cc:dd:ee:ff', declare_services: false,
  } });
  assert.equal(l.guifi, {
    api: 'http://127.0.0.1:1/api', nodeId: 12, user: 'u', password: 'p', passwordFile: '/pw', token: 't', tokenFile: '/tk',
    deviceName: 'My-Box', linkDevice: 34, email: 'a@b', comment: 'c', mac: 'aa:bb:cc:dd:ee:ff', declareServices: false,
  });
  const err = (v: unknown): string => { try { configFromJson({ guifi: v }); return ''; } catch (e) { assert.ok(isAgentError(e, 'E_CONFIG')); return (e as Error).message; } };
  assert.match(err({ nodeid: 1 }), /guifi\.nodeid: unknown guifi key/);
  assert.match(err({ node_id: -1 }), /guifi\.node_id: expected a guifi.net id/);
  assert.match(err({ mac: 'nope' }), /guifi\.mac: not a MAC/);
  assert.match(err({ device_name: 'has space' }), /device_name/);
  assert.match(err({ api: 'ftp://x' }), /guifi\.api: expected an http\(s\) URL/);
  assert.match(err('x'), /guifi: expected an object/);
});

test('agent flags -guifi-* over config files; layers merge key by key', () => {
  const f = join(dir, 'a.json');
  writeFileSync(f, JSON.stringify({ guifi: { node_id: 5, user: 'seed-user', token_file: '/seed/token' } }));
  const c = configFromArgv(['-config-file', f, '-guifi-node-id', '7', '-guifi-declare-services=false', '-guifi-api', 'http://127.0.0.1:9/api']);
  assert.equal(c.guifi, { nodeId: 7, user: 'seed-user', tokenFile: '/seed/token', declareServices: false, api: 'http://127.0.0.1:9/api' });
  assert.equal(guifiSettingsOf(c), { ...defaultGuifiSettings(), ...c.guifi });
  assert.equal(configFromArgv([]).guifi, {});
});

test("first-boot seed: guifi_node_id / guifi_user / guifi_token become the agent's guifi key (token as a file)", () => {
  const { seed, errors } = parseSeed('guifi_node_id = 1234\nguifi_user = alice\nguifi_token = dG9rZW4tdG9rZW4=\n');
  assert.equal(errors, []);
  const json = agentConfigJson(seed, '/etc/cloudy-agent/secrets');
  assert.equal(json.guifi, { node_id: 1234, user: 'alice', token_file: '/etc/cloudy-agent/secrets/guifi-token' });
  assert.equal(configFromJson(json).guifi, { nodeId: 1234, user: 'alice', tokenFile: '/etc/cloudy-agent/secrets/guifi-token' });
});

test('secrets: files re-read each time (a new token is seen), a missing file is empty, a file wins over an inline value', async () => {
  const tk = join(dir, 'token');
  const s = { ...defaultGuifiSettings(), token: 'inline', tokenFile: tk, password: 'pw' };
  assert.equal(await currentSecrets(s), { password: 'pw', token: 'inline' });
  writeFileSync(tk, 'first\n');
  assert.is((await currentSecrets(s)).token, 'first');
  writeFileSync(tk, 'second\nignored\n');
  assert.is((await currentSecrets(s)).token, 'second');
});

test.run();
