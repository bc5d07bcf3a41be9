// The LXC image of `make image` (built by the raw-image test or here):
//  - plain `lxc-create -t local` with the rootfs + meta tarballs: systemd runs inside,
//    first boot keeps the container's name, the agent is active;
//  - the cloudy-node template (what `cloudy-agent lxc create NAME -t cloudy-node` runs)
//    with a seed: the container's agent joins a real serf agent on the LXC bridge.
// Containers live in a private lxcpath; their bridge imglbr0 is in the host's namespace
// (lxc-start cannot run under `ip netns exec`, which remounts /sys and hides the
// cgroup tree), with only the serf agent's namespace plugged into it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan, sh, waitFor } from './lan.ts';
import { buildImages, LXC_META, LXC_ROOTFS, record, REPO, serfMembers } from './support.ts';

const lan = new Lan('l', 4);
const BRIDGE = 'imglbr0';
const dir = mkdtempSync(join(tmpdir(), 'img-lxc-'));
const LXCPATH = join(dir, 'lxc');
const SERF_IP = '10.223.4.2';
let serfNs = '';

function netConf(name: string, mac: string): string {
  const p = join(dir, `${name}.conf`);
  writeFileSync(p, ['lxc.net.0.type = veth', `lxc.net.0.link = ${BRIDGE}`, 'lxc.net.0.flags = up', 'lxc.net.0.name = eth0',
    `lxc.net.0.hwaddr = ${mac}`, 'lxc.apparmor.profile = unconfined', ''].join('\n'));
  return p;
}

test.before(() => {
  if (!existsSync(LXC_ROOTFS) || !existsSync(LXC_META)) buildImages();
  sh(`mkdir -p ${LXCPATH}`);
  lan.down();
  sh(`ip link del ${BRIDGE}`, true);
  sh(`ip link add ${BRIDGE} type bridge && ip link set ${BRIDGE} up`);
  serfNs = 'imgls';
  sh(`ip netns add ${serfNs} && ip link add imglsp type veth peer name eth0 netns ${serfNs} && ip link set imglsp master ${BRIDGE} up`);
  sh(`ip -n ${serfNs} link set lo up && ip -n ${serfNs} link set eth0 up && ip -n ${serfNs} addr add ${SERF_IP}/24 dev eth0`);
});

test.after(async () => {
  for (const n of ['imgl1', 'imgl2']) {
    sh(`lxc-stop -P ${LXCPATH} -n ${n} -k`, true);
    sh(`lxc-destroy -P ${LXCPATH} -n ${n} -f`, true);
  }
  await lan.stopAll();
  lan.down();
  sh(`ip link del imglsp`, true);
  sh(`ip link del ${BRIDGE}`, true);
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

test('lxc-create -t local: systemd runs, first boot keeps the container name, the agent is active', async () => {
  sh(`lxc-create -P ${LXCPATH} -n imgl1 -f ${netConf('imgl1', '00:16:3e:23:04:11')} -t local -- --fstree ${LXC_ROOTFS} --metadata ${LXC_META}`);
  sh(`lxc-start -P ${LXCPATH} -n imgl1 -d -L ${join(dir, 'imgl1.console')}`);
  const attach = (cmd: string) => sh(`lxc-attach -P ${LXCPATH} -n imgl1 -- ${cmd}`, true).trim();
  await waitFor(() => attach('systemctl is-active cloudy-agent') === 'active', 'agent active in the container', 120_000, 1000);
  assert.is(attach('hostname'), 'imgl1');
  assert.ok(attach('cat /var/lib/cloudy-agent/firstboot.done').length > 0, 'first boot ran');
  assert.match(attach('cloudy-agent seed status'), /"source": "none"/);
  sh(`lxc-stop -P ${LXCPATH} -n imgl1 -k`, true);
});

test('cloudy-node template with a seed: the container\'s agent joins serf on the LXC bridge', async () => {
  lan.spawnIn(serfNs, ['serf', 'agent', '-node=img-lxc-serf', `-bind=${SERF_IP}:5000`, '-rpc-addr=127.0.0.1:7373'], join(dir, 'serf.log'));
  await waitFor(() => sh(`ip netns exec ${serfNs} serf members -rpc-addr=127.0.0.1:7373`, true).includes('img-lxc-serf'), 'serf up', 30_000);
  const seed = join(dir, 'cloudy.conf');
  writeFileSync(seed, `interface = eth0\nipv4 = 10.223.4.10/24\njoin = ${SERF_IP}:5000\n`);
  sh(`lxc-create -P ${LXCPATH} -n imgl2 -f ${netConf('imgl2', '00:16:3e:23:04:12')} -t ${join(REPO, 'image/lxc/cloudy-node')} -- --image ${LXC_ROOTFS} --seed ${seed}`);
  const t0 = Date.now();
  sh(`lxc-start -P ${LXCPATH} -n imgl2 -d -L ${join(dir, 'imgl2.console')}`);
  const m = await waitFor(() => serfMembers(serfNs).find((x) => x.addr.startsWith('10.223.4.10:') && x.status === 'alive'), 'container joined serf', 120_000, 500);
  const s = (Date.now() - t0) / 1000;
  assert.match(m.name, /-imgl2-10\.223\.4\.10:5000$/, 'Cloudy node name with the container\'s name');
  record({ lxc_start_to_joined_s: s });
});

test.run();
