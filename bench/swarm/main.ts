// Swarm tool: `node --import tsx bench/swarm/main.ts -count 1000 -join 127.0.0.1:7946 -duration 300`
//
// Flags: -count N (initial members), -base O (second address octet, 10..20),
// -port P (port of every member), -prefix NAME, -join HOST:PORT (repeatable),
// -duration S (stops by itself; default 600, max 3600), -max-members N (sizes the
// descriptor budget; default 20000), -log-level LEVEL, -trust-operator KEY[@role]
// (repeatable: members answer remote-control queries signed by it, remote.ts).
// stdin control (one command a line): `grow <total>`, `pushpull` (one push/pull with
// every known agent now), `stats`, `stop`; closing stdin stops the swarm too.
// stdout: `ready <members>` after each growth (sockets bound, join push/pull done),
// `pushpull <ok count>`, `stats <json>` on request and at exit.
// Needs 2 file descriptors per member (UDP socket + TCP listener); when the limit
// is lower, the members beyond it get no TCP listener (UDP-only), see README.md.
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { Logger, parseLogLevel } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { Swarm } from './swarm.ts';

/** Hard ceiling on a swarm's lifetime, whatever -duration says. */
const MAX_DURATION_S = 3600;

interface Args { trust: string[]; maxMembers: number; count: number; base: number; port: number; prefix: string; join: { host: string; port: number }[]; duration: number; level: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { trust: [], maxMembers: 20_000, count: 10, base: 10, port: 23000, prefix: 'swarm', join: [], duration: 600, level: 'WARN' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!.replace(/^--?/, '');
    const [name, inline] = flag.split('=', 2) as [string, string | undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`flag -${name} needs a value`);
      return v;
    };
    switch (name) {
      case 'count': a.count = Number(val()); break;
      case 'max-members': a.maxMembers = Number(val()); break;
      case 'base': a.base = Number(val()); break;
      case 'port': a.port = Number(val()); break;
      case 'prefix': a.prefix = val(); break;
      case 'join': {
        const v = val();
        const idx = v.lastIndexOf(':');
        a.join.push({ host: v.slice(0, idx), port: Number(v.slice(idx + 1)) });
        break;
      }
      case 'duration': a.duration = Number(val()); break;
      case 'trust-operator': a.trust.push(val()); break;
      case 'log-level': a.level = val(); break;
      default: throw new Error(`unknown flag -${name}`);
    }
  }
  if (!Number.isInteger(a.count) || a.count < 0) throw new Error('-count must be a non-negative integer');
  if (!(a.base >= 10 && a.base <= 20)) throw new Error('-base must be within 10..20 (the bench address range)');
  if (!(a.duration > 0)) throw new Error('-duration must be positive');
  return a;
}

/** Soft RLIMIT_NOFILE of this process (Node has no getrlimit; /proc has it). */
function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return Number(m[1]);
  } catch { /* not Linux */ }
  return 1024;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = Logger.root({ level: parseLogLevel(args.level) ?? 'WARN' }).child('swarm');
  const counters = new Counters();
  // Two descriptors per member when they fit; otherwise the first members get TCP listeners and the rest are UDP-only.
  const nofile = openFilesLimit();
  const reserve = 512; // node itself, outbound push/pull connections, stdio
  const maxTcpListeners = Math.max(0, nofile - reserve - args.maxMembers);
  if (maxTcpListeners < args.maxMembers) {
    log.warn(`descriptor limit ${nofile}: TCP listeners for the first ${maxTcpListeners} of up to ${args.maxMembers} members, the rest UDP-only`);
  }
  const maxMembers = Math.min(args.maxMembers, Math.max(0, nofile - reserve));
  const swarm = new Swarm({ baseOctet: args.base, port: args.port, namePrefix: args.prefix, seeds: args.join, maxMembers, maxTcpListeners, log, counters,
    ...(args.trust.length > 0 ? { remote: { trustSpecs: args.trust } } : {}) });
  let exiting = false;
  const exit = async (why: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    log.info(`stopping: ${why}`);
    process.stdout.write(`stats ${JSON.stringify(swarm.stats())}\n`);
    await swarm.stop();
    process.exit(0);
  };
  setTimeout(() => void exit('duration reached'), Math.min(args.duration, MAX_DURATION_S) * 1000).unref();
  process.on('SIGTERM', () => void exit('SIGTERM'));
  process.on('SIGINT', () => void exit('SIGINT'));

  await swarm.start();
  await swarm.grow(args.count);
  process.stdout.write(`ready ${swarm.members.length}\n`);

  let chain = Promise.resolve();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    chain = chain.then(async () => {
      if (cmd === 'grow') {
        await swarm.grow(Number(arg));
        process.stdout.write(`ready ${swarm.members.length}\n`);
      } else if (cmd === 'pushpull') {
        process.stdout.write(`pushpull ${await swarm.pushPullNow()}\n`);
      } else if (cmd === 'stats') {
        process.stdout.write(`stats ${JSON.stringify(swarm.stats())}\n`);
      } else if (cmd === 'stop') {
        await exit('stop command');
      } else if (cmd) {
        process.stdout.write(`error unknown command ${cmd}\n`);
      }
    }).catch((e: Error) => { process.stdout.write(`error ${e.message}\n`); });
  });
  rl.on('close', () => void exit('stdin closed'));
}

main().catch((e: Error) => {
  process.stderr.write(`swarm: ${e.message}\n`);
  process.exit(1);
});
