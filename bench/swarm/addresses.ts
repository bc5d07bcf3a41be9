// Loopback address plan of the swarm: member i gets 127.<base + hi>.<mid>.<lo>,
// lo in 1..254 (avoiding .0 and .255, which some tools treat specially).
// The bench owns 127.10.0.0/16 - 127.20.0.0/16, so base must stay in 10..20.

const PER_THIRD = 254;
const PER_SECOND = 256 * PER_THIRD;

export function memberAddress(baseOctet: number, index: number): string {
  const second = baseOctet + Math.floor(index / PER_SECOND);
  if (second > 255) throw new RangeError(`swarm member ${index} does not fit above 127.${baseOctet}.0.0`);
  const rest = index % PER_SECOND;
  return `127.${second}.${Math.floor(rest / PER_THIRD)}.${(rest % PER_THIRD) + 1}`;
}

export function ipBytes(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map((x) => Number(x)));
}

/** Go net.IP bytes -> dotted quad (4 bytes, or the v4 tail of a v4-in-v6 address). */
export function ipString(b: Uint8Array): string {
  const v = b.length === 16 ? b.subarray(12) : b;
  return Array.from(v).join('.');
}
