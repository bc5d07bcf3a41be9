// What other domains (containers, service checks) need from discovery to
// announce a service in the Cloudy `services` tag and withdraw it.

export interface ServiceAnnouncement {
  /** `s`: service type, e.g. "syncthing", "proxy3". */
  type: string;
  /** `d`: human description (spaces become `_` when encoded). */
  description: string;
  /** `p`: port as announced. */
  port: number;
  /** `t`: txt, `k=v&k2=v2` form accepted (`&` become spaces when encoded). */
  txt?: string;
  /** `i`: IPv4 to announce; default the node's community IP. */
  ip?: string;
  /** Who owns it ("user", "container:<name>"), so owners only withdraw their own. */
  owner?: string;
  /** Liveness check: after N consecutive failures the service leaves the tag until it passes again. */
  check?: ServiceCheck;
}

/** What a check probes. `tcp` defaults to 127.0.0.1 and the service's port. */
export type ServiceProbe =
  | { kind: 'tcp'; host?: string; port?: number }
  | { kind: 'http'; url: string }
  | { kind: 'exec'; command: string[] };

export interface ServiceCheck {
  probe: ServiceProbe;
  /** Time between runs (default 30 s). */
  intervalMs?: number;
  /** Time one run may take (default 5 s, at most the interval). */
  timeoutMs?: number;
  /** Consecutive failures that withdraw the service (default 3). */
  failuresToWithdraw?: number;
}

export interface ServicePublisher {
  /** Adds or replaces (type, port). Throws AgentError E_TOO_LARGE when the tag map would exceed 512 bytes. */
  publish(svc: ServiceAnnouncement): Promise<void>;
  /** Removes (type, port); no error if absent. */
  unpublish(type: string, port: number): Promise<void>;
  /** What is announced now, owners included (restored from the saved list after a restart). */
  announced?(): readonly ServiceAnnouncement[];
}
