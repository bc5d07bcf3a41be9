// Extra forwards (a container's ports reached from the community network but
// not announced): parsing the template's list, choosing host ports, the
// endpoints file the container's init sources.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocateHostPorts, clashWith, endpointsFile, ENDPOINTS_PATH, parseExtraForwards, parseForwardPortRequest } from '../../agent/containers/extra-forwards.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import { LxcDriver } from '../../agent/containers/lxc-driver.ts';
import { Logger } from '../../agent/obs/log.ts';
import { createExec } from '../../agent/system/exec.ts';

const MAX = defaultLimits('edge').maxExtraForwards;

test('parse: names, ports and protocols checked; absent is none; at most maxExtraForwards', () => {
  assert.equal(parseExtraForwards(undefined, 'f', MAX), []);
  assert.equal(parseExtraForwards([{ name: 'storage', port: 3458 }, { name: 'dns', port: 53, protocol: 'tcp+udp' }], 'f', MAX),
    [{ name: 'storage', port: 3458, protocol: 'tcp' }, { name: 'dns', port: 53, protocol: 'tcp+udp' }]);
  for (const bad of [{}, [{ name: 'a', port: 0 }], [{ name: 'a;b', port: 1 }], [{ name: 'a', port: 1 }, { name: 'a', port: 2 }],
    [{ name: 'a', port: 1, protocol: 'sctp' }], Array.from({ length: MAX + 1 }, (_, i) => ({ name: `p${i}`, port: 1000 + i }))]) {
    assert.throws(() => parseExtraForwards(bad, 'f', MAX), /f:/);
  }
  const three = Array.from({ length: 3 }, (_, i) => ({ name: `p${i}`, port: 1000 + i }));
  assert.is(parseExtraForwards(three, 'f', 3).length, 3);
  assert.throws(() => parseExtraForwards(three, 'f', 2), /at most 2 .*maxExtraForwards/);
});

test('clashWith: the same host port with a protocol in common, and which protocol', () => {
  assert.is(clashWith(80, 'tcp', { port: 80, protocol: 'tcp+udp' }), 'tcp');
  assert.is(clashWith(53, 'tcp+udp', { port: 53, protocol: 'udp' }), 'udp');
  assert.is(clashWith(80, 'tcp', { port: 80, protocol: 'udp' }), undefined);
  assert.is(clashWith(80, 'tcp', { port: 81, protocol: 'tcp' }), undefined);
});

test('allocate: the container port when free, else the next free one; protocols only clash with themselves', () => {
  assert.equal(allocateHostPorts([{ name: 's', port: 3458, protocol: 'tcp' }], [{ port: 3457, protocol: 'tcp' }]).map((f) => f.hostPort), [3458]);
  assert.equal(allocateHostPorts([{ name: 's', port: 3458, protocol: 'tcp' }], [{ port: 3458, protocol: 'tcp+udp' }, { port: 3459, protocol: 'tcp' }]).map((f) => f.hostPort), [3460]);
  assert.equal(allocateHostPorts([{ name: 's', port: 3458, protocol: 'tcp' }], [{ port: 3458, protocol: 'udp' }]).map((f) => f.hostPort), [3458]);
  assert.equal(allocateHostPorts([{ name: 'a', port: 80, protocol: 'tcp' }, { name: 'b', port: 80, protocol: 'tcp' }], []).map((f) => f.hostPort), [80, 81]);
  assert.throws(() => allocateHostPorts([{ name: 's', port: 65535, protocol: 'tcp' }], [{ port: 65535, protocol: 'tcp' }]), /no free host port/);
});

test('chosen host ports (-forward-port NAME=PORT): taken as given, refused when held or unknown', () => {
  const chosen = parseForwardPortRequest('storage=13458');
  assert.equal([...chosen], [['storage', 13458]]);
  assert.equal(parseForwardPortRequest(undefined).size, 0);
  for (const bad of ['storage', 'storage=0', 'storage=70000', 'a=1,a=2', 'Bad=1', 42]) assert.throws(() => parseForwardPortRequest(bad), /forward port/);
  const w = [{ name: 'storage', port: 3458, protocol: 'tcp' as const }];
  assert.equal(allocateHostPorts(w, [{ port: 3457, protocol: 'tcp' }], chosen).map((f) => f.hostPort), [13458]);
  assert.throws(() => allocateHostPorts(w, [{ port: 13458, protocol: 'tcp' }], chosen), /13458 for forward storage is already forwarded/);
  assert.throws(() => allocateHostPorts(w, [], new Map([['web', 80]])), /no forward named web in this template \(it has: storage\)/);
});

test('endpoints file: shell assignments of validated values only', () => {
  const text = endpointsFile({ type: 't', port: 3457, hostPort: 13457, protocol: 'tcp', description: '', txt: '', check: { kind: 'none', arg: '' },
    forwards: [{ name: 'storage', port: 3458, hostPort: 3459, protocol: 'tcp' }] }, '10.1.1.1', '10.0.3.2');
  assert.match(text, /\nCLOUDY_HOST_IP=10\.1\.1\.1\nCLOUDY_CONTAINER_IP=10\.0\.3\.2\nCLOUDY_SERVICE_PORT=13457\nCLOUDY_PORT_storage=3459\n$/);
});

test('the endpoints file lands in the container\'s root (lxc.rootfs.path), never through a symbolic link the root holds', async () => {
  const lxc = await mkdtemp(join(tmpdir(), 'th-lxcpath-'));
  try {
    const driver = new LxcDriver({ exec: createExec(), logger: Logger.silent(), maxOutputBytes: 1 << 16, templateDirs: [], lxcPath: lxc });
    const rootA = join(lxc, 'a', 'elsewhere');
    await mkdir(join(rootA, 'etc'), { recursive: true });
    await writeFile(join(lxc, 'a', 'config'), `lxc.rootfs.path = dir:${rootA}\n`);
    assert.is(await driver.writeRootfsFile('a', ENDPOINTS_PATH, 'CLOUDY_HOST_IP=10.1.1.1\n'), true);
    assert.is(await readFile(join(rootA, ENDPOINTS_PATH), 'utf8'), 'CLOUDY_HOST_IP=10.1.1.1\n');
    // A root whose etc/cloudy-agent points out of it (at a host directory): refused, nothing written there.
    const outside = join(lxc, 'host-etc');
    await mkdir(outside);
    await mkdir(join(lxc, 'b', 'rootfs', 'etc'), { recursive: true });
    await writeFile(join(lxc, 'b', 'config'), '');
    await symlink(outside, join(lxc, 'b', 'rootfs', 'etc', 'cloudy-agent'));
    await driver.writeRootfsFile('b', ENDPOINTS_PATH, 'x').then(() => assert.unreachable(), (e) => assert.match(String(e), /symbolic link/));
    assert.is(await readFile(join(outside, 'endpoints.env'), 'utf8').catch(() => 'absent'), 'absent');
    await driver.writeRootfsFile('b', '../x', 'x').then(() => assert.unreachable(), (e) => assert.match(String(e), /not a path below the root/));
  } finally {
    await rm(lxc, { recursive: true, force: true });
  }
});

test.run();
