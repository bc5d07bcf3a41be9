// Keeps the static address LXC gives a container (lxc.net.0.ipv4.address,
// set before init runs) when the template's root filesystem would replace it
// by DHCP. Our own cloudy-* templates start no DHCP client; LXC's stock ones
// do: lxc-busybox's /etc/init.d/rcS runs `udhcpc` (its deconfig script flushes
// eth0), Debian/Alpine images from lxc-download say `iface eth0 inet dhcp` in
// /etc/network/interfaces, systemd images run networkd with DHCP=yes (netplan
// on Ubuntu writes that too). With no DHCP server on the bridge the container
// ends with no address; with one (lxc-net's dnsmasq) it takes another address
// than the agent's IPAM, and the port forward and the announced service point
// nowhere (issue 13 point 7). So after every template run the agent edits those
// files to leave eth0's address alone, and says what it changed.
import { readFile, writeFile, mkdir, access, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface StaticAddress { address: string; prefix: number; gateway: string }

/** The rootfs directory a container config names (lxc.rootfs.path = [dir:]PATH); null for other backends. */
export function rootfsDir(config: string, fallback: string): string | null {
  const m = /^\s*lxc\.rootfs(?:\.path)?\s*=\s*(\S+)\s*$/m.exec(config);
  if (!m) return fallback;
  const v = m[1]!;
  if (v.startsWith('dir:')) return v.slice(4);
  if (v.startsWith('/')) return v;
  return null;
}

/** rcS / inittab lines that start a DHCP client, commented out (busybox's udhcpc, dhclient). */
export function disableDhcpLines(text: string): string {
  return text.split('\n').map((l) => (/^\s*[^#]*\b(udhcpc|dhclient|dhcpcd)\b/.test(l) ? `# ${l}  # cloudy-agent: LXC sets eth0's static address` : l)).join('\n');
}

/** ifupdown: `iface eth0 inet dhcp` becomes `manual` (the interface is up with LXC's address already). */
export function ifupdownManual(text: string): string {
  return text.replace(/^(\s*iface\s+eth0\s+inet\s+)dhcp\b/gm, '$1manual');
}

/** A networkd unit that sorts before any other for eth0 and keeps LXC's address. */
export function networkdUnit(a: StaticAddress): string {
  return [
    '# Written by cloudy-agent: LXC sets this address before init; no DHCP on eth0.',
    '[Match]', 'Name=eth0', '',
    '[Network]', 'DHCP=no', 'LinkLocalAddressing=no', 'IPv6AcceptRA=no', 'KeepConfiguration=static',
    `Address=${a.address}/${a.prefix}`, `Gateway=${a.gateway}`, '',
  ].join('\n');
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** Edits the rootfs so eth0 keeps `a`; returns what changed (relative paths), empty when nothing needed it. */
export async function pinStaticAddress(rootfs: string, a: StaticAddress): Promise<string[]> {
  const changed: string[] = [];
  const rewrite = async (rel: string, fn: (t: string) => string): Promise<void> => {
    const p = join(rootfs, rel);
    let t: string;
    try { t = await readFile(p, 'utf8'); } catch { return; }
    const n = fn(t);
    if (n !== t) { await writeFile(p, n); changed.push(rel); }
  };
  await rewrite('etc/init.d/rcS', disableDhcpLines);
  await rewrite('etc/inittab', disableDhcpLines);
  await rewrite('etc/rc.local', disableDhcpLines);
  await rewrite('etc/network/interfaces', ifupdownManual);
  let extra: string[] = [];
  try { extra = await readdir(join(rootfs, 'etc/network/interfaces.d')); } catch { /* none */ }
  for (const f of extra) await rewrite(join('etc/network/interfaces.d', f), ifupdownManual);
  if (await exists(join(rootfs, 'lib/systemd/systemd-networkd')) || await exists(join(rootfs, 'usr/lib/systemd/systemd-networkd'))) {
    const dir = join(rootfs, 'etc/systemd/network');
    await mkdir(dir, { recursive: true });
    const rel = 'etc/systemd/network/00-cloudy-agent-eth0.network';
    const unit = networkdUnit(a);
    let old = '';
    try { old = await readFile(join(rootfs, rel), 'utf8'); } catch { /* new */ }
    if (old !== unit) { await writeFile(join(rootfs, rel), unit); changed.push(rel); }
  }
  return changed;
}
