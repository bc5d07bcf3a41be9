// One host:port parser and formatter for gossip, RPC, config and the CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatHostPort, parseHostPort } from '../../agent/config/address.ts';
import { isAgentError } from '../../agent/errors.ts';

test('parses v4, v6 (bracketed and bare, zones), names, defaults and the any-address', () => {
  assert.equal(parseHostPort('1.2.3.4', 7946), { host: '1.2.3.4', port: 7946 });
  assert.equal(parseHostPort(' 1.2.3.4:17 ', 7946), { host: '1.2.3.4', port: 17 });
  assert.equal(parseHostPort('[::1]:17', 7946), { host: '::1', port: 17 });
  assert.equal(parseHostPort('[::1]', 7946), { host: '::1', port: 7946 });
  assert.equal(parseHostPort('fe80::1', 7946), { host: 'fe80::1', port: 7946 });
  assert.equal(parseHostPort('fe80::1%eth0', 7946), { host: 'fe80::1%eth0', port: 7946 });
  assert.equal(parseHostPort('example.org', 7946), { host: 'example.org', port: 7946 });
  assert.equal(parseHostPort('example.org:5000', 7946), { host: 'example.org', port: 5000 });
  assert.equal(parseHostPort(':7373', 1), { host: '0.0.0.0', port: 7373 });
  assert.equal(parseHostPort('0.0.0.0:0', 1), { host: '0.0.0.0', port: 0 });
});

test('refuses bad ports and brackets with E_CONFIG naming what was parsed', () => {
  for (const bad of ['1.2.3.4:99999', '1.2.3.4:', '1.2.3.4:x', '[::1', '[::1]x', 'a:b:c', '1.2.3.4:-1']) {
    try {
      parseHostPort(bad, 1, '-bind');
      assert.unreachable(`${bad} accepted`);
    } catch (e) {
      assert.ok(isAgentError(e, 'E_CONFIG'), `${bad}: ${String(e)}`);
      assert.match((e as Error).message, /^-bind: /);
    }
  }
});

test('formats like Go net.JoinHostPort and round-trips', () => {
  assert.is(formatHostPort('1.2.3.4', 5000), '1.2.3.4:5000');
  assert.is(formatHostPort('::1', 7373), '[::1]:7373');
  for (const s of ['1.2.3.4:5000', '[fe80::1]:7946', 'example.org:1']) {
    const { host, port } = parseHostPort(s, 0);
    assert.is(formatHostPort(host, port), s);
  }
});

test.run();
