import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isAgentError } from '../../agent/errors.ts';
import {
  normalizeDescription, parseCpus, parseMemory, parsePort, parseRestartPolicy, validateName, validateServiceType,
  validateTemplateName, validateTxt,
} from '../../agent/containers/validate.ts';

function invalid(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isAgentError(e, 'E_INVALID'), `expected E_INVALID, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('expected an E_INVALID error');
}

test('container names: good ones pass', () => {
  for (const n of ['web', 'cat-1', 'a', 'svc_2.x', 'A9']) assert.is(validateName(n), n);
  assert.is(validateName('x'.repeat(63)), 'x'.repeat(63));
});

test('container names: hostile and malformed ones are refused with a clear message', () => {
  invalid(() => validateName('a;rm -rf /'), /invalid container name 'a;rm -rf \/'/);
  invalid(() => validateName('../x'), /invalid container name/);
  invalid(() => validateName('a..b'), /invalid container name/);
  invalid(() => validateName('-n'), /invalid container name/);
  invalid(() => validateName('a b'), /invalid container name/);
  invalid(() => validateName('a/b'), /invalid container name/);
  invalid(() => validateName('x'.repeat(64)), /64 characters long; at most 63/);
  invalid(() => validateName(''), /required/);
  invalid(() => validateName(undefined), /required/);
  invalid(() => validateName('a\nb'), /invalid container name 'a\?b'/);
});

test('template names are names, not paths', () => {
  assert.is(validateTemplateName('busybox'), 'busybox');
  invalid(() => validateTemplateName('/etc/passwd'), /named, not given as a path/);
  invalid(() => validateTemplateName('../cloudy-busybox'), /invalid template/);
  invalid(() => validateTemplateName(''), /required/);
});

test('memory sizes', () => {
  assert.is(parseMemory('128M'), 128 * 1024 * 1024);
  assert.is(parseMemory('1G'), 1024 ** 3);
  assert.is(parseMemory('65536K'), 64 * 1024 * 1024);
  assert.is(parseMemory('1.5G'), 1.5 * 1024 ** 3);
  assert.is(parseMemory(undefined), 0);
  assert.is(parseMemory('0'), 0);
  invalid(() => parseMemory('1M'), /out of range: between 4M and 1T/);
  invalid(() => parseMemory('5000G'), /out of range/);
  invalid(() => parseMemory('lots'), /invalid memory size 'lots'/);
  invalid(() => parseMemory('-5M'), /invalid memory size/);
});

test('cpus', () => {
  assert.is(parseCpus('1', 2), 1);
  assert.is(parseCpus('0.5', 2), 0.5);
  assert.is(parseCpus(undefined, 2), 0);
  invalid(() => parseCpus('3', 2), /between 0.01 and 2/);
  invalid(() => parseCpus('0.001', 2), /out of range/);
  invalid(() => parseCpus('two', 2), /invalid cpus 'two'/);
});

test('restart policy, ports', () => {
  assert.is(parseRestartPolicy('always'), 'always');
  assert.is(parseRestartPolicy(undefined), 'on-failure');
  invalid(() => parseRestartPolicy('sometimes'), /always, on-failure or never/);
  assert.is(parsePort('80'), 80);
  invalid(() => parsePort('0'), /between 1 and 65535/);
  invalid(() => parsePort('70000'), /between 1 and 65535/);
});

test('service fields stay safe for Cloudy shell parsers', () => {
  assert.is(validateServiceType('proxy3'), 'proxy3');
  invalid(() => validateServiceType('a b'), /invalid service type/);
  assert.is(normalizeDescription('Squid proxy  here'), 'Squid_proxy_here');
  invalid(() => normalizeDescription('say "hi"'), /no quotes/);
  assert.is(validateTxt('Federated=Yes'), 'Federated=Yes');
  invalid(() => validateTxt('Federated=Yes&x=1'), /avahi-ps search cannot carry/);
  invalid(() => validateTxt('a,b'), /invalid service txt/);
  invalid(() => validateTxt("a'b"), /invalid service txt/);
});

test.run();
