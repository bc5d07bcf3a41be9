import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isAgentError } from '../../agent/errors.ts';
import { renderIptablesRules, renderNftScript, type PortForward } from '../../agent/containers/port-forward.ts';

const fwd: PortForward = { owner: 'web1', protocol: 'tcp', hostIp: '10.1.2.3', hostPort: 8080, containerIp: '10.0.3.5', containerPort: 80 };

test('nft script replaces the agent table atomically, rules in prerouting and output', () => {
  const s = renderNftScript([fwd, { ...fwd, owner: 'dns', protocol: 'udp', hostPort: 53, containerIp: '10.0.3.6', containerPort: 53 }]);
  const lines = s.split('\n');
  assert.is(lines[0], 'table ip cloudy_agent');
  assert.is(lines[1], 'delete table ip cloudy_agent');
  const rule = 'ip daddr 10.1.2.3 tcp dport 8080 dnat to 10.0.3.5:80 comment "cloudy:web1"';
  assert.is(s.split(rule).length - 1, 2, 'rule in both chains');
  assert.ok(s.includes('type nat hook prerouting priority dstnat; policy accept;'));
  assert.ok(s.includes('type nat hook output priority -100; policy accept;'));
  // sorted by host port: udp 53 before tcp 8080
  assert.ok(s.indexOf('udp dport 53') < s.indexOf('tcp dport 8080'));
});

test('hairpin masquerade for the containers subnet', () => {
  const s = renderNftScript([fwd], '10.0.3.0/24');
  assert.ok(s.includes('type nat hook postrouting priority srcnat; policy accept;'));
  assert.ok(s.includes('ip saddr 10.0.3.0/24 ip daddr 10.0.3.0/24 ct status dnat masquerade'));
  let threw = false;
  try { renderNftScript([fwd], '10.0.3.0/24; flush ruleset'); } catch (e) { threw = isAgentError(e, 'E_INVALID'); }
  assert.ok(threw);
});

test('no forwards: the script only removes the table', () => {
  assert.is(renderNftScript([]), 'table ip cloudy_agent\ndelete table ip cloudy_agent\n');
});

test('iptables rules go to the agent chain with a comment', () => {
  assert.equal(renderIptablesRules([fwd]), [[
    '-t', 'nat', '-A', 'CLOUDY-DNAT', '-d', '10.1.2.3/32', '-p', 'tcp', '--dport', '8080',
    '-m', 'comment', '--comment', 'cloudy:web1', '-j', 'DNAT', '--to-destination', '10.0.3.5:80',
  ]]);
});

test('hostile values never reach a rule', () => {
  for (const bad of [
    { ...fwd, hostIp: '10.1.2.3; flush ruleset' },
    { ...fwd, containerIp: '10.0.3.300' },
    { ...fwd, owner: 'x" ; drop' },
    { ...fwd, hostPort: 0 },
    { ...fwd, protocol: 'icmp' as 'tcp' },
  ]) {
    let threw = false;
    try { renderNftScript([bad]); } catch (e) { threw = isAgentError(e, 'E_INVALID'); }
    assert.ok(threw, JSON.stringify(bad));
  }
});

test.run();
