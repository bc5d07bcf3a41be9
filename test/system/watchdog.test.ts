// systemd watchdog: the notifier (systemd-notify as a child, NOTIFY_SOCKET,
// WATCHDOG_USEC/WATCHDOG_PID) and the plug-in that pings only while gossip is healthy.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { systemdNotifier, type Notifier } from '../../agent/system/systemd-notify.ts';
import { watchdogPlugin } from '../../agent/plugins.ts';
import type { Exec } from '../../agent/system/exec.ts';
import type { DaemonContext } from '../../agent/plugin.ts';
import { Logger } from '../../agent/obs/log.ts';

test('notifier: only under systemd; interval from WATCHDOG_USEC for our PID; runs systemd-notify with the socket', async () => {
  const calls: { file: string; args: readonly string[]; env?: Record<string, string> }[] = [];
  const exec: Exec = { async run(file, args, opts) { calls.push({ file, args, ...(opts?.env ? { env: opts.env } : {}) }); return { command: file, exitCode: 0, stdout: '', stderr: '', timedOut: false }; } };
  assert.is(systemdNotifier(exec, {}), null);
  const n = systemdNotifier(exec, { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '90000000', WATCHDOG_PID: '42' }, 42)!;
  assert.is(n.watchdogMs, 90_000);
  assert.is(systemdNotifier(exec, { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '90000000', WATCHDOG_PID: '7' }, 42)!.watchdogMs, null, 'pings for another PID are not ours');
  assert.ok(await n.notify('WATCHDOG=1'));
  assert.equal(calls[0], { file: 'systemd-notify', args: ['WATCHDOG=1'], env: { NOTIFY_SOCKET: '/run/systemd/notify' } });
});

test('plug-in: READY once, WATCHDOG=1 while serf is alive, withheld once it is not', async () => {
  const sent: string[] = [];
  const notifier: Notifier = { watchdogMs: 3000, async notify(s) { sent.push(s); return true; } };
  let state = 'alive';
  const ctx = { serf: { state: () => state, stats: () => ({ health_score: '0' }) }, logger: Logger.root({ level: 'ERR', write: () => {} }) } as unknown as DaemonContext;
  const p = watchdogPlugin(notifier);
  const h = await (typeof p === 'function' ? p(ctx) : p.start(ctx));
  await new Promise((r) => setTimeout(r, 2300));
  const pings = sent.filter((s) => s === 'WATCHDOG=1').length;
  assert.is(sent[0], 'READY=1');
  assert.ok(pings >= 1, `pinged while alive (${pings})`);
  state = 'left';
  await new Promise((r) => setTimeout(r, 2200));
  assert.is(sent.filter((s) => s === 'WATCHDOG=1').length, pings, 'no ping once serf has left');
  assert.ok(Number(h.stats!().withheld) >= 1);
  await h.stop();
  assert.is(sent[sent.length - 1], 'STOPPING=1');
});

test.run();
