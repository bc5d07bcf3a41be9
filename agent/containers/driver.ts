// The port between the containers domain and the container runtime: what the
// manager and the health checks need from LXC. lxc-driver.ts implements it with
// the lxc-* tools; tests implement it in memory.
import type { ContainerInfo, ObservedContainer } from './types.ts';
import type { StaticAddress } from './rootfs-network.ts';

export interface AttachResult { exitCode: number; stdout: string; stderr: string; timedOut: boolean }

/** What the container layer needs from LXC (the manager is tested against fakes of it). */
export interface ContainerDriver {
  available(): Promise<void>;
  lxcPath(): Promise<string>;
  list(): Promise<ObservedContainer[]>;
  info(name: string): Promise<ContainerInfo>;
  resolveTemplate(template: string): Promise<string>;
  create(name: string, templatePath: string, configText: string, templateArgs: string[]): Promise<void>;
  start(name: string): Promise<void>;
  stop(name: string, opts?: { timeoutSec?: number; kill?: boolean }): Promise<void>;
  destroy(name: string): Promise<void>;
  /** Removes what an lxc-create killed mid-way left (its directory with LXC's `partial` mark), which LXC neither lists nor destroys. */
  removePartial?(name: string): Promise<boolean>;
  /**
   * Flushes the container's directory and root filesystem to the disk (syncfs), so a
   * container the agent records as created survives a power cut right after.
   */
  flush?(name: string): Promise<void>;
  attach(name: string, argv: string[], opts?: { timeoutMs?: number; input?: string }): Promise<AttachResult>;
  cgroupSet(name: string, key: string, value: string): Promise<void>;
  cgroupGet(name: string, key: string): Promise<string>;
  readConfig(name: string): Promise<string>;
  /**
   * Makes the container's root filesystem keep LXC's static address (no DHCP
   * client on eth0, see rootfs-network.ts); returns the files changed.
   */
  pinAddress(name: string, a: StaticAddress): Promise<string[]>;
  /** The IPv4 addresses every container of the LXC path has in its config (lxc.net.N.ipv4.address), the agent's or not. */
  configuredAddresses(): Promise<{ name: string; ipv4: string[] }[]>;
  writeConfig(name: string, text: string): Promise<void>;
  /**
   * Writes a file into the container's root filesystem (`relPath` below its
   * root, parent directories made); false when the root is not a directory.
   */
  writeRootfsFile(name: string, relPath: string, text: string): Promise<boolean>;
  /** The container's cloudy-service.json text, or null. */
  readServiceFile(name: string): Promise<string | null>;
  /** How init ended the last time (from LXC's INFO log, see parseExitCause). */
  lastExit(name: string): Promise<'clean' | 'failure' | 'unknown'>;
}
