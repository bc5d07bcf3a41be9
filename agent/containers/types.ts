// Data shared by the container layer: what the user asked for (ContainerSpec,
// kept in the state file), what LXC reports (ObservedContainer), and the
// service a container provides.

export type RestartPolicy = 'always' | 'on-failure' | 'never';
export const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'never'];

export type DesiredRun = 'running' | 'stopped';

/** How the agent decides that a container's service is up. */
export interface ServiceCheck {
  /** tcp: connect to the container's address and port; exec: a shell command inside the container exits 0; none: running is enough. */
  kind: 'tcp' | 'exec' | 'none';
  /** tcp: the port; exec: the shell command. */
  arg: string;
}

export type ServiceProtocol = 'tcp' | 'udp' | 'tcp+udp';

/** The transport protocols of a ServiceProtocol. */
export function protocolsOf(p: ServiceProtocol): ('tcp' | 'udp')[] {
  return p === 'tcp+udp' ? ['tcp', 'udp'] : [p];
}

export interface ServiceSpec {
  /** Cloudy service type (`s`), e.g. proxy3, syncthing. */
  type: string;
  /** Port the service listens on inside the container. */
  port: number;
  /** Port published on the host's community address (DNAT to the container) and announced. */
  hostPort: number;
  /** Protocols forwarded from the host port ("tcp+udp" for DNS). */
  protocol: ServiceProtocol;
  description: string;
  txt: string;
  check: ServiceCheck;
  /**
   * More ports of the container forwarded from the host's community address
   * but not announced (Tahoe-LAFS's storage node, which its clients learn from
   * the introducer). Absent in state files written before they existed.
   */
  forwards?: ExtraForward[];
}

/** A container port the community network must reach besides the announced one. */
export interface ExtraForward {
  /** Short name ([a-z][a-z0-9_]*), given to the container as CLOUDY_PORT_<name> (see endpointsFile). */
  name: string;
  /** Port inside the container. */
  port: number;
  /** Port on the host's community address, chosen by the agent when the container is created. */
  hostPort: number;
  protocol: ServiceProtocol;
}

export interface ContainerSpec {
  name: string;
  /** Template name (a file of the template directory, or a stock LXC template). */
  template: string;
  desired: DesiredRun;
  /** Memory limit in bytes; 0 = none. */
  memoryBytes: number;
  /** CPU limit in CPUs (0.5 = half a core); 0 = none. */
  cpus: number;
  autostart: boolean;
  startOrder: number;
  startDelaySec: number;
  restart: RestartPolicy;
  /** Static IPv4 on the container bridge (LXC configures it before init). */
  ipv4: string;
  service: ServiceSpec | null;
  createdAt: number;
  /**
   * Write-ahead mark of an operation that changes LXC and the state together:
   * saved before `lxc-create` / `lxc-destroy` / `lxc-start` / `lxc-stop` runs,
   * cleared after. Found on start, the agent was killed mid-way: a cut create
   * is rolled back (the half-made container destroyed), a cut destroy, start or
   * stop is finished (a stop signal already sent would otherwise land after the
   * restart, and a container would stop with nobody asking).
   */
  pending?: 'create' | 'destroy' | 'start' | 'stop';
}

/** LXC's view of one container. */
export type LxcState = 'STOPPED' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'ABORTING' | 'FREEZING' | 'FROZEN' | 'THAWED' | 'UNKNOWN';

export interface ObservedContainer {
  name: string;
  state: LxcState;
  /** Init PID seen from the host, or 0. */
  pid: number;
  autostart: boolean;
  /** Addresses on its interfaces while it runs (lxc-ls IPV4 column); absent when not asked. */
  ipv4?: string[];
}

export interface ContainerInfo extends ObservedContainer {
  ipv4: string[];
  cpuNs: number;
  memoryBytes: number;
  raw: Record<string, string>;
}

/** Events the manager reports (log + counters + subscribers). */
export type ContainerEventKind =
  | 'created' | 'destroyed' | 'started' | 'stopped'
  | 'stopped-unexpectedly' | 'started-by-hand' | 'vanished'
  | 'restarting' | 'restart-failed' | 'gave-up'
  | 'service-published' | 'service-withdrawn' | 'service-check-failed'
  | 'address-mismatch';

export interface ContainerEvent {
  kind: ContainerEventKind;
  name: string;
  at: number;
  detail: string;
}
