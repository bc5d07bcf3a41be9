// `cloudy-agent seed`: the first-boot seed cloudy.conf (agent/config/seed.ts).
//   seed check FILE            parse; print what is wrong (status 1) or "ok"
//   seed get IMAGE|DEVICE      print cloudy.conf from the FAT boot partition
//   seed set IMAGE|DEVICE FILE write FILE as cloudy.conf there (checked first; -force skips)
//   seed apply [-root DIR]     first boot: apply the seed (the image's cloudy-firstboot unit)
//   seed status [-root DIR]    what the first boot did with the seed
// get/set use mtools at the partition's offset: nothing is mounted.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliCommand, CliIO } from '../../cli-kit/command.ts';
import { Flags, FlagError, HelpRequested, parseFlags } from '../../cli-kit/flags.ts';
import { formatSeedErrors, parseSeed } from '../../config/seed.ts';
import { applySeed, readSeedStatus } from '../../config/seed-apply.ts';
import { BootPartition } from '../../system/boot-partition.ts';
import { createExec } from '../../system/exec.ts';
import { errorMessage } from '../../errors.ts';

const HELP = `Usage: cloudy-agent seed <check FILE | get IMAGE | set IMAGE FILE | apply | status> [-root DIR] [-force]

  Reads, checks and writes cloudy.conf, the first-boot seed on the FAT boot
  partition of a Cloudy image (an image file or a device such as /dev/sdb),
  without mounting it. Keys: image/README.md.`;

export const seedCommand: CliCommand = {
  name: 'seed',
  summary: 'Checks, reads or writes the first-boot seed (cloudy.conf) of an image or device',
  async run(argv: string[], io: CliIO): Promise<number> {
    const [sub, ...rest] = argv;
    let f: Flags;
    try {
      f = new Flags(parseFlags(rest, { root: 'string', force: 'bool' }));
    } catch (e) {
      if (e instanceof HelpRequested) { io.stdout(`${HELP}\n`); return 1; }
      io.stderr(`${errorMessage(e)}\n`);
      return 1;
    }
    const args = f.args;
    try {
      switch (sub) {
        case 'check': {
          if (args.length !== 1) throw new FlagError('usage: seed check FILE');
          const { errors } = parseSeed(readFileSync(args[0]!, 'utf8'));
          if (errors.length) { io.stderr(formatSeedErrors(errors, args[0]) + '\n'); return 1; }
          io.stdout('ok\n');
          return 0;
        }
        case 'get': {
          if (args.length !== 1) throw new FlagError('usage: seed get IMAGE|DEVICE');
          const text = await new BootPartition(createExec(), args[0]!).read('cloudy.conf');
          if (text === null) { io.stderr(`${args[0]}: no cloudy.conf on its boot partition\n`); return 1; }
          io.stdout(text);
          return 0;
        }
        case 'set': {
          if (args.length !== 2) throw new FlagError('usage: seed set IMAGE|DEVICE FILE');
          const text = readFileSync(args[1]!, 'utf8');
          const { errors } = parseSeed(text);
          if (errors.length && !f.bool('force')) { io.stderr(formatSeedErrors(errors, args[1]) + '\n(not written; -force writes it anyway)\n'); return 1; }
          await new BootPartition(createExec(), args[0]!).write('cloudy.conf', text);
          io.stdout(`cloudy.conf written to ${args[0]}\n`);
          return 0;
        }
        case 'apply': {
          const root = f.str('root', '/');
          const st = applySeed({ root, container: existsSync(join(root, 'run/systemd/container')) });
          (st.ok ? io.stdout : io.stderr)(`cloudy-agent seed: ${st.message}\n`);
          if (st.secretsMoved.length) io.stdout(`cloudy-agent seed: secrets moved off the boot partition: ${st.secretsMoved.join(', ')}\n`);
          return 0; // a malformed seed must not stop the boot
        }
        case 'status': {
          const st = readSeedStatus(f.str('root', '/'));
          if (!st) { io.stderr('no first boot recorded\n'); return 1; }
          io.stdout(JSON.stringify(st, null, 2) + '\n');
          return st.ok ? 0 : 2;
        }
        default:
          io.stdout(`${HELP}\n`);
          return 1;
      }
    } catch (e) {
      io.stderr(`seed: ${errorMessage(e)}\n`);
      return 1;
    }
  },
};
