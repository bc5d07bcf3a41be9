import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parseExitCause, parseLxcInfo, parseLxcLsFancy } from '../../agent/containers/lxc-output.ts';
import { editLxcConfig, liveLimitSettings, readLxcConfig, renderLimitKeys } from '../../agent/containers/lxc-config.ts';
import { detectCgroupLayout } from '../../agent/system/cgroup.ts';

// Outputs captured from LXC 5.0.2 on Debian bookworm.
const fx = (f: string): string => readFileSync(new URL(`./fixtures/${f}`, import.meta.url), 'utf8');

test('lxc-ls -f -F NAME,STATE,PID,AUTOSTART', () => {
  const r = parseLxcLsFancy(fx('lxc-ls-fancy.txt'));
  assert.equal(r, [
    { name: 'catfix-2.b', state: 'STOPPED', pid: 0, autostart: false },
    { name: 'catfix1', state: 'RUNNING', pid: 30770, autostart: true },
  ]);
});

test('lxc-ls columns with spaces inside values (IPV4 list) are cut at header offsets', () => {
  const r = parseLxcLsFancy(fx('lxc-ls-fancy-ipv4.txt'));
  assert.is(r.length, 2);
  assert.equal(r[1], { name: 'catfix1', state: 'RUNNING', pid: 30770, autostart: true, ipv4: ['10.213.0.51', '10.213.0.52'] });
});

test('lxc-ls with no containers prints nothing', () => {
  assert.equal(parseLxcLsFancy(''), []);
  assert.equal(parseLxcLsFancy('garbage without header\n'), []);
});

test('lxc-info -H running and stopped', () => {
  const run = parseLxcInfo(fx('lxc-info-running.txt'), 'catfix1');
  assert.is(run.state, 'RUNNING');
  assert.is(run.pid, 30770);
  assert.equal(run.ipv4, ['10.213.0.51', '10.213.0.52']);
  assert.is(run.cpuNs, 3548329);
  assert.is(run.memoryBytes, 569344);
  const stopped = parseLxcInfo(fx('lxc-info-stopped.txt'), 'catfix-2.b');
  assert.is(stopped.state, 'STOPPED');
  assert.is(stopped.pid, 0);
  assert.equal(stopped.ipv4, []);
});

test('cgroup layout: hybrid host (v1 controllers, empty unified) uses v1 keys', () => {
  const layout = detectCgroupLayout(fx('mounts-hybrid.txt'), '');
  assert.equal(layout, { memory: 1, cpu: 1 });
  const keys = renderLimitKeys(layout, 128 * 1024 * 1024, 0.5);
  assert.is(keys['lxc.cgroup.memory.limit_in_bytes'], String(128 * 1024 * 1024));
  assert.is(keys['lxc.cgroup.cpu.cfs_quota_us'], '50000');
  assert.is(keys['lxc.cgroup.cpu.cfs_period_us'], '100000');
  assert.is(keys['lxc.cgroup2.memory.max'], null);
});

test('cgroup layout: pure v2 host uses lxc.cgroup2 keys', () => {
  const mounts = 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n';
  const layout = detectCgroupLayout(mounts, 'cpuset cpu io memory hugetlb pids rdma misc\n');
  assert.equal(layout, { memory: 2, cpu: 2 });
  const keys = renderLimitKeys(layout, 64 * 1024 * 1024, 1);
  assert.is(keys['lxc.cgroup2.memory.max'], String(64 * 1024 * 1024));
  assert.is(keys['lxc.cgroup2.cpu.max'], '100000 100000');
  assert.is(keys['lxc.cgroup.memory.limit_in_bytes'], null);
  assert.equal(liveLimitSettings(layout, 0, 0), [['memory.max', 'max'], ['cpu.max', 'max 100000']]);
});

test('config editing replaces keys, keeps the rest, removes null keys', () => {
  const text = '# c\nlxc.net.0.type = veth\nlxc.start.auto = 0\nlxc.cgroup.memory.limit_in_bytes = 1\n';
  const out = editLxcConfig(text, { 'lxc.start.auto': '1', 'lxc.cgroup.memory.limit_in_bytes': null });
  assert.is(out, '# c\nlxc.net.0.type = veth\nlxc.start.auto = 1\n');
  assert.equal(readLxcConfig(out), { 'lxc.net.0.type': 'veth', 'lxc.start.auto': '1' });
});

test('exit cause from LXC INFO log lines (captured)', () => {
  const started = 'lxc-start x 20261129230732.216 NOTICE   start - ../src/lxc/start.c:post_start:2205 - Started "/sbin/init" with pid "27305"\n';
  const halt = 'lxc-start x 20261129230735.236 INFO     error - ../src/lxc/error.c:lxc_error_set_and_log:34 - Child <27305> ended on signal Interrupt(2)\n';
  const kill = 'lxc-start x 20261129230736.286 INFO     error - ../src/lxc/error.c:lxc_error_set_and_log:34 - Child <27350> ended on signal Killed(9)\n';
  const err = 'lxc-start x 20261129230414.951 INFO     error - ../src/lxc/error.c:lxc_error_set_and_log:31 - Child <22406> ended on error (1)\n';
  assert.is(parseExitCause(started + halt), 'clean');
  assert.is(parseExitCause(started + kill), 'failure');
  assert.is(parseExitCause(started + err), 'failure');
  assert.is(parseExitCause(started + kill + started + halt), 'clean');
  assert.is(parseExitCause(started + halt + started + kill), 'failure');
  assert.is(parseExitCause(started), 'clean');
  assert.is(parseExitCause(''), 'unknown');
});

test.run();
