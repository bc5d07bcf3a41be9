// Extra forwards (a container's ports reached from the community network but
// not announced): parsing the template's list, choosing host ports, the
// endpoints file the container's init sources.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allocateHostPorts, endpointsFile, parseExtraForwards } from '../../agent/containers/extra-forwards.ts';

test('parse: names, ports and protocols checked; absent is none', () => {
  assert.equal(parseExtraForwards(undefined, 'f'), []);
  assert.equal(parseExtraForwards([{ name: 'storage', port: 3458 }, { name: 'dns', port: 53, protocol: 'tcp+udp' }], 'f'),
    [{ name: 'storage', port: 3458, protocol: 'tcp' }, { name: 'dns', port: 53, protocol: 'tcp+udp' }]);
  for (const bad of [{}, [{ name: 'a', port: 0 }], [{ name: 'a;b', port: 1 }], [{ name: 'a', port: 1 }, { name: 'a', port: 2 }],
    [{ name: 'a', port: 1, protocol: 'sctp' }], Array.from({ length: 9 }, (_, i) => ({ name: `p${i}`, port: 1000 + i }))]) {
    assert.throws(() => parseExtraForwards(bad, 'f'), /f:/);
  }
});

test('allocate: the container port when free, else the next free one; protocols only clash with themselves', () => {
  assert.equal(allocateHostPorts([{ name: 's', port: 3458, protocol: 'tcp' }], [{ port: 3457, protocol: 'tcp' }]).map((f) => f.hostPort), [3458]);
  assert.equal(allocateHostPorts([{ name: 's', port: 3458, protocol: 'tcp' }], [{ port: 3458, protocol: 'tcp+udp' }, { port: 3459, protocol: 'tcp' }]).map((f) => f.hostPort), [3460]);
  assert.equal(allocateHostPorts([{ name: 's', port: 3458, protocol: 'tcp' }], [{ port: 3458, protocol: 'udp' }]).map((f) => f.hostPort), [3458]);
  assert.equal(allocateHostPorts([{ name: 'a', port: 80, protocol: 'tcp' }, { name: 'b', port: 80, protocol: 'tcp' }], []).map((f) => f.hostPort), [80, 81]);
  assert.throws(() => allocateHostPorts([{ name: 's', port: 65535, protocol: 'tcp' }], [{ port: 65535, protocol: 'tcp' }]), /no free host port/);
});

test('endpoints file: shell assignments of validated values only', () => {
  const text = endpointsFile({ type: 't', port: 3457, hostPort: 13457, protocol: 'tcp', description: '', txt: '', check: { kind: 'none', arg: '' },
    forwards: [{ name: 'storage', port: 3458, hostPort: 3459, protocol: 'tcp' }] }, '10.1.1.1', '10.0.3.2');
  assert.match(text, /\nCLOUDY_HOST_IP=10\.1\.1\.1\nCLOUDY_CONTAINER_IP=10\.0\.3\.2\nCLOUDY_SERVICE_PORT=13457\nCLOUDY_PORT_storage=3459\n$/);
});

test.run();
