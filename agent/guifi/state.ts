// Registration state, kept like Cloudy's /etc/cloudy/guifi.conf: quoted shell
// variables USERNAME, TOKEN, NODEID, NODENAME, DEVICEID (CLOUDY-FACTS §3), so
// a shell script (or Cloudy itself) can `. guifi.conf`. The password is never
// part of it. Written through AtomicFile: a power cut leaves the old or the new
// file, never a torn one. Lines this code does not know are kept as they are.
import { join } from 'node:path';
import { AtomicFile, type FileStore } from '../state/atomic-file.ts';
import type { StateHealth } from '../state/state-health.ts';
import { AgentError } from '../errors.ts';

export const GUIFI_STATE_FILE = 'guifi.conf';

export interface GuifiState {
  username: string;
  token: string;
  /** 0 = none chosen yet. */
  nodeId: number;
  nodeName: string;
  /** 0 = no device yet. */
  deviceId: number;
}

export const EMPTY_STATE: Readonly<GuifiState> = Object.freeze({ username: '', token: '', nodeId: 0, nodeName: '', deviceId: 0 });

const KEYS = ['USERNAME', 'TOKEN', 'NODEID', 'NODENAME', 'DEVICEID'] as const;
type Key = typeof KEYS[number];

export interface ParsedState {
  state: GuifiState;
  /** Other lines (comments, variables of someone else), kept on rewrite. */
  otherLines: string[];
}

/** Shell double-quoted: `\`, `"`, `$` and backquote escaped; no line breaks. */
export function shellQuote(v: string): string {
  if (/[\n\r\0]/.test(v)) throw new AgentError('E_INVALID', 'a guifi state value may not contain a line break');
  return `"${v.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

function unquote(raw: string, line: number): string {
  const v = raw.trim();
  if (v.startsWith('"')) {
    if (!v.endsWith('"') || v.length < 2) throw bad(line, 'unterminated double quote');
    return v.slice(1, -1).replace(/\\([\\"$`])/g, '$1');
  }
  if (v.startsWith("'")) {
    if (!v.endsWith("'") || v.length < 2) throw bad(line, 'unterminated single quote');
    return v.slice(1, -1);
  }
  return v;
}

function bad(line: number, why: string): AgentError {
  return new AgentError('E_DECODE', `guifi state line ${line}: ${why}`);
}

function idValue(v: string, key: Key, line: number): number {
  if (v === '') return 0;
  if (!/^\d{1,15}$/.test(v)) throw bad(line, `${key} must be a number, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function parseState(text: string): ParsedState {
  const state: GuifiState = { ...EMPTY_STATE };
  const otherLines: string[] = [];
  text.split('\n').forEach((l, i) => {
    const m = /^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(l);
    const key = m?.[1] as Key | undefined;
    if (!m || !key || !(KEYS as readonly string[]).includes(key)) {
      if (l.trim() !== '') otherLines.push(l);
      return;
    }
    const v = unquote(m[2]!, i + 1);
    switch (key) {
      case 'USERNAME': state.username = v; break;
      case 'TOKEN': state.token = v; break;
      case 'NODEID': state.nodeId = idValue(v, key, i + 1); break;
      case 'NODENAME': state.nodeName = v; break;
      case 'DEVICEID': state.deviceId = idValue(v, key, i + 1); break;
    }
  });
  return { state, otherLines };
}

export function formatState(s: GuifiState, otherLines: readonly string[] = []): string {
  const vals: Record<Key, string> = {
    USERNAME: s.username, TOKEN: s.token, NODEID: s.nodeId ? String(s.nodeId) : '',
    NODENAME: s.nodeName, DEVICEID: s.deviceId ? String(s.deviceId) : '',
  };
  return [...KEYS.map((k) => `${k}=${shellQuote(vals[k])}`), ...otherLines].join('\n') + '\n';
}

/** The state file of one data dir; every change is read-modify-write of the whole (small) file. */
export class GuifiStateStore {
  constructor(private readonly file: FileStore) {}

  static inDir(dataDir: string, health: StateHealth | null = null): GuifiStateStore {
    return new GuifiStateStore(new AtomicFile(join(dataDir, GUIFI_STATE_FILE), health));
  }

  async read(): Promise<GuifiState> {
    return (await this.readParsed()).state;
  }

  /** At agent start: a file that does not parse is moved aside (not registered: registration starts again). */
  async checkOnStart(said?: (msg: string) => void): Promise<void> {
    await this.file.readOrMoveAside?.((b) => parseState(new TextDecoder('utf-8', { fatal: true }).decode(b)), 'not registered: registration is retried', said);
  }

  private async readParsed(): Promise<ParsedState> {
    const bytes = await this.file.read();
    return bytes === null ? { state: { ...EMPTY_STATE }, otherLines: [] } : parseState(new TextDecoder().decode(bytes));
  }

  /** Applies `patch` and writes the file (only when something changed); returns the new state. */
  async update(patch: Partial<GuifiState>): Promise<GuifiState> {
    const { state, otherLines } = await this.readParsed();
    const next = { ...state, ...patch };
    if ((Object.keys(patch) as (keyof GuifiState)[]).every((k) => state[k] === next[k])) return next;
    await this.file.write(new TextEncoder().encode(formatState(next, otherLines)));
    return next;
  }
}
