// JSON config files in serf's format (`serf agent -config-file`), plus our
// `mode`, `memory_budget` and `limits` keys. Unknown keys are an error naming
// the key (a typo must not silently fall back to a default).
import { readFileSync } from 'node:fs';
import { AgentError, errorMessage } from '../errors.ts';
import { checkKey, parseLevel, parseLimitOverride, parseSize, type AgentConfig, type ConfigLayer, type ProfileName } from './agent-config.ts';
import type { AgentMode, Limits } from './limits.ts';
import { parseGoDuration } from './go-values.ts';
import { guifiSettingsFromJson } from './guifi-settings.ts';

type Json = unknown;

export function readConfigFile(path: string): ConfigLayer {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new AgentError('E_CONFIG', `-config-file ${path}: ${errorMessage(e)}`);
  }
  let obj: Json;
  try { obj = JSON.parse(text); } catch (e) {
    throw new AgentError('E_CONFIG', `-config-file ${path}: invalid JSON: ${errorMessage(e)}`);
  }
  return configFromJson(obj, path);
}

export function configFromJson(obj: Json, source = 'config'): ConfigLayer {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new AgentError('E_CONFIG', `${source}: expected a JSON object`);
  }
  const o = obj as Record<string, Json>;
  const at = (k: string) => `${source}: ${k}`;
  const str = (k: string): string => {
    if (typeof o[k] !== 'string') throw new AgentError('E_CONFIG', `${at(k)}: expected a string`);
    return o[k] as string;
  };
  const bool = (k: string): boolean => {
    if (typeof o[k] !== 'boolean') throw new AgentError('E_CONFIG', `${at(k)}: expected true or false`);
    return o[k] as boolean;
  };
  const int = (k: string): number => {
    if (typeof o[k] !== 'number' || !Number.isInteger(o[k])) throw new AgentError('E_CONFIG', `${at(k)}: expected an integer`);
    return o[k] as number;
  };
  const strList = (k: string): string[] => {
    const v = o[k];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new AgentError('E_CONFIG', `${at(k)}: expected a list of strings`);
    return v as string[];
  };
  const duration = (k: string): number => {
    const ms = typeof o[k] === 'string' ? parseGoDuration(o[k] as string) : undefined;
    if (ms === undefined) throw new AgentError('E_CONFIG', `${at(k)}: expected a duration like "30s"`);
    return ms;
  };
  const layer: ConfigLayer = {};
  const tags: Record<string, string> = {};
  for (const k of Object.keys(o)) {
    switch (k) {
      case 'node_name': layer.nodeName = str(k); break;
      case 'role': tags.role = str(k); break;
      case 'tags': {
        const t = o[k];
        if (t === null || typeof t !== 'object' || Array.isArray(t) || !Object.values(t).every((x) => typeof x === 'string')) {
          throw new AgentError('E_CONFIG', `${at(k)}: expected an object of strings`);
        }
        Object.assign(tags, t);
        break;
      }
      case 'tags_file': layer.tagsFile = str(k); break;
      case 'data_dir': layer.dataDir = str(k); break;
      case 'community_interface': layer.communityInterface = str(k); break;
      case 'containers': layer.containers = bool(k); break;
      case 'lxc': {
        const v = o[k];
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AgentError('E_CONFIG', `${at(k)}: expected an object`);
        const lxc: AgentConfig['lxc'] = {};
        for (const [name, val] of Object.entries(v as Record<string, Json>)) {
          if (typeof val !== 'string') throw new AgentError('E_CONFIG', `${at(k)}.${name}: expected a string`);
          if (name === 'bridge' || name === 'cidr' || name === 'gateway' || name === 'path') lxc[name] = val;
          else if (name === 'nft_table' && /^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(val)) lxc.nftTable = val;
          else throw new AgentError('E_CONFIG', `${at(k)}.${name}: unknown key or bad value`);
        }
        if ([lxc.bridge, lxc.cidr, lxc.gateway].filter((x) => x !== undefined).length % 3 !== 0) {
          throw new AgentError('E_CONFIG', `${at(k)}: give bridge, cidr and gateway together`);
        }
        layer.lxc = lxc;
        break;
      }
      case 'trusted_operators': layer.trustedOperators = strList(k); break;
      case 'http': layer.http = str(k); break;
      case 'http_guest': layer.httpGuest = bool(k); break;
      case 'bind': layer.bind = str(k); break;
      case 'advertise': layer.advertise = str(k); break;
      case 'encrypt_key': layer.encryptKey = str(k); checkKey(layer.encryptKey, at(k)); break;
      case 'keyring_file': layer.keyringFile = str(k); break;
      case 'log_level': layer.logLevel = parseLevel(str(k), at(k)); break;
      case 'rpc_addr': layer.rpcAddr = str(k); break;
      case 'rpc_auth': layer.rpcAuth = str(k); break;
      case 'protocol': layer.protocol = int(k); break;
      case 'replay_on_join': layer.replayOnJoin = bool(k); break;
      case 'start_join': case 'retry_join': layer.join = [...(layer.join ?? []), ...strList(k)]; break;
      case 'retry_interval': layer.retryIntervalMs = duration(k); break;
      case 'retry_max_attempts': layer.retryMaxAttempts = int(k); break;
      case 'event_handlers': layer.eventHandlers = strList(k); break;
      case 'profile': layer.profile = str(k) as ProfileName; break;
      case 'snapshot_path': layer.snapshotPath = str(k); break;
      case 'rejoin_after_leave': layer.rejoinAfterLeave = bool(k); break;
      case 'leave_on_terminate': layer.leaveOnTerminate = bool(k); break;
      case 'skip_leave_on_interrupt': layer.skipLeaveOnInterrupt = bool(k); break;
      case 'enable_compression': layer.enableCompression = bool(k); break;
      case 'mode': layer.mode = str(k) as AgentMode; break;
      case 'memory_budget': {
        const v = o[k];
        const n = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v) : undefined;
        if (n === undefined) throw new AgentError('E_CONFIG', `${at(k)}: expected a size like "64MB"`);
        layer.memoryBudget = n;
        break;
      }
      case 'limits': {
        const v = o[k];
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AgentError('E_CONFIG', `${at(k)}: expected an object`);
        const over: Partial<Limits> = {};
        for (const [name, val] of Object.entries(v as Record<string, Json>)) {
          const [ln, n] = parseLimitOverride(`${name}=${String(val)}`, `${at(k)}.${name}`);
          over[ln] = n;
        }
        layer.limitOverrides = over;
        break;
      }
      // serf keys we accept but that do not apply to this agent (kept so serf configs load).
      case 'guifi': layer.guifi = guifiSettingsFromJson(o[k], at(k)); break;
      case 'discover': layer.discover = str(k); break;
      case 'microcloud': layer.microcloud = str(k); break;
      case 'getinconf_file': layer.getinconfFile = str(k); break;
      case 'interface': layer.discoverInterface = str(k); break;
      case 'enable_syslog': case 'syslog_facility': case 'statsite_addr':
      case 'statsd_addr': case 'disable_name_resolution': case 'disable_coordinates': case 'reconnect_interval':
      case 'reconnect_timeout': case 'tombstone_timeout': case 'broadcast_timeout': case 'query_response_size_limit':
      case 'query_size_limit': case 'user_event_size_limit': case 'mdns':
        break;
      default:
        throw new AgentError('E_CONFIG', `${at(k)}: unknown configuration key`);
    }
  }
  if (Object.keys(tags).length) layer.tags = tags;
  return layer;
}

export type { AgentConfig };
