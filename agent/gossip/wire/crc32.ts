// CRC-32/IEEE (zlib/Ethernet: reflected polynomial 0xEDB88320, init and final
// xor 0xFFFFFFFF), as memberlist's hasCrc header uses it (SERF-PROTOCOL.md §2.5).
// node:zlib has a native crc32 from Node 20.15 / 22.2 on; older runtimes use the
// table below. Pure module: node:zlib is a computation library, not I/O. It is
// loaded on the first checksum, not at start (system/lazy-builtin.ts).
import { lazyBuiltin } from '../../system/lazy-builtin.ts';

const zlib = lazyBuiltin('node:zlib');
type Crc32 = (data: Uint8Array, value?: number) => number;
let native: Crc32 | null | undefined;
function nativeCrc32(): Crc32 | null {
  if (native === undefined) native = (zlib() as { crc32?: Crc32 }).crc32 ?? null;
  return native;
}

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** Table-driven CRC-32/IEEE; exported so tests can compare it with the native one. */
export function crc32Portable(data: Uint8Array): number {
  const t = crcTable();
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32/IEEE of `data` as an unsigned 32-bit number. */
export function crc32(data: Uint8Array): number {
  const n = nativeCrc32();
  return n ? n(data) >>> 0 : crc32Portable(data);
}
