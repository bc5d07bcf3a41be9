// `cloudy-agent guifi ...`: registration in guifi.net's database by hand.
//   guifi login -user NAME [-password-file FILE]          (else the password is read from stdin)
//   guifi register [-node-id ID] [-device-name NICK] [-link-device ID] [-email ADDR] [-comment TEXT]
//                  [-mac MAC | -interface IF] [-user NAME] [-password-file FILE]
//   guifi service-add -type SNPgraphs|DNS|Proxy [-password-file FILE]
//   guifi unregister [-password-file FILE]
//   guifi status [-format text|json]
// Each takes -api URL (default https://guifi.net/api) and -data-dir DIR (the
// agent's). A token guifi.net refuses (502) makes the command ask for the
// password once (file or stdin) and try again; a second refusal is an error.
// Built on the one CLI scaffold (cli-kit/rpc-command.ts: a group of rpc:false
// verbs, flags anywhere); errors name the verb and the code.
import { homedir } from 'node:os';
import type { CliCommand, CliIO } from '../cli-kit/command.ts';
import type { Flags, FlagSpecs } from '../cli-kit/flags.ts';
import { rpcCommandGroup, type RpcCommandDef } from '../cli-kit/rpc-command.ts';
import { defaultLimits, type Limits } from '../config/limits.ts';
import { defaultDataDir } from '../config/host-defaults.ts';
import { AgentError, errorMessage, isAgentError } from '../errors.ts';
import { GuifiClient, DEFAULT_GUIFI_API, isGuifiServiceType, GUIFI_SERVICE_TYPES } from './client.ts';
import type { HttpGet } from './http.ts';
import { GuifiStateStore, GUIFI_STATE_FILE } from './state.ts';
import { loginAndSave, withTokenRetry } from './session.ts';
import { declareServices, readStatus, registerNode, unregisterNode, type StatusReport } from './register.ts';
import { normalizeMac } from './cnml.ts';
import { communityMac } from './host.ts';
import { readSecretFile } from '../config/guifi-settings.ts';
import { join } from 'node:path';

export interface GuifiCliDeps {
  http?: HttpGet;
  limits?: Limits;
  /** Reads a password (prompt shown on a terminal); null at end of input. Default: stdin. */
  readPassword?: (prompt: string, io: CliIO) => Promise<string | null>;
  /** MAC of the community interface when -mac is not given. */
  hostMac?: (iface: string) => Promise<string>;
  dataDir?: () => string;
}

const COMMON: FlagSpecs = { api: 'string', 'data-dir': 'string' };
const AUTH: FlagSpecs = { 'password-file': 'string' };
const VERBS: Record<string, FlagSpecs> = {
  login: { ...COMMON, ...AUTH, user: 'string' },
  register: {
    ...COMMON, ...AUTH, user: 'string', 'node-id': 'int', 'device-name': 'string', 'link-device': 'int', email: 'string',
    comment: 'string', mac: 'string', interface: 'string',
  },
  'service-add': { ...COMMON, ...AUTH, type: 'string' },
  unregister: { ...COMMON, ...AUTH },
  status: { ...COMMON, format: 'string' },
};

export const GUIFI_USAGE = `Usage: cloudy-agent guifi <subcommand> [options]

Registers this box in guifi.net's network database, as Cloudy does.

Subcommands:
    login -user NAME [-password-file FILE]     log in (password from FILE or stdin); the token is saved, the password never
    register [-node-id ID] [-device-name NICK] [-link-device ID] [-email ADDR] [-comment TEXT] [-mac MAC | -interface IF]
                                               add (or find again) this box's cloudy device under the guifi node, get it an IPv4
    service-add -type SNPgraphs|DNS|Proxy      declare a guifi service on the device (once)
    unregister                                 give back the device's link and IPv4 (guifi.cloudy.unlink)
    status [-format text|json]                 the saved state checked against the node's CNML

Every subcommand: -api URL (default ${DEFAULT_GUIFI_API}), -data-dir DIR (the agent's data dir).
State: <data-dir>/${GUIFI_STATE_FILE} (USERNAME, TOKEN, NODEID, NODENAME, DEVICEID as quoted shell variables).
`;

/** Lines from stdin, one per call; a terminal gets the prompt and no echo. */
export function stdinPasswordReader(): (prompt: string, io: CliIO) => Promise<string | null> {
  let buffered = '';
  let ended = false;
  return (prompt, io) => new Promise((resolve) => {
    const stdin = process.stdin;
    const tty = stdin.isTTY === true;
    if (tty) { io.stderr(prompt); stdin.setRawMode(true); }
    const done = (v: string | null): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      if (tty) { stdin.setRawMode(false); io.stderr('\n'); }
      stdin.pause();
      resolve(v);
    };
    const take = (): boolean => {
      const i = buffered.search(/[\r\n]/);
      if (i < 0) return false;
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + (buffered.startsWith('\r\n', i) ? 2 : 1));
      done(line);
      return true;
    };
    const onData = (d: string): void => {
      if (tty && d === '\u0003') { done(null); return; }
      if (tty && (d === '\u007f' || d === '\b')) { buffered = buffered.slice(0, -1); return; }
      buffered += d;
      take();
    };
    const onEnd = (): void => {
      ended = true;
      const rest = buffered;
      buffered = '';
      done(rest === '' ? null : rest);
    };
    if (take()) return;
    if (ended) { const rest = buffered; buffered = ''; resolve(rest === '' ? null : rest); return; }
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
}

function positive(f: Flags, name: string): number | undefined {
  if (!f.has(name)) return undefined;
  const n = f.int(name);
  if (n <= 0) throw new AgentError('E_CONFIG', `-${name} must be a positive guifi.net id`);
  return n;
}

export function makeGuifiCommand(deps: GuifiCliDeps = {}): CliCommand {
  const limits = deps.limits ?? defaultLimits('edge');
  const verb = (name: string): RpcCommandDef => ({
    name, summary: '', help: GUIFI_USAGE, style: 'cloudy', rpc: false, flags: VERBS[name]!,
    async run(env) {
      // The scaffold's one line on stderr, status 1, with the verb and the code: `Error: E_AUTH: guifi register: ...`.
      try {
        const extra = env.flags.args[0] ?? env.rest[0];
        if (extra !== undefined) throw new AgentError('E_CONFIG', `unexpected argument: ${extra}`);
        return await runVerb(name, env.flags, env.io, deps, limits);
      } catch (e) {
        env.err(`Error: ${isAgentError(e) && e.code !== 'E_CONFIG' ? `${e.code}: ` : ''}guifi ${name}: ${errorMessage(e)}`);
        return 1;
      }
    },
  });
  return rpcCommandGroup({
    name: 'guifi',
    summary: "Registers this box in guifi.net's database (login, register, service-add, unregister, status)",
    usage: GUIFI_USAGE,
    subcommands: Object.keys(VERBS).map(verb),
  });
}

async function runVerb(verb: string, f: Flags, io: CliIO, deps: GuifiCliDeps, limits: Limits): Promise<number> {
  const api = f.str('api', DEFAULT_GUIFI_API);
  try { new URL(api); } catch { throw new AgentError('E_CONFIG', `-api ${JSON.stringify(api)} is not a URL`); }
  const dataDir = f.str('data-dir') || (deps.dataDir ?? (() => defaultDataDir({ isRoot: process.getuid?.() === 0, home: homedir() })))();
  const store = GuifiStateStore.inDir(dataDir);
  const state = await store.read();
  const client = new GuifiClient({
    apiUrl: api, timeoutMs: limits.guifiRequestTimeoutMs, maxReplyBytes: limits.guifiReplyMaxBytes,
    ...(state.token ? { token: state.token } : {}), ...(deps.http ? { http: deps.http } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  });
  const readPassword = deps.readPassword ?? stdinPasswordReader();
  const password = async (user: string): Promise<string | null> => {
    if (f.has('password-file')) {
      const p = await readSecretFile(f.str('password-file'));
      if (p === '') throw new AgentError('E_CONFIG', `-password-file ${f.str('password-file')} is empty or missing`);
      return p;
    }
    const p = await readPassword(`guifi.net password for ${user}: `, io);
    return p === null || p === '' ? null : p;
  };
  const progress = (line: string): void => io.stderr(`==> ${line}\n`);
  const flow = { client, store, log: progress };
  const retry = <T>(fn: () => Promise<T>): Promise<T> => withTokenRetry(
    { client, store, username: async () => (await store.read()).username },
    async () => {
      const user = (await store.read()).username;
      progress(`guifi.net refused the saved token (expired or replaced): logging in again as ${user}`);
      return password(user);
    },
    fn,
  );
  const needToken = async (): Promise<void> => {
    if (client.token !== undefined) return;
    const user = f.str('user');
    if (user === '') throw new AgentError('E_AUTH', 'not logged in to guifi.net: run `cloudy-agent guifi login -user NAME` first (or give -user)');
    const p = await password(user);
    if (p === null) throw new AgentError('E_AUTH', 'no password given');
    await loginAndSave(client, store, user, p);
  };

  switch (verb) {
    case 'login': {
      const user = f.str('user');
      if (user === '') throw new AgentError('E_CONFIG', '-user is required');
      const p = await password(user);
      if (p === null) throw new AgentError('E_AUTH', 'no password given');
      await loginAndSave(client, store, user, p);
      io.stdout(`Logged in to guifi.net as ${user}; token saved in ${join(dataDir, GUIFI_STATE_FILE)}\n`);
      return 0;
    }
    case 'register': {
      const nodeId = positive(f, 'node-id') ?? (state.nodeId || undefined);
      if (nodeId === undefined) throw new AgentError('E_CONFIG', '-node-id is required (the guifi.net node this box belongs to)');
      let mac: string;
      if (f.has('mac')) {
        const m = normalizeMac(f.str('mac'));
        if (m === null) throw new AgentError('E_CONFIG', `-mac ${JSON.stringify(f.str('mac'))} is not a MAC address`);
        mac = m;
      } else {
        mac = await (deps.hostMac ?? ((iface: string) => communityMac(iface ? { iface } : {})))(f.str('interface'));
      }
      const linkDevice = positive(f, 'link-device');
      await needToken();
      const r = await retry(() => registerNode({
        nodeId, mac,
        ...(f.has('device-name') ? { deviceName: f.str('device-name') } : {}),
        ...(linkDevice !== undefined ? { linkDevice } : {}),
        ...(f.has('email') ? { email: f.str('email') } : {}),
        ...(f.has('comment') ? { comment: f.str('comment') } : {}),
      }, flow));
      const addedList = [r.added.device ? 'device' : '', r.added.link ? 'link' : ''].filter(Boolean);
      io.stdout([
        `guifi.net node ${r.nodeId} "${r.nodeName}"`,
        `device ${r.device.id} "${r.device.title}" (MAC ${r.device.mac || mac}), IPv4 ${r.device.interfaces.map((i) => `${i.ipv4}/${i.mask}`).join(', ')}`,
        addedList.length ? `added: ${addedList.join(', ')}` : 'already registered: nothing added',
      ].join('\n') + '\n');
      return 0;
    }
    case 'service-add': {
      const type = f.str('type');
      if (!isGuifiServiceType(type)) throw new AgentError('E_CONFIG', `-type must be one of ${Object.keys(GUIFI_SERVICE_TYPES).join(', ')}`);
      if (client.token === undefined) throw new AgentError('E_AUTH', 'not logged in to guifi.net: run `cloudy-agent guifi login -user NAME` first');
      const added = await retry(() => declareServices([type], flow));
      io.stdout(added.length ? `service ${type} declared\n` : `service ${type} was already declared\n`);
      return 0;
    }
    case 'unregister': {
      if (client.token === undefined) throw new AgentError('E_AUTH', 'not logged in to guifi.net: run `cloudy-agent guifi login -user NAME` first');
      const id = await retry(() => unregisterNode(flow));
      io.stdout(`device ${id} unlinked (its IPv4 and link are given back; the device stays in guifi.net)\n`);
      return 0;
    }
    case 'status': {
      const format = f.str('format', 'text');
      if (format !== 'text' && format !== 'json') throw new AgentError('E_CONFIG', '-format must be text or json');
      const s = await readStatus({ client, store });
      io.stdout(format === 'json' ? `${JSON.stringify(statusJson(s), null, 2)}\n` : statusText(s));
      return 0;
    }
  }
  throw new AgentError('E_CONFIG', `unknown subcommand ${verb}`);
}

export function statusJson(s: StatusReport): Record<string, unknown> {
  return {
    username: s.state.username,
    loggedIn: s.state.token !== '',
    nodeId: s.state.nodeId || null,
    nodeName: s.state.nodeName,
    deviceId: s.state.deviceId || null,
    registered: s.device !== null && s.device.interfaces.length > 0,
    device: s.device && {
      id: s.device.id, title: s.device.title, type: s.device.type, mac: s.device.mac,
      ipv4: s.device.interfaces.map((i) => ({ address: i.ipv4, mask: i.mask })),
      services: s.device.services.map((x) => x.type),
    },
    cnmlError: s.cnmlError || null,
  };
}

function statusText(s: StatusReport): string {
  const j = statusJson(s);
  const lines = [
    `User:       ${s.state.username || '-'}${s.state.token ? '' : ' (not logged in)'}`,
    `Node:       ${s.state.nodeId ? `${s.state.nodeId} "${s.state.nodeName}"` : '-'}`,
    `Device:     ${s.state.deviceId || '-'}`,
  ];
  if (s.cnmlError) lines.push(`CNML:       cannot read: ${s.cnmlError}`);
  else if (s.state.deviceId && !s.device) lines.push('CNML:       the device is not in the node any more');
  if (s.device) {
    lines.push(`Nick:       ${s.device.title}`, `MAC:        ${s.device.mac || '-'}`);
    lines.push(`IPv4:       ${s.device.interfaces.map((i) => `${i.ipv4}/${i.mask}`).join(', ') || '- (no link: run guifi register)'}`);
    lines.push(`Services:   ${s.device.services.map((x) => x.type).join(', ') || '-'}`);
  }
  lines.push(`Registered: ${j.registered ? 'yes' : 'no'}`);
  return lines.join('\n') + '\n';
}
