// Logger: one line per record on stderr, "<time> [LEVEL] <namespace>: message".
// Every logger derived from a root shares its level, its sinks and a bounded ring
// of recent lines (replayed to `monitor` subscribers, like serf does).

import { isoTime } from './iso-time.ts';

export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERR';
export const LOG_LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERR'];

export function parseLogLevel(s: string): LogLevel | undefined {
  const u = s.trim().toUpperCase();
  if (u === 'ERROR') return 'ERR';
  if (u === 'WARNING') return 'WARN';
  return (LOG_LEVELS as readonly string[]).includes(u) ? (u as LogLevel) : undefined;
}

export function levelRank(l: LogLevel): number {
  return LOG_LEVELS.indexOf(l);
}

export interface LogRecord { level: LogLevel; line: string }
export type LogSink = (rec: LogRecord) => void;

class LogCore {
  level: LogLevel;
  readonly ring: LogRecord[] = [];
  readonly sinks = new Set<LogSink>();
  constructor(level: LogLevel, readonly ringSize: number, readonly write: ((line: string) => void) | null) {
    this.level = level;
  }
  emit(level: LogLevel, ns: string, msg: string): void {
    const line = `${isoTime()} [${level}] ${ns}: ${msg}`;
    const rec = { level, line };
    // The ring keeps every level down to DEBUG so `monitor -log-level=debug` has history.
    if (levelRank(level) >= levelRank('DEBUG')) {
      this.ring.push(rec);
      if (this.ring.length > this.ringSize) this.ring.shift();
    }
    for (const s of this.sinks) s(rec);
    if (this.write && levelRank(level) >= levelRank(this.level)) this.write(line + '\n');
  }
}

export class Logger {
  private constructor(private readonly core: LogCore, readonly namespace: string) {}

  static root(opts: { level?: LogLevel; ringSize?: number; write?: ((line: string) => void) | null } = {}): Logger {
    const write = opts.write === undefined ? (l: string) => process.stderr.write(l) : opts.write;
    return new Logger(new LogCore(opts.level ?? 'INFO', opts.ringSize ?? 512, write), 'agent');
  }

  /** A silent logger for tests (still records into its ring). */
  static silent(): Logger {
    return Logger.root({ write: null, level: 'ERR' });
  }

  child(ns: string): Logger {
    return new Logger(this.core, this.namespace === 'agent' ? ns : `${this.namespace}.${ns}`);
  }

  setLevel(l: LogLevel): void { this.core.level = l; }
  get level(): LogLevel { return this.core.level; }

  enabled(l: LogLevel): boolean {
    return levelRank(l) >= levelRank(this.core.level) || this.core.sinks.size > 0;
  }

  trace(msg: string): void { if (this.core.sinks.size) this.core.emit('TRACE', this.namespace, msg); }
  debug(msg: string): void { this.core.emit('DEBUG', this.namespace, msg); }
  info(msg: string): void { this.core.emit('INFO', this.namespace, msg); }
  warn(msg: string): void { this.core.emit('WARN', this.namespace, msg); }
  error(msg: string): void { this.core.emit('ERR', this.namespace, msg); }

  /** Subscribe to every record (monitor). Returns the unsubscribe function. */
  subscribe(sink: LogSink): () => void {
    this.core.sinks.add(sink);
    return () => this.core.sinks.delete(sink);
  }

  recent(): readonly LogRecord[] { return this.core.ring; }
}
