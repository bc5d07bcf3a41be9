// Headless registration inside the running agent: a box flashed with a seed
// that names a guifi.net node and carries credentials (or a token) registers
// itself in the background, retrying with jittered exponential backoff until
// it succeeds, one log line per step. Nothing waits for it: every request is
// asynchronous with a deadline, so gossip and services go on meanwhile.
//
//   already registered (state file: DEVICEID under this node, with an IPv4 in CNML)
//       -> nothing to do, no token needed (tokens die after 12 h; reboots must not need one)
//   token: the state's, else the configuration's (token_file re-read each try);
//       refused (502) -> log in with the configured password once, else wait for
//       a different token (token file, seed, or a `guifi login` by hand) without hammering
//   guifi.net refusals other than 502 (a taken nick, a node that is not ours...)
//       -> retried at the longest pause only: they need a change of configuration
//
// Once registered, a container of a type guifi.net knows (proxy3 -> Proxy,
// dnsservice -> DNS, snpservice -> SNPgraphs) that starts gets its guifi
// service declared once (`declare_services`, default on).
import type { Logger } from '../obs/log.ts';
import type { Limits } from '../config/limits.ts';
import { currentSecrets, type GuifiSecrets, type GuifiSettings } from '../config/guifi-settings.ts';
import { errorMessage } from '../errors.ts';
import { GuifiClient, DEFAULT_GUIFI_API, type GuifiServiceType } from './client.ts';
import type { HttpGet } from './http.ts';
import type { GuifiStateStore } from './state.ts';
import { isTokenRefused, isTransient } from './errors.ts';
import { loginAndSave } from './session.ts';
import { registerNode, declareServices, type RegisterRequest } from './register.ts';
import { normalizeMac, type CnmlDevice } from './cnml.ts';

/** Cloudy service types (container templates) -> the guifi.net service they are. */
export const GUIFI_SERVICE_OF: Readonly<Record<string, GuifiServiceType>> = Object.freeze({
  proxy3: 'Proxy', dnsservice: 'DNS', snpservice: 'SNPgraphs',
});

export function guifiTypesOf(cloudyTypes: readonly string[]): GuifiServiceType[] {
  return [...new Set(cloudyTypes.map((t) => GUIFI_SERVICE_OF[t]).filter((t): t is GuifiServiceType => t !== undefined))];
}

export type RegistrarPhase = 'off' | 'registering' | 'retrying' | 'waiting-token' | 'registered' | 'stopped';

export interface RegistrarOptions {
  settings: GuifiSettings;
  store: GuifiStateStore;
  limits: Pick<Limits, 'guifiRequestTimeoutMs' | 'guifiReplyMaxBytes' | 'guifiRetryBaseMs' | 'guifiRetryMaxMs' | 'guifiRetryJitterPct'>;
  logger: Logger;
  /** MAC of the community interface (settings.mac wins). */
  mac: () => Promise<string>;
  /** Cloudy service types of the containers running now. */
  localServiceTypes?: () => Promise<string[]>;
  http?: HttpGet;
  /** Password and token as they are now (default: settings, files re-read). */
  secrets?: () => Promise<GuifiSecrets>;
  random?: () => number;
}

class WaitForToken extends Error {}

export class GuifiRegistrar {
  private phaseValue: RegistrarPhase = 'off';
  private attempts = 0;
  private failures = 0;
  private lastError = '';
  private deviceId = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private readonly abort = new AbortController();
  /** Tokens guifi.net refused: not offered again (bounded: a few per run at most). */
  private readonly badTokens = new Set<string>();
  /** Services known to be declared (asked this run, or seen in CNML). */
  private readonly declared = new Set<GuifiServiceType>();
  private readonly log: Logger;
  private waitingFor = '';

  constructor(private readonly o: RegistrarOptions) {
    this.log = o.logger.child('guifi');
  }

  get phase(): RegistrarPhase { return this.phaseValue; }

  /** Starts the background work (returns at once). */
  start(): void {
    const s = this.o.settings;
    this.log.info(s.nodeId
      ? `guifi.net registration under node ${s.nodeId} starts in the background (${s.api || DEFAULT_GUIFI_API})`
      : 'guifi.net: no node id configured; checking for a registration made by hand');
    this.schedule(0);
  }

  /** Local services changed (a container started): declare what guifi.net should know, once. */
  servicesChanged(): void {
    if (this.phaseValue === 'registered' || this.phaseValue === 'off') this.schedule(0);
  }

  /** Something changed by hand (a login or registration through the GUI or RPC): look again now. */
  poke(): void {
    this.schedule(0);
  }

  stats(): Record<string, string> {
    return {
      phase: this.phaseValue, device_id: String(this.deviceId), attempts: String(this.attempts),
      declared: [...this.declared].sort().join(',') || '-', last_error: this.lastError || '-',
    };
  }

  async stop(): Promise<void> {
    this.phaseValue = 'stopped';
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running?.catch(() => {});
  }

  private schedule(ms: number): void {
    if (this.phaseValue === 'stopped') return;
    if (this.running) { if (ms === 0) this.again = true; return; }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.pass().then((next) => {
        this.running = null;
        if (this.again) { this.again = false; this.schedule(0); } else if (next !== null) this.schedule(next);
      });
    }, ms);
    this.timer.unref();
  }

  private backoffMs(permanent: boolean): number {
    const l = this.o.limits;
    const full = permanent ? l.guifiRetryMaxMs : Math.min(l.guifiRetryMaxMs, l.guifiRetryBaseMs * 2 ** Math.min(30, this.failures - 1));
    return Math.round(full * (1 - (l.guifiRetryJitterPct / 100) * (this.o.random ?? Math.random)()));
  }

  private client(token?: string): GuifiClient {
    return new GuifiClient({
      apiUrl: this.o.settings.api || DEFAULT_GUIFI_API,
      timeoutMs: this.o.limits.guifiRequestTimeoutMs, maxReplyBytes: this.o.limits.guifiReplyMaxBytes,
      signal: this.abort.signal,
      ...(token ? { token } : {}), ...(this.o.http ? { http: this.o.http } : {}),
      onRequest: (what) => this.log.debug(`request ${what}`),
    });
  }

  private async wantedServices(): Promise<GuifiServiceType[]> {
    if (this.o.settings.declareServices === false || !this.o.localServiceTypes) return [];
    return guifiTypesOf(await this.o.localServiceTypes());
  }

  /** One attempt (or declaration pass); the pause before the next one, null when none is due. */
  private async pass(): Promise<number | null> {
    if (this.phaseValue === 'stopped') return null;
    const registered = this.phaseValue === 'registered';
    if (!registered) { this.attempts++; this.phaseValue = this.phaseValue === 'off' && !this.o.settings.nodeId ? 'off' : 'registering'; }
    try {
      if (registered || this.phaseValue === 'off') await this.declarePass(registered);
      else await this.registerPass();
      this.failures = 0;
      this.lastError = '';
      return null;
    } catch (e) {
      if ((this.phaseValue as RegistrarPhase) === 'stopped') return null;
      this.failures++;
      if (e instanceof WaitForToken) {
        if (!registered) this.phaseValue = 'waiting-token';
        return this.backoffMs(false);
      }
      const permanent = !isTransient(e);
      this.lastError = errorMessage(e);
      if (!registered && this.phaseValue !== 'off') this.phaseValue = 'retrying';
      const wait = this.backoffMs(permanent);
      this.log[permanent ? 'error' : 'warn'](`${registered ? 'declaring services' : `registration attempt ${this.attempts}`} failed: ${this.lastError}; next try in ${(wait / 1000).toFixed(1)} s`);
      return wait;
    }
  }

  /** A token to use: the state's, else the configuration's, else a login; none -> WaitForToken. */
  private async token(client: GuifiClient, secrets: GuifiSecrets): Promise<void> {
    const st = await this.o.store.read();
    const user = this.o.settings.user || st.username;
    const candidates = [st.token, secrets.token].filter((t) => t !== '' && !this.badTokens.has(t));
    if (candidates[0] !== undefined) {
      client.setToken(candidates[0]);
      if (candidates[0] !== st.token) await this.o.store.update({ token: candidates[0], ...(user ? { username: user } : {}) });
      return;
    }
    if (user !== '' && secrets.password !== '') {
      this.log.info(`logging in to guifi.net as ${user}`);
      await loginAndSave(client, this.o.store, user, secrets.password);
      return;
    }
    const where = this.o.settings.tokenFile || 'the configuration (token or password) or `cloudy-agent guifi login`';
    if (this.waitingFor !== where) this.log.warn(`no usable guifi.net token: waiting for a new one in ${where}`);
    this.waitingFor = where;
    throw new WaitForToken();
  }

  /** Runs `fn` with a token; a 502 marks it bad and tries the next source once (no loop). */
  private async authed<T>(client: GuifiClient, fn: () => Promise<T>): Promise<T> {
    const secrets = await (this.o.secrets ?? (() => currentSecrets(this.o.settings)))();
    await this.token(client, secrets);
    try {
      return await fn();
    } catch (e) {
      if (!isTokenRefused(e)) throw e;
      this.badTokens.add(client.token ?? '');
      this.log.warn('guifi.net refused the token (502: expired or replaced by another login)');
      await this.token(client, secrets);
      return fn();
    }
  }

  private async registerPass(): Promise<void> {
    const s = this.o.settings;
    const st = await this.o.store.read();
    const nodeId = s.nodeId || st.nodeId;
    const client = this.client();
    if (st.deviceId !== 0 && st.nodeId === nodeId) {
      // A registered box needs no token to know it is registered.
      const dev = (await client.readNode(nodeId)).devices.find((d) => d.id === st.deviceId);
      if (dev && dev.interfaces.length > 0) {
        this.registered(dev, 'already registered');
        await this.declarePass(true);
        return;
      }
      this.log.info(`device ${st.deviceId} ${dev ? 'has no IPv4' : 'is not in the node any more'}: registering again`);
    }
    const mac = (s.mac ? normalizeMac(s.mac) : null) ?? await this.o.mac();
    const services = await this.wantedServices();
    const req: RegisterRequest = {
      nodeId, mac, services,
      ...(s.deviceName ? { deviceName: s.deviceName } : {}), ...(s.linkDevice ? { linkDevice: s.linkDevice } : {}),
      ...(s.email ? { email: s.email } : {}), ...(s.comment ? { comment: s.comment } : {}),
    };
    this.log.info(`registration attempt ${this.attempts}: node ${nodeId}, MAC ${mac}`);
    const r = await this.authed(client, () => registerNode(req, { client, store: this.o.store, log: (l) => this.log.info(l) }));
    for (const t of services) this.declared.add(t);
    this.registered(r.device, 'registered');
  }

  private registered(dev: CnmlDevice, how: string): void {
    this.phaseValue = 'registered';
    this.deviceId = dev.id;
    for (const svc of dev.services) if (Object.values(GUIFI_SERVICE_OF).includes(svc.type as GuifiServiceType)) this.declared.add(svc.type as GuifiServiceType);
    this.log.info(`${how}: device ${dev.id} "${dev.title}", IPv4 ${dev.interfaces.map((i) => i.ipv4).join(', ')}`);
  }

  /** Declares the wanted services not declared yet; reads CNML first so a declared one needs no token. */
  private async declarePass(registered: boolean): Promise<void> {
    const st = await this.o.store.read();
    if (!registered) {
      if (st.deviceId === 0) return; // not registered (by hand either): nothing to declare
      this.phaseValue = 'registered';
      this.deviceId = st.deviceId;
    }
    const todo = (await this.wantedServices()).filter((t) => !this.declared.has(t));
    if (todo.length === 0) return;
    const client = this.client();
    const dev = (await client.readNode(st.nodeId)).devices.find((d) => d.id === st.deviceId);
    for (const svc of dev?.services ?? []) if (todo.includes(svc.type as GuifiServiceType)) this.declared.add(svc.type as GuifiServiceType);
    const left = todo.filter((t) => !this.declared.has(t));
    if (left.length === 0) return;
    this.log.info(`declaring guifi services ${left.join(', ')} for the containers running here`);
    await this.authed(client, () => declareServices(left, { client, store: this.o.store, log: (l) => this.log.info(l) }));
    for (const t of left) this.declared.add(t);
  }
}
