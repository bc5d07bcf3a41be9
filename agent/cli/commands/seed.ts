// `cloudy-agent seed`: the first-boot seed cloudy.conf (agent/config/seed.ts).
//   seed check FILE            parse; print what is wrong (status 1) or "ok"
//   seed get IMAGE|DEVICE      print cloudy.conf from the FAT boot partition
//   seed set IMAGE|DEVICE FILE write FILE as cloudy.conf there (checked first; -force skips)
//   seed apply [-root DIR]     first boot: apply the seed (the image's cloudy-firstboot unit)
//   seed status [-root DIR]    what the first boot did with the seed
// get/set use mtools at the partition's offset: nothing is mounted. Built on the
// one CLI scaffold (cli-kit/rpc-command.ts: rpc:false verbs, flags anywhere).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rpcCommandGroup, type RpcCommandDef, type RpcCommandEnv } from '../../cli-kit/rpc-command.ts';
import { formatSeedErrors, parseSeed } from '../../config/seed.ts';
import { applySeed, readSeedStatus } from '../../config/seed-apply.ts';
import { BootPartition } from '../../system/boot-partition.ts';
import { createExec } from '../../system/exec.ts';

const HELP = `Usage: cloudy-agent seed <check FILE | get IMAGE | set IMAGE FILE | apply | status> [-root DIR] [-force]

  Reads, checks and writes cloudy.conf, the first-boot seed on the FAT boot
  partition of a Cloudy image (an image file or a device such as /dev/sdb),
  without mounting it. Keys: image/README.md.`;

/** A `seed` subcommand with `want` positional arguments (undefined: any number). */
function seedSub(name: string, usage: string, want: number | undefined, run: (env: RpcCommandEnv, args: string[]) => Promise<number>): RpcCommandDef {
  return {
    name, summary: '', help: HELP, rpc: false, flags: { root: 'string', force: 'bool' },
    async run(env) {
      if (want !== undefined && env.flags.args.length !== want) return env.usage(`usage: ${usage}`);
      return run(env, env.flags.args);
    },
  };
}

export const seedCommand = rpcCommandGroup({
  name: 'seed',
  summary: 'Checks, reads or writes the first-boot seed (cloudy.conf) of an image or device',
  usage: `${HELP}\n`,
  subcommands: [
    seedSub('check', 'seed check FILE', 1, async (env, [file]) => {
      const { errors } = parseSeed(readFileSync(file!, 'utf8'));
      if (errors.length) { env.io.stderr(formatSeedErrors(errors, file) + '\n'); return 1; }
      env.out('ok');
      return 0;
    }),
    seedSub('get', 'seed get IMAGE|DEVICE', 1, async (env, [image]) => {
      const text = await new BootPartition(createExec(), image!).read('cloudy.conf');
      if (text === null) return env.usage(`${image}: no cloudy.conf on its boot partition`);
      env.io.stdout(text);
      return 0;
    }),
    seedSub('set', 'seed set IMAGE|DEVICE FILE', 2, async (env, [image, file]) => {
      const text = readFileSync(file!, 'utf8');
      const { errors } = parseSeed(text);
      if (errors.length && !env.flags.bool('force')) { env.io.stderr(formatSeedErrors(errors, file) + '\n(not written; -force writes it anyway)\n'); return 1; }
      await new BootPartition(createExec(), image!).write('cloudy.conf', text);
      env.out(`cloudy.conf written to ${image}`);
      return 0;
    }),
    seedSub('apply', 'seed apply [-root DIR]', undefined, async (env) => {
      const root = env.flags.str('root', '/');
      const st = applySeed({ root, container: existsSync(join(root, 'run/systemd/container')) });
      (st.ok ? env.io.stdout : env.io.stderr)(`cloudy-agent seed: ${st.message}\n`);
      if (st.secretsMoved.length) env.out(`cloudy-agent seed: secrets moved off the boot partition: ${st.secretsMoved.join(', ')}`);
      return 0; // a malformed seed must not stop the boot
    }),
    seedSub('status', 'seed status [-root DIR]', undefined, async (env) => {
      const st = readSeedStatus(env.flags.str('root', '/'));
      if (!st) return env.usage('no first boot recorded');
      env.out(JSON.stringify(st, null, 2));
      return st.ok ? 0 : 2;
    }),
  ],
});
