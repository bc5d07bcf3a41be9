// sd_notify for a Node process: Node has no unix datagram sockets, so the
// message goes through `systemd-notify` (systemd's own client), run as our
// child. The unit needs NotifyAccess=all (the sender is the child, not the main
// PID). systemd attributes a message by the sender's cgroup; a very short-lived
// sender can occasionally be missed, which is why the watchdog pings at a third
// of WatchdogSec: one lost ping never fires it.
import type { Exec } from './exec.ts';

export interface Notifier {
  /** Watchdog interval systemd asked for (WATCHDOG_USEC), in ms; null = no watchdog. */
  readonly watchdogMs: number | null;
  notify(state: string): Promise<boolean>;
}

export function systemdNotifier(exec: Exec, env: NodeJS.ProcessEnv, pid = process.pid): Notifier | null {
  if (!env.NOTIFY_SOCKET) return null;
  const usec = Number(env.WATCHDOG_USEC ?? '');
  // WATCHDOG_PID names the process systemd expects pings from; a re-exec keeps the PID.
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
  return {
    watchdogMs: Number.isFinite(usec) && usec > 0 && forUs ? Math.floor(usec / 1000) : null,
    async notify(state: string): Promise<boolean> {
      const r = await exec.run('systemd-notify', [state], { timeoutMs: 10_000, env: { NOTIFY_SOCKET: env.NOTIFY_SOCKET! } });
      return r.exitCode === 0;
    },
  };
}
