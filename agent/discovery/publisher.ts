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
}

export interface ServicePublisher {
  /** Adds or replaces (type, port). Throws AgentError E_TOO_LARGE when the tag map would exceed 512 bytes. */
  publish(svc: ServiceAnnouncement): Promise<void>;
  /** Removes (type, port); no error if absent. */
  unpublish(type: string, port: number): Promise<void>;
}
