// Small facts about the host the agent runs on, read from /proc and /sys.
import { readFile, writeFile, access } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { AgentError } from '../errors.ts';

/** The kernel's id of the current boot (changes on every reboot); '' when unreadable. */
export async function readBootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return '';
  }
}

/** Whether a network interface of that name exists and is a bridge. */
export function bridgeExists(name: string): Promise<boolean> {
  return access(`/sys/class/net/${name}/bridge`).then(() => true, () => false);
}

/** Turns on IPv4 forwarding (DNAT to a container behind the bridge needs routing between interfaces). */
export async function enableIpv4Forwarding(): Promise<void> {
  try {
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
  } catch (e) {
    throw new AgentError('E_IO', `cannot enable IPv4 forwarding: ${(e as Error).message}`);
  }
}

/**
 * IPv4 neighbours the kernel has resolved on this interface (/proc/net/arp,
 * complete entries only): hosts that answered on the bridge, whoever configured them.
 */
export async function bridgeNeighbours(dev: string): Promise<string[]> {
  let text: string;
  try { text = await readFile('/proc/net/arp', 'utf8'); } catch { return []; }
  return parseProcNetArp(text, dev);
}

/** Lines "IP  HWtype  Flags  HWaddress  Mask  Device"; flag 0x2 = complete (ATF_COM). */
export function parseProcNetArp(text: string, dev: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[5] !== dev) continue;
    if ((Number.parseInt(f[2]!, 16) & 0x2) === 0) continue;
    out.push(f[0]!);
  }
  return out;
}

/**
 * Whether a host on `dev` owns `ip` though it never talked to us: one empty
 * UDP datagram to it (port 9, discard) makes the kernel ask by ARP; an answer
 * turns the neighbour entry complete. Waits up to `waitMs`.
 */
export async function neighbourAnswers(ip: string, dev: string, waitMs = 1_500): Promise<boolean> {
  const s = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => { s.once('error', () => resolve()); s.send(Buffer.alloc(0), 9, ip, () => resolve()); });
  } finally {
    s.close();
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    if ((await bridgeNeighbours(dev)).includes(ip)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
