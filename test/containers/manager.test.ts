// ContainerManager against an in-memory driver: the logic around LXC (cleanup
// of failed creates, publish refusals, vanished containers, persistence)
// without touching the host.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentError, isAgentError } from '../../agent/errors.ts';
import { ContainerManager } from '../../agent/containers/manager.ts';
import type { ContainerDriver } from '../../agent/containers/driver.ts';
import type { ContainersState } from '../../agent/containers/state-store.ts';
import type { ObservedContainer } from '../../agent/containers/types.ts';
import type { PortForward } from '../../agent/containers/port-forward.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';

class FakeDriver implements ContainerDriver {
  boxes = new Map<string, ObservedContainer & { config: string; service: string | null }>();
  calls: string[] = [];
  failCreate: string | null = null;
  serviceJson: string | null = '{"type":"web","port":80,"protocol":"tcp","description":"d","txt":"","check":{"kind":"tcp","arg":"80"}}';
  async available() {}
  async lxcPath() { return '/var/lib/lxc'; }
  async list() { return [...this.boxes.values()].map(({ name, state, pid, autostart }) => ({ name, state, pid, autostart })); }
  async info(name: string) { const b = this.boxes.get(name); if (!b) throw new AgentError('E_NOT_FOUND', 'no'); return { ...b, ipv4: [], cpuNs: 0, memoryBytes: 0, raw: {} }; }
  async resolveTemplate(t: string) { if (t !== 'busybox') throw new AgentError('E_NOT_FOUND', `unknown template '${t}'`); return '/t/cloudy-busybox'; }
  async create(name: string, _t: string, config: string) {
    this.calls.push(`create ${name}`);
    this.boxes.set(name, { name, state: 'STOPPED', pid: 0, autostart: false, config, service: this.serviceJson });
    if (this.failCreate) throw new AgentError('E_EXEC', this.failCreate);
  }
  async start(name: string) { this.calls.push(`start ${name}`); const b = this.boxes.get(name)!; b.state = 'RUNNING'; b.pid = 1000 + this.calls.length; }
  async stop(name: string) { this.calls.push(`stop ${name}`); const b = this.boxes.get(name)!; b.state = 'STOPPED'; b.pid = 0; }
  async destroy(name: string) { this.calls.push(`destroy ${name}`); this.boxes.delete(name); }
  failFlush: string | null = null;
  onFlush: (name: string) => void = () => {};
  async flush(name: string) { this.calls.push(`flush ${name}`); this.onFlush(name); if (this.failFlush) throw new AgentError('E_EXEC', this.failFlush); }
  async attach() { return { exitCode: 0, stdout: '', stderr: '', timedOut: false }; }
  async cgroupSet() {}
  async cgroupGet() { return ''; }
  async readConfig(name: string) { return this.boxes.get(name)!.config; }
  foreignConfigs: { name: string; ipv4: string[] }[] = [];
  async pinAddress() { return []; }
  rootfsFiles = new Map<string, string>();
  async writeRootfsFile(name: string, rel: string, text: string) { this.calls.push(`write ${name} ${rel}`); this.rootfsFiles.set(`${name}/${rel}`, text); return true; }
  async configuredAddresses() { return this.foreignConfigs; }
  async writeConfig(name: string, t: string) { this.boxes.get(name)!.config = t; }
  async readServiceFile(name: string) { return this.boxes.get(name)?.service ?? null; }
  async lastExit() { return 'failure' as const; }
}

function setup(o: { publishError?: AgentError; neighbours?: string[]; answering?: string[]; initial?: ContainersState } = {}) {
  const driver = new FakeDriver();
  let now = 1_000_000;
  const saved: ContainersState[] = [];
  const forwards: PortForward[][] = [];
  const publishes: string[] = [];
  const counters = new Counters();
  const m = new ContainerManager({
    driver,
    forwarder: { apply: async (f) => { forwards.push([...f]); } },
    publisher: {
      publish: async (s) => { publishes.push(`${s.type}:${s.port}@${s.ip}`); if (o.publishError) throw o.publishError; },
      unpublish: async () => {},
    },
    store: { load: async () => (o.initial ? structuredClone(o.initial) : null), save: async (s) => { saved.push(structuredClone(s)); } },
    checker: { check: async () => true },
    logger: Logger.silent(), counters, limits: defaultLimits(),
    network: { bridge: 'br', cidr: '10.9.0.0/24', gateway: '10.9.0.1' }, communityIp: '10.1.1.1',
    cgroupLayout: { memory: 2, cpu: 2 }, hostCpus: 4, bootId: 'boot', now: () => now,
    ...(o.neighbours ? { bridgeNeighbours: async () => o.neighbours! } : {}),
    ...(o.answering ? { probeAddress: async (ip: string) => o.answering!.includes(ip) } : {}),
  });
  return { m, driver, saved, forwards, publishes, counters, advance: (ms: number) => { now += ms; } };
}

test('IPAM skips every address in use on the bridge: other containers\' configs, running containers, neighbours (issue 13 point 8)', async () => {
  const { m, driver } = setup({ neighbours: ['10.9.0.5', '192.168.1.1'] });
  await m.init();
  driver.foreignConfigs = [{ name: 'byhand', ipv4: ['10.9.0.2'] }];
  driver.boxes.set('other', { name: 'other', state: 'RUNNING', pid: 7, autostart: false, config: '', service: null });
  const list = driver.list.bind(driver);
  driver.list = async () => (await list()).map((c) => (c.name === 'other' ? { ...c, ipv4: ['10.9.0.3', '10.9.0.4'] } : c));
  assert.is((await m.create({ name: 'c1', template: 'busybox' })).ipv4, '10.9.0.6');
  assert.is((await m.create({ name: 'c2', template: 'busybox', hostPort: 8081 })).ipv4, '10.9.0.7');
});

test('IPAM skips a candidate a silent host answers for (ARP probe); a running container without its address is reported once (issue 13 points 7, 8)', async () => {
  const { m, driver, counters } = setup({ answering: ['10.9.0.2', '10.9.0.3'] });
  await m.init();
  const v = await m.create({ name: 'c1', template: 'busybox', start: true });
  assert.is(v.ipv4, '10.9.0.4');
  const list = driver.list.bind(driver);
  let held = ['10.9.0.4'];
  driver.list = async () => (await list()).map((c) => ({ ...c, ipv4: held }));
  await m.tick();
  assert.is((await m.list())[0]!.addressError, '');
  held = [];
  await m.tick();
  await m.tick();
  assert.match((await m.list())[0]!.addressError, /10\.9\.0\.4 missing: the container has no IPv4/);
  assert.is(m.recentEvents().filter((e) => e.kind === 'address-mismatch').length, 1, 'reported once per change');
  assert.is(counters.get('containers.address_mismatch'), 1);
  held = ['10.9.0.4'];
  await m.tick();
  assert.is((await m.list())[0]!.addressError, '');
});

test('extra forwards (Tahoe\'s storage node): a host port each beside the service\'s, clear of other forwards, in the state, told to the container before every start, gone on destroy (issue 13 point 10)', async () => {
  const { m, driver, saved, forwards } = setup();
  await m.init();
  driver.serviceJson = '{"type":"tahoe-lafs","port":3457,"protocol":"tcp","description":"g","txt":"","check":{"kind":"tcp","arg":"3457"},"forwards":[{"name":"storage","port":3458}]}';
  const a = await m.create({ name: 'g1', template: 'busybox', start: true });
  assert.equal(a.service!.forwards, [{ name: 'storage', port: 3458, hostPort: 3458, protocol: 'tcp' }]);
  // A second grid: its introducer on a chosen port, its storage node on the next port free of g1's forwards.
  const b = await m.create({ name: 'g2', template: 'busybox', hostPort: 13457 });
  assert.equal(b.service!.forwards, [{ name: 'storage', port: 3458, hostPort: 3459, protocol: 'tcp' }]);
  const rules = forwards.at(-1)!.map((f) => `${f.owner} ${f.hostIp}:${f.hostPort}->${f.containerPort}`).sort();
  assert.equal(rules, ['g1 10.1.1.1:3457->3457', 'g1 10.1.1.1:3458->3458', 'g2 10.1.1.1:13457->3457', 'g2 10.1.1.1:3459->3458']);
  assert.equal(saved.at(-1)!.containers.find((c) => c.name === 'g2')!.service!.forwards, [{ name: 'storage', port: 3458, hostPort: 3459, protocol: 'tcp' }]);
  // Written before the start, with the host's community address and both host ports.
  const w = driver.calls.indexOf('write g1 etc/cloudy-agent/endpoints.env');
  assert.ok(w >= 0 && w < driver.calls.indexOf('start g1'));
  assert.is(driver.rootfsFiles.get('g1/etc/cloudy-agent/endpoints.env'), [
    '# Written by cloudy-agent before every start: where the community network reaches this container.',
    'CLOUDY_HOST_IP=10.1.1.1', 'CLOUDY_CONTAINER_IP=10.9.0.2', 'CLOUDY_SERVICE_PORT=3457', 'CLOUDY_PORT_storage=3458', '',
  ].join('\n'));
  // Another container may not take a host port an extra forward holds.
  driver.serviceJson = '{"type":"web","port":80}';
  await m.create({ name: 'w', template: 'busybox', hostPort: 3459 }).then(() => assert.unreachable(), (e) => assert.match(String(e), /host port 3459\/tcp is already forwarded to container g2/));
  await m.destroy('g2');
  assert.equal(forwards.at(-1)!.map((f) => f.hostPort).sort(), [3457, 3458]);
  // The user may choose the host port; a name the template does not forward is refused.
  driver.serviceJson = '{"type":"tahoe-lafs","port":3457,"forwards":[{"name":"storage","port":3458}]}';
  const c = await m.create({ name: 'g3', template: 'busybox', hostPort: 23457, forwardPorts: 'storage=23458' });
  assert.equal(c.service!.forwards!.map((f) => f.hostPort), [23458]);
  await m.create({ name: 'g4', template: 'busybox', hostPort: 33457, forwardPorts: 'web=80' }).then(() => assert.unreachable(), (e) => assert.match(String(e), /no forward named web/));
  await m.create({ name: 'g5', template: 'busybox', hostPort: 33457, forwardPorts: 'storage=23458' }).then(() => assert.unreachable(), (e) => assert.match(String(e), /host port 23458\/tcp is already forwarded to container g3/));
  await m.destroy('g3');
  // A bad forwards list is refused and the half-made container removed.
  driver.serviceJson = '{"type":"x","port":80,"forwards":[{"name":"Bad Name","port":81}]}';
  await m.create({ name: 'bad', template: 'busybox' }).then(() => assert.unreachable(), (e) => assert.match(String(e), /forward name "Bad Name"/));
  assert.not.ok(driver.boxes.has('bad'));
});

test('create writes network, limits (cgroup v2 keys), autostart and log keys into the initial config', async () => {
  const { m, driver, saved, forwards } = setup();
  await m.init();
  const v = await m.create({ name: 'c1', template: 'busybox', memory: '64M', cpus: '1.5', autostart: true, startOrder: 3, hostPort: 8080 });
  assert.is(v.ipv4, '10.9.0.2');
  const cfg = driver.boxes.get('c1')!.config;
  for (const line of ['lxc.net.0.link = br', 'lxc.net.0.ipv4.address = 10.9.0.2/24', 'lxc.net.0.ipv4.gateway = 10.9.0.1',
    'lxc.cgroup2.memory.max = 67108864', 'lxc.cgroup2.cpu.max = 150000 100000', 'lxc.start.auto = 1', 'lxc.start.order = 3',
    'lxc.log.level = INFO', 'lxc.log.file = /var/lib/lxc/c1/cloudy-lxc.log']) {
    assert.ok(cfg.includes(line), `missing: ${line}\n${cfg}`);
  }
  assert.not.ok(cfg.includes('lxc.cgroup.memory'), 'no v1 keys on a v2 host');
  assert.is(saved.at(-1)!.containers[0]!.name, 'c1');
  assert.equal(forwards.at(-1), [{ owner: 'c1', protocol: 'tcp', hostIp: '10.1.1.1', hostPort: 8080, containerIp: '10.9.0.2', containerPort: 80 }]);
  const v2 = await m.create({ name: 'c2', template: 'busybox', hostPort: 8081 });
  assert.is(v2.ipv4, '10.9.0.3');
  try {
    await m.create({ name: 'c3', template: 'busybox', hostPort: 8080 });
    assert.unreachable();
  } catch (e) {
    assert.ok(isAgentError(e, 'E_EXISTS'));
    assert.match((e as Error).message, 'host port 8080/tcp is already forwarded to container c1');
  }
});

test('a new container is flushed to disk before the state file calls it created; a flush that fails rolls the create back (power cut right after create)', async () => {
  const { m, driver, saved } = setup();
  await m.init();
  let recordedAtFlush: ContainersState | undefined;
  driver.onFlush = () => { recordedAtFlush = structuredClone(saved.at(-1)); };
  await m.create({ name: 'durable', template: 'busybox' });
  assert.equal(driver.calls, ['create durable', 'flush durable']);
  // At the flush only the write-ahead mark is on disk; the created record comes after it.
  assert.is(recordedAtFlush?.containers.find((c) => c.name === 'durable')?.pending, 'create');
  const last = saved.at(-1)!.containers.find((c) => c.name === 'durable')!;
  assert.is(last.pending, undefined);
  driver.calls = [];
  driver.failFlush = 'sync exited with status 1: Input/output error';
  driver.serviceJson = null;
  try { await m.create({ name: 'lost', template: 'busybox' }); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_EXEC'), String(e)); }
  assert.equal(driver.calls, ['create lost', 'flush lost', 'destroy lost']);
  assert.not.ok(saved.at(-1)!.containers.some((c) => c.name === 'lost'));
  assert.equal((await m.list()).map((c) => c.name), ['durable']);
});

test('a failed template run is cleaned up; a bad cloudy-service.json too', async () => {
  const { m, driver } = setup();
  await m.init();
  driver.failCreate = 'lxc-create exited with status 1: template failed';
  try { await m.create({ name: 'bad', template: 'busybox' }); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_EXEC')); }
  assert.equal(driver.calls, ['create bad', 'destroy bad']);
  assert.is(driver.boxes.size, 0);
  driver.failCreate = null;
  driver.serviceJson = '{not json';
  try { await m.create({ name: 'bad2', template: 'busybox' }); assert.unreachable(); } catch (e) { assert.ok(isAgentError(e, 'E_DECODE')); }
  assert.is(driver.boxes.size, 0);
  assert.equal((await m.list()).length, 0);
  // The reserved address was released: the next container gets the first one.
  driver.serviceJson = null;
  assert.is((await m.create({ name: 'ok', template: 'busybox' })).ipv4, '10.9.0.2');
});

test('a restart by the reconciler (the container stopped unexpectedly) tells the container its forwarded ports again before starting it', async () => {
  const { m, driver, advance } = setup();
  await m.init();
  driver.serviceJson = '{"type":"tahoe-lafs","port":3457,"forwards":[{"name":"storage","port":3458}]}';
  await m.create({ name: 'g1', template: 'busybox', start: true, restart: 'always' });
  await m.tick();
  driver.rootfsFiles.clear();
  driver.calls.length = 0;
  const b = driver.boxes.get('g1')!;
  b.state = 'STOPPED';
  b.pid = 0;
  for (let i = 0; i < 5 && !driver.calls.includes('start g1'); i++) { await m.tick(); advance(5_000); }
  assert.ok(driver.calls.includes('start g1'), driver.calls.join(', '));
  const w = driver.calls.indexOf('write g1 etc/cloudy-agent/endpoints.env');
  assert.ok(w >= 0 && w < driver.calls.indexOf('start g1'), driver.calls.join(', '));
  assert.match(driver.rootfsFiles.get('g1/etc/cloudy-agent/endpoints.env') ?? '', /\nCLOUDY_PORT_storage=3458\n/);
});

test('a refused publish (tags full) is counted and retried only after a pause', async () => {
  const { m, publishes, counters, advance } = setup({ publishError: new AgentError('E_TOO_LARGE', 'tags would be 600 bytes') });
  await m.init();
  await m.create({ name: 'c1', template: 'busybox', start: true });
  await m.tick();
  await m.tick();
  await m.tick();
  assert.is(publishes.length, 1);
  assert.is(counters.get('drop.containers.publish_too_large'), 1);
  advance(61_000);
  await m.tick();
  assert.is(publishes.length, 2);
});

test('a container destroyed by hand is forgotten, its forward removed', async () => {
  const { m, driver, forwards, saved } = setup();
  await m.init();
  await m.create({ name: 'c1', template: 'busybox', start: true });
  await m.tick();
  driver.boxes.delete('c1');
  await m.tick();
  assert.equal(forwards.at(-1), []);
  assert.equal(saved.at(-1)!.containers, []);
  assert.ok(m.recentEvents().some((e) => e.kind === 'vanished' && e.name === 'c1'));
});

test('start and stop are written ahead (pending mark saved before LXC is touched, cleared after)', async () => {
  const { m, driver, saved } = setup();
  await m.init();
  await m.create({ name: 'c1', template: 'busybox' });
  const before = saved.length;
  const seen: string[] = [];
  const stop = driver.stop.bind(driver);
  driver.stop = async (n: string) => { seen.push(`stop with ${saved.at(-1)!.containers[0]!.pending}/${saved.at(-1)!.containers[0]!.desired}`); await stop(n); };
  const start = driver.start.bind(driver);
  driver.start = async (n: string) => { seen.push(`start with ${saved.at(-1)!.containers[0]!.pending}/${saved.at(-1)!.containers[0]!.desired}`); await start(n); };
  await m.start('c1');
  await m.stop('c1');
  assert.equal(seen, ['start with start/running', 'stop with stop/stopped']);
  assert.ok(saved.length > before);
  assert.is(saved.at(-1)!.containers[0]!.pending, undefined);
});

/** A saved state as a kill left it: c1 with its mark, LXC in `lxc`. */
function cutState(pending: 'start' | 'stop', desired: 'running' | 'stopped'): ContainersState {
  return { version: 1, bootId: 'boot', containers: [{
    name: 'c1', template: 'busybox', templateArgs: [], memoryBytes: 0, cpus: 0, autostart: false, startOrder: 0, startDelaySec: 0,
    restart: 'never', ipv4: '10.9.0.2', service: null, createdAt: 1, desired, pending,
  } as never] };
}

test('a stop cut by a kill (halt signal sent, container still running) is finished at start: stopped, never adopted as started by hand (issue 18)', async () => {
  const { m, driver, saved, counters } = setup({ initial: cutState('stop', 'stopped') });
  driver.boxes.set('c1', { name: 'c1', state: 'RUNNING', pid: 7, autostart: false, config: '', service: null });
  await m.init();
  assert.is(driver.boxes.get('c1')!.state, 'STOPPED');
  assert.equal(driver.calls, ['stop c1']);
  assert.is(saved.at(-1)!.containers[0]!.pending, undefined);
  assert.is(saved.at(-1)!.containers[0]!.desired, 'stopped');
  assert.is(counters.get('containers.cut_stop_finished'), 1);
  await m.tick();
  assert.not.ok(m.recentEvents().some((e) => e.kind === 'started-by-hand'));
  assert.is(driver.boxes.get('c1')!.state, 'STOPPED');
});

test('a start cut by a kill is finished at start (running, desired running); one LXC already did is left alone', async () => {
  const a = setup({ initial: cutState('start', 'running') });
  a.driver.boxes.set('c1', { name: 'c1', state: 'STOPPED', pid: 0, autostart: false, config: '', service: null });
  await a.m.init();
  assert.is(a.driver.boxes.get('c1')!.state, 'RUNNING');
  assert.is(a.saved.at(-1)!.containers[0]!.desired, 'running');
  assert.is(a.saved.at(-1)!.containers[0]!.pending, undefined);
  await a.m.tick();
  assert.is(a.driver.boxes.get('c1')!.state, 'RUNNING');
  const b = setup({ initial: cutState('start', 'running') });
  b.driver.boxes.set('c1', { name: 'c1', state: 'RUNNING', pid: 9, autostart: false, config: '', service: null });
  await b.m.init();
  assert.equal(b.driver.calls, []);
  // A restart cut in its stop half is finished as the restart asked: running.
  const c = setup({ initial: cutState('start', 'stopped') });
  c.driver.boxes.set('c1', { name: 'c1', state: 'STOPPED', pid: 0, autostart: false, config: '', service: null });
  await c.m.init();
  assert.is(c.driver.boxes.get('c1')!.state, 'RUNNING');
  assert.is(c.saved.at(-1)!.containers[0]!.desired, 'running');
});

test('a pass with no managed container does not ask LXC (no lxc-ls every 5 s on a fresh box); one with a container does, and sees it vanish', async () => {
  const { m, driver } = setup();
  await m.init();
  let lists = 0;
  const list = driver.list.bind(driver);
  driver.list = async () => { lists++; return list(); };
  await m.tick();
  await m.tick();
  assert.is(lists, 0);
  await m.create({ name: 'c1', template: 'busybox' });
  const before = lists;
  await m.tick();
  assert.ok(lists > before, 'a managed container is observed');
  driver.boxes.delete('c1'); // destroyed outside the agent
  const actions = await m.tick();
  assert.ok(actions.some((a) => a.kind === 'forget' && a.name === 'c1'), JSON.stringify(actions));
  const after = lists;
  await m.tick(); // nothing managed any more: LXC is left alone again
  assert.is(lists, after);
});

test.run();
