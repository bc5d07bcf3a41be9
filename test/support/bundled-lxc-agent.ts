// The set-up the kill -9 tests share: the bundled agent (it restarts in well
// under a second), a fresh container bridge with its gateway address, the LXC
// path and data directory, and agent.json pointing the agent at them.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BridgeNetwork } from '../../agent/containers/ipam.ts';

const REPO_ROOT = new URL('../..', import.meta.url).pathname;

function run(file: string, args: string[]): { code: number; err: string } {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, err: r.stderr ?? '' };
}

/** Builds `bundle`, recreates the bridge, makes `lxcPath` and `data`, writes `<work>/agent.json`. */
export function prepareBundledLxcAgent(o: { bundle: string; work: string; network: BridgeNetwork; lxcPath: string; data: string; nftTable: string }): void {
  const b = run(process.execPath, [join(REPO_ROOT, 'tools/bundle.mjs'), join(REPO_ROOT, 'agent/main.ts'), o.bundle]);
  assert.is(b.code, 0, b.err);
  const br = o.network.bridge;
  run('ip', ['link', 'del', br]);
  for (const args of [['link', 'add', br, 'type', 'bridge'], ['addr', 'add', `${o.network.gateway}/24`, 'dev', br], ['link', 'set', br, 'up']]) {
    const r = run('ip', args);
    assert.is(r.code, 0, r.err);
  }
  mkdirSync(o.lxcPath, { recursive: true });
  mkdirSync(o.data, { recursive: true });
  writeFileSync(join(o.work, 'agent.json'), JSON.stringify({ community_interface: br, lxc: { ...o.network, path: o.lxcPath, nft_table: o.nftTable } }));
}
