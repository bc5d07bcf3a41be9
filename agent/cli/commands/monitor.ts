// `monitor`: streams the agent's log lines and events until interrupted (serf monitor).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { errorMessage } from '../../errors.ts';

/** Approximates Go's %#v of a value decoded from msgpack into interface{}. */
export function goSyntax(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number' || typeof v === 'bigint') {
    // go-msgpack decodes positive fixints as int64 (decimal) and wider unsigned as uint64 (0x..).
    return typeof v === 'number' && (!Number.isInteger(v) || v < 128) ? String(v) : `0x${v.toString(16)}`;
  }
  if (v instanceof Uint8Array) {
    return v.length === 0 ? '[]byte(nil)' : `[]byte{${[...v].map((b) => `0x${b.toString(16)}`).join(', ')}}`;
  }
  if (Array.isArray(v)) return `[]interface {}{${v.map(goSyntax).join(', ')}}`;
  const o = v as Record<string, unknown>;
  return `map[string]interface {}{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${goSyntax(o[k])}`).join(', ')}}`;
}

export const monitorCommand = rpcCommand({
  name: 'monitor',
  summary: 'Stream logs and events from the agent',
  help: `Usage: cloudy-agent monitor [options]

  Shows the agent's recent log lines, then follows new lines and events in
  real time; the level may be lower than the agent's own log level.

Options:
  -log-level=info           Lowest level shown (trace, debug, info, warn, err).
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`,
  flags: { 'log-level': 'string' },
  async run({ flags, connect, out, err, io }) {
    const level = flags.str('log-level', 'INFO');
    const client = await connect();
    if (!client) return 1;
    let quitting = false;
    const ended = new Promise<'remote' | 'signal'>((resolve) => {
      client.onClose(() => resolve('remote'));
      io.signal?.addEventListener('abort', () => { quitting = true; resolve('signal'); }, { once: true });
      if (io.signal?.aborted) { quitting = true; resolve('signal'); }
    });
    try {
      await client.stream('*', (rec) => {
        out('Event Info:');
        for (const k of Object.keys(rec)) out(`\t${k}: ${goSyntax(rec[k])}`);
      });
    } catch (e) { err(`Error starting stream: ${errorMessage(e)}`); return 1; }
    try {
      await client.monitor(level, (line) => out(line));
    } catch (e) { err(`Error starting monitor: ${errorMessage(e)}`); return 1; }
    const why = await ended;
    if (why === 'remote' && !quitting) {
      out('');
      out('Remote side ended the monitor! This usually means that the\nremote side has exited or crashed.');
      return 1;
    }
    return 0;
  },
});
