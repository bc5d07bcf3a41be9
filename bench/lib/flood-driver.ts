// The combined flood of issue 17 point 3, driven from outside the agent under
// test: one push/pull over TCP listing `members` fake nodes (as a huge
// federation's member would send it), then `alives` alive messages for other
// fake nodes in compound UDP datagrams at a steady rate. Every message is built
// with the project's wire codecs; the fake nodes live on loopback addresses
// nobody listens on (127.228.x.y), so the target's probes of them go nowhere.
// Used by the bench (bench/flood.ts, real executables) and the flood test
// (test/flood/combined-flood.real.test.ts, our node in-process).
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { encodeMessage } from '../../agent/gossip/wire/memberlist-messages.ts';
import { encodePacket } from '../../agent/gossip/wire/packet.ts';
import { encodePushPull, encodeStreamMessage, type PushNodeState } from '../../agent/gossip/wire/stream.ts';

const META = Uint8Array.of(0xff, 0x80); // serf tags: an empty map
const VSN = Uint8Array.of(1, 5, 2, 2, 5, 4);
/** Alive messages per datagram: ~70 bytes each, a compound of 16 stays under memberlist's 1400-byte budget. */
export const ALIVES_PER_PACKET = 16;

const fakeAddr = (i: number): Uint8Array => Uint8Array.of(127, 228, (i >> 8) & 255, i & 255);

/** The encoded push/pull stream message listing `count` alive fake nodes named `<prefix>-<i>`. */
export function fakePushPull(count: number, prefix: string): Uint8Array {
  const nodes: PushNodeState[] = Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}`, addr: fakeAddr(i), port: 7946, meta: META, incarnation: 1, state: 0 as const, vsn: VSN,
  }));
  return encodeStreamMessage(encodePushPull({ join: false, userState: new Uint8Array(0) }, nodes), { compress: false });
}

/**
 * Sends one push/pull to host:port over TCP and reads the target's own state
 * back (bounded: `timeoutMs`); resolves with the bytes received.
 */
export function sendPushPull(host: string, port: number, state: Uint8Array, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const s = connect(port, host);
    const timer = setTimeout(() => { s.destroy(); resolve(got); }, timeoutMs);
    s.on('connect', () => { s.write(state); });
    s.on('data', (d: Buffer) => { got += d.length; });
    s.on('end', () => { clearTimeout(timer); s.destroy(); resolve(got); });
    s.on('error', (e) => { clearTimeout(timer); if (got > 0) resolve(got); else reject(e); });
  });
}

/** One datagram of ALIVES_PER_PACKET alive messages for fake nodes `<prefix>-<first>`... */
export function alivePacket(prefix: string, first: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let k = 0; k < ALIVES_PER_PACKET; k++) {
    const i = first + k;
    parts.push(encodeMessage({ type: 'alive', incarnation: 1, node: `${prefix}-${i}`, addr: fakeAddr(i), port: 7946, meta: META, vsn: VSN }));
  }
  return encodePacket(parts, { compress: false, crc: false });
}

/**
 * Sends `total` alive messages to host:port at `perSecond` (in 10 ms ticks),
 * giving up at `deadlineMs`; resolves with the number sent.
 */
export async function floodAlives(host: string, port: number, total: number, perSecond: number, prefix: string, deadlineMs: number): Promise<number> {
  const sock: Socket = createSocket('udp4');
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const packets = Math.ceil(total / ALIVES_PER_PACKET);
  const pps = perSecond / ALIVES_PER_PACKET;
  const t0 = Date.now();
  let sent = 0;
  try {
    for (let tick = 0; sent < packets && tick < 1_000_000 && Date.now() - t0 < deadlineMs; tick++) {
      const due = Math.min(packets, Math.floor(((Date.now() - t0) / 1000) * pps) + 1);
      for (; sent < due; sent++) {
        const buf = alivePacket(prefix, sent * ALIVES_PER_PACKET);
        await new Promise<void>((r) => sock.send(buf, port, host, () => r()));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    sock.close();
  }
  return Math.min(total, sent * ALIVES_PER_PACKET);
}
