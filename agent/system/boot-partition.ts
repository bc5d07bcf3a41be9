// The FAT boot partition inside a disk image file or a block device, edited
// without mounting (mtools at the partition's byte offset): read or write one
// file such as cloudy.conf. The MBR is parsed here (4 primary entries); the
// first partition of type 0xEF (EFI) or 0x0B/0x0C (FAT32) is the boot partition.
import { openSync, readSync, closeSync } from 'node:fs';
import { AgentError } from '../errors.ts';
import type { Exec } from './exec.ts';

const FAT_TYPES = new Set([0xef, 0x0b, 0x0c, 0x0e, 0x06]);

/** Byte offset of the FAT boot partition from the first sector (MBR) of the disk. */
export function fatPartitionOffset(mbr: Uint8Array): number {
  if (mbr.length < 512 || mbr[510] !== 0x55 || mbr[511] !== 0xaa) throw new AgentError('E_INVALID', 'no MBR partition table (boot signature 55 AA missing)');
  for (let i = 0; i < 4; i++) {
    const e = 446 + i * 16;
    const type = mbr[e + 4]!;
    const lba = (mbr[e + 8]! | (mbr[e + 9]! << 8) | (mbr[e + 10]! << 16) | (mbr[e + 11]! << 24)) >>> 0;
    if (FAT_TYPES.has(type) && lba > 0) return lba * 512;
  }
  throw new AgentError('E_NOT_FOUND', 'no FAT boot partition in the partition table');
}

export function readMbr(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(512);
    if (readSync(fd, b, 0, 512, 0) !== 512) throw new AgentError('E_INVALID', `${path}: shorter than one sector`);
    return b;
  } finally { closeSync(fd); }
}

export class BootPartition {
  private readonly spec: string;
  constructor(private readonly exec: Exec, readonly device: string) {
    this.spec = `${device}@@${fatPartitionOffset(readMbr(device))}`;
  }

  async read(name: string): Promise<string | null> {
    const r = await this.exec.run('mtype', ['-i', this.spec, `::${name}`], { timeoutMs: 30_000, env: { MTOOLS_SKIP_CHECK: '1' } });
    return r.exitCode === 0 ? r.stdout : null;
  }

  async write(name: string, content: string): Promise<void> {
    const r = await this.exec.run('mcopy', ['-o', '-i', this.spec, '-', `::${name}`], { input: content, timeoutMs: 30_000, env: { MTOOLS_SKIP_CHECK: '1' } });
    if (r.exitCode !== 0) throw new AgentError('E_EXEC', `mcopy into ${this.device}: ${r.stderr.trim()}`);
  }
}
