// ContainerManager: the service layer behind the `lxc-*` RPC commands and the
// reconciler loop. It owns the desired state (persisted through the store),
// drives LXC through the injected driver, keeps the port forwards in step with
// the containers that have a service, and publishes/withdraws those services
// through the ServicePublisher as their containers come and go.
//
// All operations (user commands and reconciler passes) run one at a time, so a
// reconciler pass never sees a half-done create or stop.
import { AgentError, errorMessage, isAgentError } from '../errors.ts';
import type { Logger } from '../obs/log.ts';
import { SerialQueue } from '../system/serial-queue.ts';
import type { Counters } from '../obs/counters.ts';
import type { Limits } from '../config/limits.ts';
import type { ServicePublisher } from '../discovery/publisher.ts';
import type { ContainerDriver, AttachResult } from './driver.ts';
import type { PortForward } from './port-forward.ts';
import type { ContainerHealth } from './container-health.ts';
import { allocateIpv4, parseCidr, type BridgeNetwork } from './ipam.ts';
import { editLxcConfig, liveLimitSettings, readLxcConfig, renderLimitKeys } from './lxc-config.ts';
import { LXC_LOG_FILE } from './lxc-output.ts';
import type { CgroupLayout } from '../system/cgroup.ts';
import { DEFAULT_TUNING, reconcile, type Action, type ExitCause, type RestartTuning, type RuntimeInfo } from './reconcile.ts';
import type { ContainersState } from './state-store.ts';
import type {
  ContainerEvent, ContainerEventKind, ContainerInfo, ContainerSpec, ObservedContainer, RestartPolicy, ServiceProtocol, ServiceSpec,
} from './types.ts';
import { protocolsOf } from './types.ts';
import { allocateHostPorts, clashWith, endpointsFile, ENDPOINTS_PATH, forwardedPorts, parseExtraForwards, parseForwardPortRequest, type TakenPort } from './extra-forwards.ts';
import {
  normalizeDescription, parseCpus, parseIntInRange, parseMemory, parsePort, parseRestartPolicy, validateName,
  validateServiceType, validateTemplateArgs, validateTemplateName, validateTxt,
} from './validate.ts';

export interface StateStoreLike {
  /** `said` reports a bad file moved aside (the store then answers null). */
  load(said?: (msg: string) => void): Promise<ContainersState | null>;
  save(s: ContainersState): Promise<void>;
}

export interface ForwarderLike {
  apply(forwards: readonly PortForward[]): Promise<void>;
}

export interface ContainerManagerOptions {
  driver: ContainerDriver;
  forwarder: ForwarderLike;
  publisher: ServicePublisher;
  store: StateStoreLike;
  checker: ContainerHealth;
  logger: Logger;
  counters: Counters;
  limits: Limits;
  network: BridgeNetwork;
  /** The host's community IPv4: services are announced and forwarded on it. */
  communityIp: string;
  cgroupLayout: CgroupLayout;
  hostCpus: number;
  bootId: string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  tuning?: RestartTuning;
  /** Whether the bridge exists (default: assume it does; the plug-in checks /sys/class/net). */
  bridgeExists?: (bridge: string) => Promise<boolean>;
  /** IPv4 neighbours seen on the bridge (hosts the agent did not configure; default: none). */
  bridgeNeighbours?: (bridge: string) => Promise<string[]>;
  /** Whether a silent host on the bridge answers for this address (ARP); default: not asked. */
  probeAddress?: (ip: string, bridge: string) => Promise<boolean>;
  onEvent?: (e: ContainerEvent) => void;
}

/** What `lxc create` accepts (all values unvalidated user input). */
export interface CreateRequest {
  name: unknown;
  template: unknown;
  templateArgs?: unknown;
  memory?: unknown;
  cpus?: unknown;
  autostart?: unknown;
  startOrder?: unknown;
  startDelay?: unknown;
  restart?: unknown;
  serviceType?: unknown;
  servicePort?: unknown;
  serviceDescription?: unknown;
  serviceTxt?: unknown;
  hostPort?: unknown;
  /** Host ports chosen for the template's extra forwards: "NAME=PORT[,NAME=PORT...]". */
  forwardPorts?: unknown;
  start?: unknown;
}

/** What `lxc config` may change: the limits and start policy of a create request. */
export type ConfigChange = Pick<CreateRequest, 'memory' | 'cpus' | 'autostart' | 'startOrder' | 'startDelay' | 'restart'>;

export interface ContainerView {
  name: string;
  managed: boolean;
  state: string;
  desired: string;
  pid: number;
  ipv4: string;
  template: string;
  memoryBytes: number;
  cpus: number;
  autostart: boolean;
  startOrder: number;
  startDelaySec: number;
  restart: string;
  service: (ServiceSpec & { published: boolean; hostIp: string }) | null;
  /** Non-empty when the running container does not hold the address the agent gave it (a DHCP client in it, a hand change). */
  addressError: string;
}

/** Why a running container's addresses do not include the one the agent assigned; '' when they do or it is not known. */
export function addressProblem(assigned: string, obs: ObservedContainer | undefined): string {
  if (!assigned || obs?.state !== 'RUNNING' || obs.ipv4 === undefined || obs.ipv4.includes(assigned)) return '';
  return obs.ipv4.length === 0
    ? `address ${assigned} missing: the container has no IPv4 (a DHCP client in it dropped it?); port forwards and its service point nowhere`
    : `address ${assigned} missing: the container has ${obs.ipv4.join(', ')} instead; port forwards and its service point to ${assigned}`;
}

const MAX_ORDER = 10_000;
/** Pause before publishing again a service the publisher refused (e.g. the 512-byte tags are full). */
const PUBLISH_RETRY_MS = 60_000;
const MAX_DELAY_SEC = 3_600;
/** Candidate addresses ARP-probed per create before taking the next one unprobed. */
const MAX_ADDRESS_PROBES = 16;

export class ContainerManager {
  private specs = new Map<string, ContainerSpec>();
  private runtime = new Map<string, RuntimeInfo>();
  private readonly published = new Set<string>();
  private readonly publishRefusedAt = new Map<string, number>();
  /** Containers being created (template running): name -> reserved address. */
  private readonly creating = new Map<string, string>();
  /** Their write-ahead entries (pending: 'create'), saved with the specs until the create ends. */
  private readonly intents = new Map<string, ContainerSpec>();
  private readonly queue = new SerialQueue();
  private afterReboot = false;
  private firstPass = true;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly tuning: RestartTuning;
  private readonly events: ContainerEvent[] = [];
  private readonly addressProblems = new Map<string, string>();

  constructor(private readonly o: ContainerManagerOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.tuning = o.tuning ?? DEFAULT_TUNING;
    parseCidr(o.network.cidr);
  }

  /** Runs fn after every earlier operation finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }

  /** Loads the desired state. Never stops or starts anything by itself; the first tick() does. */
  async init(): Promise<void> {
    return this.serial(async () => {
      const st = await this.o.store.load((m) => this.o.logger.warn(m));
      const cut: ContainerSpec[] = [];
      const cutRuns: ContainerSpec[] = [];
      for (const c of st?.containers ?? []) {
        if (c.pending === 'create' || c.pending === 'destroy') cut.push(c);
        else { this.specs.set(c.name, c); if (c.pending) cutRuns.push(c); }
      }
      await this.finishCutOperations(cut);
      await this.finishCutRuns(cutRuns);
      await this.adoptAnnouncedServices();
      this.afterReboot = !!st && st.bootId !== '' && this.o.bootId !== '' && st.bootId !== this.o.bootId;
      if (this.afterReboot) this.o.logger.info('host rebooted since the state was saved: bringing autostart containers up in order');
      await this.applyForwards();
      await this.save();
    });
  }

  /**
   * The agent was killed during a create or a destroy (the write-ahead mark is
   * still saved): a create is rolled back (its half-made container destroyed,
   * so no container the agent does not know is left in LXC), a destroy is
   * finished. Either way the state is the one before or after the command.
   */
  private async finishCutOperations(cut: readonly ContainerSpec[]): Promise<void> {
    if (cut.length === 0) return;
    const inLxc = new Set((await this.o.driver.list()).map((c) => c.name));
    for (const c of cut) {
      const what = c.pending === 'create' ? 'create' : 'destroy';
      try {
        if (inLxc.has(c.name)) await this.o.driver.destroy(c.name);
        // An lxc-create killed mid-way leaves a directory marked partial that LXC neither lists nor destroys, and that blocks the name.
        else if (await this.o.driver.removePartial?.(c.name)) this.o.logger.info(`${c.name}: removed the partial container directory`);
        this.o.counters.inc(`containers.cut_${what}_finished`);
        this.o.logger.warn(`${c.name}: the agent stopped during its ${what}: ${what === 'create' ? 'rolled back (half-made container destroyed)' : 'destroy finished'}`);
      } catch (e) {
        // Kept with its mark: tried again at the next start.
        this.intents.set(c.name, c);
        this.o.logger.error(`${c.name}: cannot finish the cut ${what}: ${errorMessage(e)}`);
      }
    }
  }

  /**
   * The agent was killed during a start or a stop (its mark is still saved):
   * LXC may have it half done (lxc-stop's halt signal sent, init still
   * shutting down; lxc-start's monitor up, init not yet running). It is
   * finished now, before any command or reconciler pass, so the container ends
   * in the state the cut command asked for and does not change later on its
   * own; the first reconciler pass then sees no "started by hand" container.
   */
  private async finishCutRuns(cut: readonly ContainerSpec[]): Promise<void> {
    for (const s of cut) {
      const what = s.pending;
      s.desired = what === 'stop' ? 'stopped' : 'running';
      try {
        if (what === 'stop') {
          if ((await this.observe(s.name))?.state !== 'STOPPED') await this.o.driver.stop(s.name);
          await this.settle(s.name, 'STOPPED');
        } else {
          const st = (await this.observe(s.name))?.state;
          if (st === 'STARTING') await this.settle(s.name, 'RUNNING');
          else if (st !== 'RUNNING') { await this.prepareRootfs(s); await this.o.driver.start(s.name); }
        }
        this.o.counters.inc(`containers.cut_${what}_finished`);
        this.o.logger.warn(`${s.name}: the agent stopped during its ${what}: ${what} finished`);
      } catch (e) {
        this.o.counters.inc(`containers.cut_${what}_failed`);
        this.o.logger.error(`${s.name}: cannot finish the cut ${what}: ${errorMessage(e)}; the reconciler takes it from here (desired ${s.desired})`);
      }
      delete s.pending;
    }
  }

  /** Waits (bounded) until LXC reports the container in `state`. */
  private async settle(name: string, state: 'RUNNING' | 'STOPPED'): Promise<void> {
    for (let i = 0; i < 150; i++) {
      const now = (await this.observe(name))?.state ?? 'STOPPED';
      if (now === state) return;
      await this.sleep(200);
    }
    throw new AgentError('E_TIMEOUT', `${name} did not reach ${state} within 30 s`);
  }

  /**
   * After a restart discovery re-announces the saved services, container ones
   * included. Those of a managed container are marked published (the
   * reconciler withdraws them if it is stopped, gone or failing its check);
   * those of a container the agent no longer manages are withdrawn now, so no
   * service is announced for a container that is gone.
   */
  private async adoptAnnouncedServices(): Promise<void> {
    for (const svc of this.o.publisher.announced?.() ?? []) {
      const owner = svc.owner ?? '';
      if (!owner.startsWith('container:')) continue;
      const s = this.specs.get(owner.slice('container:'.length));
      if (s?.service && s.service.type === svc.type && s.service.hostPort === svc.port) {
        this.published.add(s.name);
        continue;
      }
      await this.o.publisher.unpublish(svc.type, svc.port);
      this.o.counters.inc('containers.orphan_service_withdrawn');
      this.o.logger.warn(`withdrew ${svc.type}:${svc.port}, announced for ${owner} which the agent no longer manages`);
    }
  }

  managedCount(): number { return this.specs.size; }
  runningCount(): number { return [...this.runtime.values()].filter((r) => r.lastState === 'RUNNING').length; }
  publishedCount(): number { return this.published.size; }

  /** Recent events (bounded), oldest first. */
  recentEvents(): readonly ContainerEvent[] { return this.events; }

  private emit(name: string, kind: ContainerEventKind, detail: string): void {
    const e: ContainerEvent = { kind, name, at: this.now(), detail };
    this.events.push(e);
    if (this.events.length > 256) this.events.shift();
    this.o.counters.inc(`containers.event.${kind}`);
    const line = `${name}: ${kind}${detail ? ` (${detail})` : ''}`;
    if (kind === 'stopped-unexpectedly' || kind === 'vanished' || kind === 'gave-up' || kind === 'restart-failed' || kind === 'service-check-failed' || kind === 'started-by-hand') {
      this.o.logger.warn(line);
    } else {
      this.o.logger.info(line);
    }
    try { this.o.onEvent?.(e); } catch { /* a subscriber's failure is not ours */ }
  }

  private async save(): Promise<void> {
    await this.o.store.save({ version: 1, bootId: this.o.bootId, containers: [...this.specs.values(), ...this.intents.values()] });
  }

  private forwards(): PortForward[] {
    const out: PortForward[] = [];
    for (const s of this.specs.values()) {
      if (!s.service) continue;
      for (const f of [s.service, ...(s.service.forwards ?? [])]) {
        for (const protocol of protocolsOf(f.protocol)) {
          out.push({ owner: s.name, protocol, hostIp: this.o.communityIp, hostPort: f.hostPort, containerIp: s.ipv4, containerPort: f.port });
        }
      }
    }
    return out;
  }

  private async applyForwards(): Promise<void> {
    await this.o.forwarder.apply(this.forwards());
  }

  private spec(name: unknown): ContainerSpec {
    const n = validateName(name);
    const s = this.specs.get(n);
    if (!s) throw new AgentError('E_NOT_FOUND', `container ${n} is not managed by this agent`);
    return s;
  }

  // ---- commands -------------------------------------------------------------

  list(): Promise<ContainerView[]> {
    return this.serial(async () => {
      await this.o.driver.available();
      const observed = new Map((await this.o.driver.list()).map((c) => [c.name, c]));
      const names = new Set([...this.specs.keys(), ...observed.keys()]);
      return [...names].sort().map((n) => this.view(n, observed.get(n)));
    });
  }

  private view(name: string, obs: ObservedContainer | undefined): ContainerView {
    const s = this.specs.get(name);
    return {
      name,
      managed: !!s,
      state: obs?.state ?? 'MISSING',
      desired: s?.desired ?? '',
      pid: obs?.pid ?? 0,
      ipv4: s?.ipv4 ?? '',
      template: s?.template ?? '',
      memoryBytes: s?.memoryBytes ?? 0,
      cpus: s?.cpus ?? 0,
      autostart: s ? s.autostart : obs?.autostart ?? false,
      startOrder: s?.startOrder ?? 0,
      startDelaySec: s?.startDelaySec ?? 0,
      restart: s?.restart ?? '',
      service: s?.service ? { ...s.service, published: this.published.has(name), hostIp: this.o.communityIp } : null,
      addressError: s ? addressProblem(s.ipv4, obs) : '',
    };
  }

  async create(req: CreateRequest): Promise<ContainerView> {
    // Validate everything before touching anything.
    const name = validateName(req.name);
    const template = validateTemplateName(req.template);
    const templateArgs = validateTemplateArgs(req.templateArgs);
    const memoryBytes = parseMemory(req.memory);
    const cpus = parseCpus(req.cpus, this.o.hostCpus);
    const restart: RestartPolicy = parseRestartPolicy(req.restart);
    const startOrder = parseIntInRange(req.startOrder, 'start order', -MAX_ORDER, MAX_ORDER, 0);
    const startDelaySec = parseIntInRange(req.startDelay, 'start delay', 0, MAX_DELAY_SEC, 0);
    const autostart = req.autostart === true || req.autostart === 'true' || req.autostart === 1;
    const svcOverride = {
      type: req.serviceType === undefined || req.serviceType === '' ? undefined : validateServiceType(req.serviceType),
      port: req.servicePort === undefined || req.servicePort === '' || req.servicePort === 0 ? undefined : parsePort(req.servicePort, 'service port'),
      description: req.serviceDescription === undefined ? undefined : normalizeDescription(req.serviceDescription),
      txt: req.serviceTxt === undefined ? undefined : validateTxt(req.serviceTxt),
      hostPort: req.hostPort === undefined || req.hostPort === '' || req.hostPort === 0 ? undefined : parsePort(req.hostPort, 'host port'),
      forwardPorts: parseForwardPortRequest(req.forwardPorts),
    };
    // Phase 1 (serialised): checks and reservations (name, address, host port).
    const prep = await this.serial(async () => {
      await this.o.driver.available();
      if (this.specs.has(name) || this.creating.has(name)) throw new AgentError('E_EXISTS', `container ${name} already exists`);
      if (this.specs.size + this.creating.size >= this.o.limits.maxContainers) {
        this.o.counters.inc('drop.containers.limit');
        throw new AgentError('E_LIMIT', `this agent already manages ${this.specs.size + this.creating.size} containers (limit maxContainers=${this.o.limits.maxContainers})`);
      }
      const existing = await this.o.driver.list();
      if (existing.some((c) => c.name === name)) throw new AgentError('E_EXISTS', `container ${name} already exists in LXC (not managed by the agent)`);
      const templatePath = await this.o.driver.resolveTemplate(template);
      if (this.o.bridgeExists && !(await this.o.bridgeExists(this.o.network.bridge))) {
        throw new AgentError('E_UNAVAILABLE', `bridge ${this.o.network.bridge} does not exist: enable lxc-net (USE_LXC_BRIDGE=true) or configure the agent's container bridge`);
      }
      const hostPortWanted = svcOverride.hostPort ?? svcOverride.port;
      if (hostPortWanted !== undefined) this.checkHostPortFree(hostPortWanted, name);
      for (const p of svcOverride.forwardPorts.values()) this.checkHostPortFree(p, name);
      const ipv4 = await this.freeAddress(existing);
      this.creating.set(name, ipv4);
      const lxcDir = await this.o.driver.lxcPath();
      // Write-ahead: a kill during the template run leaves this mark, and the next start rolls the create back.
      this.intents.set(name, {
        name, template, desired: 'stopped', memoryBytes, cpus, autostart, startOrder, startDelaySec, restart, ipv4, service: null, createdAt: this.now(), pending: 'create',
      });
      try {
        await this.save();
      } catch (e) {
        this.intents.delete(name);
        this.creating.delete(name);
        throw e;
      }
      return { templatePath, ipv4, config: this.renderCreateConfig(name, lxcDir, ipv4, { memoryBytes, cpus, autostart, startOrder, startDelaySec }) };
    });
    // Phase 2 (not serialised): the template run, which may take minutes for a
    // Debian build, must not hold up the reconciler or other commands.
    const started = this.now();
    try {
      await this.o.driver.create(name, prep.templatePath, prep.config, templateArgs);
    } catch (e) {
      await this.cleanupFailedCreate(name);
      this.creating.delete(name);
      await this.serial(async () => { this.intents.delete(name); await this.save(); });
      throw e;
    }
    // Phase 3 (serialised): adopt it.
    return this.serial(async () => {
      const pinned = await this.pinAddress(name, prep.ipv4);
      let service: ServiceSpec | null;
      try {
        service = this.serviceFor(name, await this.o.driver.readServiceFile(name), svcOverride);
        if (service) this.checkHostPortFree(service.hostPort, name, service.protocol);
        // Durable before it is recorded as created: until then the pending mark rolls it back.
        await this.o.driver.flush?.(name);
      } catch (e) {
        await this.cleanupFailedCreate(name);
        this.intents.delete(name);
        await this.save();
        throw e;
      } finally {
        this.creating.delete(name);
      }
      const spec: ContainerSpec = {
        name, template, desired: 'stopped', memoryBytes, cpus, autostart, startOrder, startDelaySec, restart, ipv4: prep.ipv4, service, createdAt: this.now(),
      };
      this.intents.delete(name);
      this.specs.set(name, spec);
      await this.save();
      await this.applyForwards();
      this.emit(name, 'created', `template ${template}, ${prep.ipv4}${pinned.length ? ` (DHCP turned off in ${pinned.join(', ')})` : ''}, ${this.now() - started} ms`);
      if (req.start === true || req.start === 'true') await this.startLocked(spec);
      return this.view(name, (await this.o.driver.list()).find((c) => c.name === name));
    });
  }

  /**
   * Every address taken on the bridge, not only the agent's records: its own
   * containers and reservations, every container's config in the LXC path
   * (made by hand or by another tool), what running containers hold now, and
   * the bridge's resolved neighbours (hosts in another LXC path or agent).
   */
  private async addressesInUse(observed: readonly ObservedContainer[]): Promise<string[]> {
    const taken = [...this.specs.values()].map((s) => s.ipv4).concat([...this.creating.values()]);
    const foreign: string[] = [];
    for (const c of await this.o.driver.configuredAddresses()) if (!this.specs.has(c.name)) foreign.push(...c.ipv4);
    for (const c of observed) if (!this.specs.has(c.name)) foreign.push(...(c.ipv4 ?? []));
    if (this.o.bridgeNeighbours) foreign.push(...(await this.o.bridgeNeighbours(this.o.network.bridge)));
    const own = new Set(taken);
    const others = [...new Set(foreign)].filter((a) => !own.has(a));
    if (others.length) this.o.logger.info(`addresses in use on ${this.o.network.bridge} outside the agent's records: ${others.join(' ')}`);
    return taken.concat(others);
  }

  /** The lowest address in use nowhere; a candidate some silent host answers for (ARP) is skipped. */
  private async freeAddress(observed: readonly ObservedContainer[]): Promise<string> {
    const taken = await this.addressesInUse(observed);
    for (let tries = 0; ; tries++) {
      const ip = allocateIpv4(this.o.network, taken);
      if (!this.o.probeAddress || tries >= MAX_ADDRESS_PROBES || !(await this.o.probeAddress(ip, this.o.network.bridge))) return ip;
      this.o.logger.info(`${ip} answers on ${this.o.network.bridge} (a host the agent does not know): skipped`);
      taken.push(ip);
    }
  }

  private checkHostPortFree(port: number, self: string, protocol: ServiceProtocol = 'tcp'): void {
    for (const s of this.specs.values()) {
      if (s.name === self || !s.service) continue;
      for (const t of forwardedPorts(s.service)) {
        const clash = clashWith(port, protocol, t);
        if (clash) throw new AgentError('E_EXISTS', `host port ${port}/${clash} is already forwarded to container ${s.name}`);
      }
    }
  }

  private async cleanupFailedCreate(name: string): Promise<void> {
    try {
      if ((await this.o.driver.list()).some((c) => c.name === name)) await this.o.driver.destroy(name);
    } catch (e) {
      this.o.logger.error(`cleanup of half-created container ${name} failed: ${errorMessage(e)}`);
    }
  }

  private renderCreateConfig(name: string, lxcDir: string, ipv4: string, l: { memoryBytes: number; cpus: number; autostart: boolean; startOrder: number; startDelaySec: number }): string {
    const { prefix } = parseCidr(this.o.network.cidr);
    const base = [
      '# Written by cloudy-agent; edit limits with `cloudy-agent lxc config`.',
      'lxc.net.0.type = veth',
      `lxc.net.0.link = ${this.o.network.bridge}`,
      'lxc.net.0.flags = up',
      `lxc.net.0.ipv4.address = ${ipv4}/${prefix}`,
      `lxc.net.0.ipv4.gateway = ${this.o.network.gateway}`,
      '',
    ].join('\n');
    return editLxcConfig(base, {
      // INFO level makes LXC log how init ended, which tells a crash from a clean stop.
      'lxc.log.file': `${lxcDir}/${name}/${LXC_LOG_FILE}`,
      'lxc.log.level': 'INFO',
      ...this.autostartKeys(l),
      ...renderLimitKeys(this.o.cgroupLayout, l.memoryBytes, l.cpus),
    });
  }

  private autostartKeys(l: { autostart: boolean; startOrder: number; startDelaySec: number }): Record<string, string> {
    return { 'lxc.start.auto': l.autostart ? '1' : '0', 'lxc.start.order': String(l.startOrder), 'lxc.start.delay': String(l.startDelaySec) };
  }

  private serviceFor(name: string, fileText: string | null, o: { type?: string; port?: number; description?: string; txt?: string; hostPort?: number; forwardPorts: ReadonlyMap<string, number> }): ServiceSpec | null {
    let fromFile: Partial<ServiceSpec> & { check?: { kind?: string; arg?: string } } = {};
    if (fileText) {
      try {
        fromFile = JSON.parse(fileText);
      } catch (e) {
        throw new AgentError('E_DECODE', `${name}/cloudy-service.json is not valid JSON: ${errorMessage(e)}`);
      }
    }
    const type = o.type ?? (typeof fromFile.type === 'string' ? validateServiceType(fromFile.type) : undefined);
    if (!type) {
      if (o.port !== undefined || o.hostPort !== undefined) throw new AgentError('E_INVALID', 'a service port needs a service type (-service-type)');
      if (o.forwardPorts.size) throw new AgentError('E_INVALID', 'this template forwards no more ports (-forward-port)');
      return null;
    }
    const port = o.port ?? (fromFile.port !== undefined ? parsePort(fromFile.port, 'service port in cloudy-service.json') : undefined);
    if (port === undefined) throw new AgentError('E_INVALID', `service ${type} needs a port (-service-port)`);
    const kind = fromFile.check?.kind;
    const check = kind === 'exec' && typeof fromFile.check?.arg === 'string' ? { kind: 'exec' as const, arg: fromFile.check.arg }
      : kind === 'none' ? { kind: 'none' as const, arg: '' } : { kind: 'tcp' as const, arg: String(port) };
    const fp = (fromFile as { protocol?: unknown }).protocol;
    const proto: ServiceProtocol = fp === 'udp' || fp === 'tcp+udp' ? fp : 'tcp';
    const hostPort = o.hostPort ?? port;
    // More ports the template wants reachable (not announced): a host port each, clear of every other forward.
    const wanted = parseExtraForwards((fromFile as { forwards?: unknown }).forwards, `${name}/cloudy-service.json`, this.o.limits.maxExtraForwards);
    const forwards = allocateHostPorts(wanted, [...this.portsTakenBy(name), { port: hostPort, protocol: proto }], o.forwardPorts);
    return {
      type,
      port,
      hostPort,
      protocol: proto,
      description: o.description ?? normalizeDescription(fromFile.description ?? `${type}_in_container_${name}`),
      txt: o.txt ?? validateTxt(fromFile.txt ?? ''),
      check,
      ...(forwards.length ? { forwards } : {}),
    };
  }

  /** Host ports forwarded to every container except `self`. */
  private portsTakenBy(self: string): TakenPort[] {
    return [...this.specs.values()].flatMap((s) => (s.name !== self && s.service ? forwardedPorts(s.service) : []));
  }

  /**
   * Before every start: keeps the agent's address (pinAddress) and tells the
   * container where the community network reaches it (ENDPOINTS_PATH: host
   * address, the service's and every extra forward's host port), so a service
   * such as Tahoe's storage node announces those, not its container address.
   */
  private async prepareRootfs(s: ContainerSpec): Promise<void> {
    await this.pinAddress(s.name, s.ipv4);
    if (!s.service) return;
    try {
      if (!(await this.o.driver.writeRootfsFile(s.name, ENDPOINTS_PATH, endpointsFile(s.service, this.o.communityIp, s.ipv4)))) {
        this.o.logger.warn(`${s.name}: root filesystem is not a directory; cannot tell the container its forwarded ports`);
      }
    } catch (e) {
      this.o.logger.warn(`${s.name}: cannot write /${ENDPOINTS_PATH}: ${errorMessage(e)}`);
    }
  }

  start(name: unknown): Promise<ContainerView> {
    return this.serial(async () => {
      const s = this.spec(name);
      await this.startLocked(s);
      return this.view(s.name, await this.observe(s.name));
    });
  }

  /**
   * Turns off a DHCP client the container's root filesystem would start (LXC's
   * stock templates), so it keeps the agent's address; returns the files
   * changed. Done after create and again before every start (a container made
   * by an older agent, or a DHCP line put back by hand).
   */
  private async pinAddress(name: string, ipv4: string): Promise<string[]> {
    try {
      const changed = await this.o.driver.pinAddress(name, { address: ipv4, prefix: parseCidr(this.o.network.cidr).prefix, gateway: this.o.network.gateway });
      if (changed.length) this.o.logger.info(`${name}: its root filesystem starts a DHCP client; edited ${changed.join(', ')} so the container keeps ${ipv4}`);
      return changed;
    } catch (e) {
      this.o.logger.warn(`${name}: cannot check the root filesystem for a DHCP client: ${errorMessage(e)}`);
      return [];
    }
  }

  /** Runs `act` under the write-ahead mark `mark` (saved before, cleared after, also when it fails). */
  private async marked(s: ContainerSpec, mark: 'start' | 'stop', act: () => Promise<void>): Promise<void> {
    s.pending = mark;
    await this.save();
    try {
      await act();
    } finally {
      delete s.pending;
      await this.save();
    }
  }

  private async startLocked(s: ContainerSpec, mark: 'start' | 'stop' = 'start'): Promise<void> {
    s.desired = 'running';
    await this.marked(s, mark, async () => {
      const obs = await this.observe(s.name);
      if (obs?.state !== 'RUNNING') {
        await this.prepareRootfs(s);
        await this.o.driver.start(s.name);
      }
    });
    const rt = this.runtime.get(s.name);
    if (rt) { rt.attempts = 0; rt.nextRestartAt = 0; }
    this.emit(s.name, 'started', '');
  }

  private async observe(name: string): Promise<ObservedContainer | undefined> {
    return (await this.o.driver.list()).find((c) => c.name === name);
  }

  stop(name: unknown): Promise<ContainerView> {
    return this.serial(async () => {
      const s = this.spec(name);
      await this.stopLocked(s);
      return this.view(s.name, await this.observe(s.name));
    });
  }

  private async stopLocked(s: ContainerSpec, kill = false, mark: 'start' | 'stop' = 'stop'): Promise<void> {
    s.desired = 'stopped';
    await this.marked(s, mark, async () => {
      await this.withdraw(s);
      await this.o.driver.stop(s.name, { kill });
    });
    const rt = this.runtime.get(s.name);
    if (rt) { rt.lastState = 'STOPPED'; rt.nextRestartAt = 0; rt.attempts = 0; }
    this.emit(s.name, 'stopped', '');
  }

  restart(name: unknown): Promise<ContainerView> {
    return this.serial(async () => {
      const s = this.spec(name);
      // A restart cut anywhere is finished as a start: it ends running, as asked.
      await this.stopLocked(s, false, 'start');
      await this.startLocked(s);
      return this.view(s.name, await this.observe(s.name));
    });
  }

  destroy(name: unknown): Promise<{ name: string }> {
    return this.serial(async () => {
      const s = this.spec(name);
      // Write-ahead: a kill from here on leaves the mark, and the next start finishes the destroy.
      s.desired = 'stopped';
      s.pending = 'destroy';
      await this.save();
      try {
        await this.withdraw(s);
        await this.o.driver.destroy(s.name); // -f: stops it first
      } catch (e) {
        delete s.pending;
        await this.save();
        throw e;
      }
      this.specs.delete(s.name);
      this.runtime.delete(s.name);
      await this.save();
      await this.applyForwards();
      this.emit(s.name, 'destroyed', '');
      return { name: s.name };
    });
  }

  info(name: unknown): Promise<{ view: ContainerView; info: ContainerInfo | null }> {
    return this.serial(async () => {
      const n = validateName(name);
      const info = await this.o.driver.info(n);
      const obs = await this.observe(n);
      if (!this.specs.has(n) && !obs) throw new AgentError('E_NOT_FOUND', `container ${n} does not exist`);
      return { view: this.view(n, obs), info };
    });
  }

  /** Runs a command in a running container. Not serialised with other operations (a long command must not block them). */
  async exec(name: unknown, argv: unknown, timeoutMs = 60_000): Promise<AttachResult> {
    const n = validateName(name);
    if (!Array.isArray(argv) || argv.length === 0 || argv.length > 256 || argv.some((a) => typeof a !== 'string' || a.length > 4096 || a.includes('\0'))) {
      throw new AgentError('E_INVALID', 'exec needs a command: lxc exec NAME -- COMMAND ARGS...');
    }
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1000 || timeoutMs > 3_600_000) throw new AgentError('E_INVALID', 'exec timeout must be 1 s .. 1 h');
    const obs = (await this.o.driver.list()).find((c) => c.name === n);
    if (!obs) throw new AgentError('E_NOT_FOUND', `container ${n} does not exist`);
    if (obs.state !== 'RUNNING') throw new AgentError('E_STATE', `container ${n} is ${obs.state.toLowerCase()}, not running`);
    return this.o.driver.attach(n, argv as string[], { timeoutMs });
  }

  /** Shows (no change) or changes limits and policies; limits apply live to a running container. */
  async config(name: unknown, change: ConfigChange = {}): Promise<{ view: ContainerView; config: Record<string, string> }> {
    const memory = change.memory === undefined ? undefined : parseMemory(change.memory);
    const cpus = change.cpus === undefined ? undefined : parseCpus(change.cpus, this.o.hostCpus);
    const restart = change.restart === undefined ? undefined : parseRestartPolicy(change.restart);
    const startOrder = change.startOrder === undefined ? undefined : parseIntInRange(change.startOrder, 'start order', -MAX_ORDER, MAX_ORDER, 0);
    const startDelay = change.startDelay === undefined ? undefined : parseIntInRange(change.startDelay, 'start delay', 0, MAX_DELAY_SEC, 0);
    const autostart = change.autostart === undefined ? undefined : change.autostart === true || change.autostart === 'true' || change.autostart === 1;
    return this.serial(async () => {
      const s = this.spec(name);
      const changed = [memory, cpus, restart, startOrder, startDelay, autostart].some((v) => v !== undefined);
      if (changed) {
        if (memory !== undefined) s.memoryBytes = memory;
        if (cpus !== undefined) s.cpus = cpus;
        if (restart !== undefined) s.restart = restart;
        if (startOrder !== undefined) s.startOrder = startOrder;
        if (startDelay !== undefined) s.startDelaySec = startDelay;
        if (autostart !== undefined) s.autostart = autostart;
        const text = await this.o.driver.readConfig(s.name);
        await this.o.driver.writeConfig(s.name, editLxcConfig(text, {
          ...this.autostartKeys(s),
          ...renderLimitKeys(this.o.cgroupLayout, s.memoryBytes, s.cpus),
        }));
        if ((memory !== undefined || cpus !== undefined) && (await this.observe(s.name))?.state === 'RUNNING') {
          for (const [k, v] of liveLimitSettings(this.o.cgroupLayout, s.memoryBytes, s.cpus)) await this.o.driver.cgroupSet(s.name, k, v);
        }
        await this.save();
      }
      const cfg = readLxcConfig(await this.o.driver.readConfig(s.name));
      return { view: this.view(s.name, await this.observe(s.name)), config: cfg };
    });
  }

  // ---- services -------------------------------------------------------------

  private async publish(s: ContainerSpec): Promise<void> {
    if (!s.service || this.published.has(s.name)) return;
    // A refused publish (tags full) is retried after a pause, not on every pass.
    const refused = this.publishRefusedAt.get(s.name);
    if (refused !== undefined && this.now() - refused < PUBLISH_RETRY_MS) return;
    try {
      await this.o.publisher.publish({
        type: s.service.type,
        description: s.service.description,
        port: s.service.hostPort,
        txt: s.service.txt,
        ip: this.o.communityIp,
        owner: `container:${s.name}`,
      });
      this.published.add(s.name);
      this.publishRefusedAt.delete(s.name);
      this.emit(s.name, 'service-published', `${s.service.type} on ${this.o.communityIp}:${s.service.hostPort}`);
    } catch (e) {
      this.publishRefusedAt.set(s.name, this.now());
      this.o.counters.inc(isAgentError(e, 'E_TOO_LARGE') ? 'drop.containers.publish_too_large' : 'containers.publish_failed');
      this.o.logger.warn(`${s.name}: cannot publish ${s.service.type}: ${errorMessage(e)}`);
    }
  }

  private async withdraw(s: ContainerSpec): Promise<void> {
    if (!s.service || !this.published.has(s.name)) return;
    try {
      await this.o.publisher.unpublish(s.service.type, s.service.hostPort);
      this.published.delete(s.name);
      this.emit(s.name, 'service-withdrawn', `${s.service.type} port ${s.service.hostPort}`);
    } catch (e) {
      this.o.counters.inc('containers.unpublish_failed');
      this.o.logger.warn(`${s.name}: cannot withdraw ${s.service.type}: ${errorMessage(e)}`);
    }
  }

  /** Withdraws every service this manager published (agent shutdown). Containers keep running. */
  withdrawAll(): Promise<void> {
    return this.serial(async () => {
      for (const s of this.specs.values()) await this.withdraw(s);
    });
  }

  // ---- reconciler -----------------------------------------------------------

  /** Logs (once per change) a running container that lost or changed the agent's address, and when it has it again. */
  private noteAddress(name: string, problem: string): void {
    const before = this.addressProblems.get(name) ?? '';
    if (problem === before) return;
    if (problem) {
      this.addressProblems.set(name, problem);
      this.o.counters.inc('containers.address_mismatch');
      this.o.logger.error(`${name}: ${problem}`);
      this.emit(name, 'address-mismatch', problem);
    } else {
      this.addressProblems.delete(name);
      this.o.logger.info(`${name}: holds its address again`);
    }
  }

  /** One reconciler pass: observe, decide (pure), act. */
  tick(): Promise<Action[]> {
    return this.serial(async () => {
      // Only the managed containers are reconciled: with none (a fresh box), LXC is not
      // asked at all. Listing spawns lxc-ls every pass (every 5 s), and the process
      // spawning kept execa's code hot and compiled for nothing (issue 17: CPU, memory).
      const observed = this.specs.size === 0 ? new Map<string, ObservedContainer>() : new Map((await this.o.driver.list()).map((c) => [c.name, c]));
      const healthy = new Map<string, boolean>();
      const exitCause = new Map<string, ExitCause>();
      for (const s of this.specs.values()) {
        const obs = observed.get(s.name);
        this.noteAddress(s.name, addressProblem(s.ipv4, obs));
        if (obs?.state === 'RUNNING' && s.service) healthy.set(s.name, await this.o.checker.check(s.name, s.ipv4, s.service));
        if (obs?.state === 'STOPPED' && s.desired === 'running') exitCause.set(s.name, await this.o.driver.lastExit(s.name));
      }
      const out = reconcile({
        now: this.now(), specs: [...this.specs.values()], observed, runtime: this.runtime, healthy,
        published: this.published, exitCause, afterReboot: this.afterReboot, firstPass: this.firstPass, tuning: this.tuning,
      });
      this.runtime = out.runtime;
      this.firstPass = false;
      let dirty = false;
      let forwardsDirty = false;
      for (const a of out.actions) {
        const s = this.specs.get(a.name);
        if (!s) continue;
        switch (a.kind) {
          case 'event':
            this.emit(a.name, a.event, a.detail);
            break;
          case 'set-desired':
            s.desired = a.desired;
            dirty = true;
            break;
          case 'publish':
            await this.publish(s);
            break;
          case 'unpublish':
            await this.withdraw(s);
            break;
          case 'forget':
            this.specs.delete(a.name);
            this.runtime.delete(a.name);
            dirty = true;
            forwardsDirty = true;
            break;
          case 'start':
            this.emit(a.name, 'restarting', a.reason === 'autostart' ? `autostart (order ${s.startOrder})` : `attempt ${this.runtime.get(a.name)?.attempts ?? 1}`);
            try {
              await this.prepareRootfs(s);
              await this.o.driver.start(a.name);
              this.o.counters.inc('containers.restarts');
            } catch (e) {
              this.emit(a.name, 'restart-failed', errorMessage(e));
            }
            if (a.delayAfterSec > 0) await this.sleep(a.delayAfterSec * 1000);
            break;
        }
      }
      if (dirty) await this.save();
      if (forwardsDirty) await this.applyForwards();
      return out.actions;
    });
  }
}
