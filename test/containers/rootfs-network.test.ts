// Issue 13 point 7 (pure part): what the agent edits in a template's root
// filesystem so the container keeps LXC's static address.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disableDhcpLines, ifupdownManual, pinStaticAddress, rootfsDir } from '../../agent/containers/rootfs-network.ts';
import { addressProblem } from '../../agent/containers/manager.ts';

test('lxc-busybox rcS: udhcpc commented out, the rest kept, idempotent', () => {
  const rcS = '#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n/bin/udhcpc\n';
  const out = disableDhcpLines(rcS);
  assert.match(out, /^# \/bin\/udhcpc/m);
  assert.match(out, /^\/bin\/mount -a$/m);
  assert.is(disableDhcpLines(out), out);
});

test('ifupdown: eth0 dhcp becomes manual, other interfaces untouched', () => {
  assert.is(ifupdownManual('auto eth0\niface eth0 inet dhcp\niface eth1 inet dhcp\n'), 'auto eth0\niface eth0 inet manual\niface eth1 inet dhcp\n');
});

test('rootfs path from the config', () => {
  assert.is(rootfsDir('lxc.rootfs.path = dir:/var/lib/lxc/x/rootfs\n', '/d'), '/var/lib/lxc/x/rootfs');
  assert.is(rootfsDir('lxc.rootfs.path = /srv/r\n', '/d'), '/srv/r');
  assert.is(rootfsDir('lxc.rootfs.path = overlayfs:/a:/b\n', '/d'), null);
  assert.is(rootfsDir('', '/d'), '/d');
});

test('pinStaticAddress edits rcS, interfaces and writes a networkd unit where networkd exists', async () => {
  const r = await mkdtemp(join(tmpdir(), 'fd-rootfs-'));
  try {
    await mkdir(join(r, 'etc/init.d'), { recursive: true });
    await mkdir(join(r, 'etc/network'), { recursive: true });
    await mkdir(join(r, 'lib/systemd'), { recursive: true });
    await writeFile(join(r, 'etc/init.d/rcS'), '/bin/udhcpc\n');
    await writeFile(join(r, 'etc/network/interfaces'), 'iface eth0 inet dhcp\n');
    await writeFile(join(r, 'lib/systemd/systemd-networkd'), '');
    const a = { address: '10.225.9.3', prefix: 24, gateway: '10.225.9.1' };
    assert.equal((await pinStaticAddress(r, a)).sort(), ['etc/init.d/rcS', 'etc/network/interfaces', 'etc/systemd/network/00-cloudy-agent-eth0.network']);
    assert.match(await readFile(join(r, 'etc/systemd/network/00-cloudy-agent-eth0.network'), 'utf8'), /Address=10\.225\.9\.3\/24\nGateway=10\.225\.9\.1/);
    assert.equal(await pinStaticAddress(r, a), [], 'second run changes nothing');
  } finally {
    await rm(r, { recursive: true, force: true });
  }
});

test('address problem: only for a running container whose addresses are known and lack the assigned one', () => {
  const run = { name: 'c', state: 'RUNNING' as const, pid: 1, autostart: false };
  assert.is(addressProblem('10.0.0.2', { ...run, ipv4: ['10.0.0.2'] }), '');
  assert.is(addressProblem('10.0.0.2', { ...run }), '');
  assert.is(addressProblem('10.0.0.2', { ...run, state: 'STOPPED', ipv4: [] }), '');
  assert.match(addressProblem('10.0.0.2', { ...run, ipv4: [] }), /no IPv4/);
  assert.match(addressProblem('10.0.0.2', { ...run, ipv4: ['10.0.0.9'] }), /has 10\.0\.0\.9 instead/);
});

test.run();
