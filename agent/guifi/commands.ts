// guifi.net registration as commands of the agent's registry (agent/commands/),
// so the web GUI (POST /api/v1/commands/guifi.*), RPC and remote control run
// the same steps as the `guifi` CLI, on the agent's own state file. Cloudy's
// GUI steps map one to one: guifi.login, guifi.node (read the node and its
// devices, to pick one), guifi.register (pick or create the device, link it
// for an IPv4), guifi.service-add, and guifi.status / guifi.unregister.
// A token guifi.net refuses is reported as E_AUTH: the caller logs in again
// (no password is ever kept to do it behind the user's back).
import { defineCommand, type CommandSpec } from '../commands/registry.ts';
import { AgentError } from '../errors.ts';
import type { Limits } from '../config/limits.ts';
import { GuifiClient, isGuifiServiceType, GUIFI_SERVICE_TYPES, type GuifiServiceType } from './client.ts';
import type { HttpGet } from './http.ts';
import type { GuifiStateStore } from './state.ts';
import type { CnmlDevice } from './cnml.ts';
import { isTokenRefused } from './errors.ts';
import { loginAndSave } from './session.ts';
import { declareServices, readStatus, registerNode, unregisterNode } from './register.ts';
import { normalizeMac } from './cnml.ts';

export interface GuifiCommandDeps {
  apiUrl: string;
  store: GuifiStateStore;
  limits: Pick<Limits, 'guifiRequestTimeoutMs' | 'guifiReplyMaxBytes'>;
  /** The community interface's MAC (when the caller gives none). */
  mac: () => Promise<string>;
  http?: HttpGet;
  log?: (line: string) => void;
  /** After a registration or login by hand: the background registrar looks again. */
  changed?: () => void;
}

export function deviceToWire(d: CnmlDevice): Record<string, unknown> {
  return {
    Id: d.id, Title: d.title, Type: d.type, Mac: d.mac,
    IPv4: d.interfaces.map((i) => ({ Address: i.ipv4, Mask: i.mask })),
    Services: d.services.map((s) => s.type),
  };
}

const positive = (n: number | undefined, field: string): number | undefined => {
  if (n === undefined || n === 0) return undefined;
  if (n < 0) throw new AgentError('E_INVALID', `${field}: expected a positive guifi.net id`, { field });
  return n;
};

export function guifiCommands(d: GuifiCommandDeps): CommandSpec[] {
  const client = async (): Promise<GuifiClient> => {
    const st = await d.store.read();
    return new GuifiClient({
      apiUrl: d.apiUrl, timeoutMs: d.limits.guifiRequestTimeoutMs, maxReplyBytes: d.limits.guifiReplyMaxBytes,
      ...(st.token ? { token: st.token } : {}), ...(d.http ? { http: d.http } : {}),
    });
  };
  const authed = async <T>(fn: (c: GuifiClient) => Promise<T>): Promise<T> => {
    const c = await client();
    if (c.token === undefined) throw new AgentError('E_AUTH', 'not logged in to guifi.net: run guifi.login first');
    try {
      return await fn(c);
    } catch (e) {
      if (isTokenRefused(e)) throw new AgentError('E_AUTH', 'guifi.net refused the saved token (expired or replaced): log in again', { guifiCode: 502 });
      throw e;
    }
  };
  const flow = (c: GuifiClient) => ({ client: c, store: d.store, ...(d.log ? { log: d.log } : {}) });

  return [
    defineCommand({
      name: 'guifi.status',
      summary: "This box's guifi.net registration: the saved state checked against the node's CNML",
      role: 'viewer',
      args: {},
      handler: async () => {
        const s = await readStatus({ client: await client(), store: d.store });
        return {
          Username: s.state.username, LoggedIn: s.state.token !== '', NodeId: s.state.nodeId, NodeName: s.state.nodeName,
          DeviceId: s.state.deviceId, Registered: s.device !== null && s.device.interfaces.length > 0,
          Device: s.device ? deviceToWire(s.device) : null, CnmlError: s.cnmlError,
        };
      },
    }),
    defineCommand({
      name: 'guifi.login',
      summary: 'Logs in to guifi.net; the token is saved, the password never',
      role: 'admin',
      args: {
        User: { type: 'string', required: true, doc: 'guifi.net user name' },
        Password: { type: 'string', required: true, doc: 'guifi.net password (used once, not stored)' },
      },
      handler: async (a) => {
        if (a.User === '') throw new AgentError('E_INVALID', 'User: must not be empty', { field: 'User' });
        await loginAndSave(await client(), d.store, a.User, a.Password);
        d.changed?.();
        return { Username: a.User };
      },
    }),
    defineCommand({
      name: 'guifi.node',
      summary: "A guifi.net node's title and devices from its CNML (to pick the device to use or to link)",
      role: 'viewer',
      args: { NodeId: { type: 'int', required: true, doc: 'guifi.net node id' } },
      handler: async (a) => {
        const id = positive(a.NodeId, 'NodeId');
        if (id === undefined) throw new AgentError('E_INVALID', 'NodeId: expected a positive guifi.net id', { field: 'NodeId' });
        const node = await (await client()).readNode(id);
        return { NodeId: node.id, Title: node.title, Devices: node.devices.map(deviceToWire) };
      },
    }),
    defineCommand({
      name: 'guifi.register',
      summary: 'Registers this box under a guifi.net node: finds or adds its cloudy device, links it for an IPv4 (resumable)',
      role: 'admin',
      args: {
        NodeId: { type: 'int', doc: 'guifi.net node id (default: the saved one)' },
        DeviceId: { type: 'int', doc: 'an existing cloudy device of the node to use' },
        DeviceName: { type: 'string', doc: 'nick of a new device (default <NODENAME>-Cloudy)' },
        LinkDevice: { type: 'int', doc: 'device of the node to take an IPv4 from (default: the first with one)' },
        Email: { type: 'string', doc: 'notification e-mail of a new device' },
        Comment: { type: 'string', doc: 'comment of a new device (150 characters at most)' },
        Mac: { type: 'string', doc: 'MAC to register (default: the community interface)' },
        Services: { type: 'string[]', doc: `guifi services to declare (${Object.keys(GUIFI_SERVICE_TYPES).join(', ')})` },
      },
      handler: async (a) => {
        const st = await d.store.read();
        const nodeId = positive(a.NodeId, 'NodeId') ?? (st.nodeId || undefined);
        if (nodeId === undefined) throw new AgentError('E_INVALID', 'NodeId: required (no node saved yet)', { field: 'NodeId' });
        let mac: string;
        if (a.Mac) {
          const m = normalizeMac(a.Mac);
          if (m === null) throw new AgentError('E_INVALID', 'Mac: not a MAC address', { field: 'Mac' });
          mac = m;
        } else mac = await d.mac();
        const services = (a.Services ?? []).map((t) => {
          if (!isGuifiServiceType(t)) throw new AgentError('E_INVALID', `Services: ${JSON.stringify(t)} is not one of ${Object.keys(GUIFI_SERVICE_TYPES).join(', ')}`, { field: 'Services' });
          return t;
        });
        const deviceId = positive(a.DeviceId, 'DeviceId');
        const linkDevice = positive(a.LinkDevice, 'LinkDevice');
        const r = await authed((c) => registerNode({
          nodeId, mac, services,
          ...(deviceId !== undefined ? { deviceId } : {}), ...(linkDevice !== undefined ? { linkDevice } : {}),
          ...(a.DeviceName ? { deviceName: a.DeviceName } : {}), ...(a.Email ? { email: a.Email } : {}),
          ...(a.Comment ? { comment: a.Comment } : {}),
        }, flow(c)));
        d.changed?.();
        return {
          NodeId: r.nodeId, NodeName: r.nodeName, Device: deviceToWire(r.device),
          Added: { Device: r.added.device, Link: r.added.link, Services: r.added.services },
        };
      },
    }),
    defineCommand({
      name: 'guifi.service-add',
      summary: 'Declares a guifi service (SNPgraphs, DNS, Proxy) on the registered device, once',
      role: 'admin',
      args: { Type: { type: 'string', required: true, doc: Object.keys(GUIFI_SERVICE_TYPES).join(', ') } },
      handler: async (a) => {
        if (!isGuifiServiceType(a.Type)) throw new AgentError('E_INVALID', `Type: must be one of ${Object.keys(GUIFI_SERVICE_TYPES).join(', ')}`, { field: 'Type' });
        const type: GuifiServiceType = a.Type;
        const added = await authed((c) => declareServices([type], flow(c)));
        return { Added: added };
      },
    }),
    defineCommand({
      name: 'guifi.unregister',
      summary: "Gives back the device's link and IPv4 (guifi.cloudy.unlink); the device stays in guifi.net",
      role: 'admin',
      args: {},
      handler: async () => ({ DeviceId: await authed((c) => unregisterNode(flow(c))) }),
    }),
  ];
}
