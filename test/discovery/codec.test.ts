// The `services` tag codec against the real bzip2/base64 tools and the
// documented Cloudy example (CLOUDY-FACTS §1.3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createExec } from '../../agent/system/exec.ts';
import { isAgentError } from '../../agent/errors.ts';
import {
  decodeServicesTag, encodeServicesTag, parseServicesJson, servicesJson, type ServiceRecord,
} from '../../agent/discovery/codec.ts';
import { bzip2Compress } from '../../agent/discovery/bzip2.ts';

const exec = createExec();
const MAX = 64 * 1024;

/** Runs a shell pipeline with `input` on stdin (the tools avahi-ps uses). */
async function sh(script: string, input?: string): Promise<string> {
  const r = await exec.run('/bin/sh', ['-c', script], { input: input ?? '', timeoutMs: 20_000 });
  if (r.exitCode !== 0) throw new Error(`${script}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

const docker: ServiceRecord = { s: 'Docker', d: 'WordPress', m: 'cloucker.guifi.local', i: '10.139.40.37', p: '8087', e: 'guifi', t: '' };
const serfSelf: ServiceRecord = { s: 'serf', d: 'SERF_instance_running', m: 'node1.guifi.local', i: '10.1.2.3', p: '5000', e: 'guifi', t: '' };
const sync: ServiceRecord = { s: 'syncthing', d: 'Syncthing_instance_running', m: 'node1.guifi.local', i: '10.1.2.3', p: '22000', e: 'guifi', t: 'node_id=ABCDEFG-1234567' };

test('CLOUDY-FACTS §1.3 example tag decodes to its documented record', () => {
  const value = 'QlpoOTFBWSZTWT/oLcYAAB/fgAAQEAVs8AQAQIovrt4KIABIaFMmg0aBkNNMgGqeTSAaaAAyM1Mm93xmkViiUXzPphYgzL03EWYg5ur4MeFHVBVqIAHlusZhWjAlBvDHTMqRWJtNsPZGzoOlBEJFCs/F3JFOFCQP+gtxgA==';
  assert.equal(decodeServicesTag(value, MAX), [docker]);
});

test('JSON text is compact, key order s,d,m,i,p,e,t, newline-terminated like echo', () => {
  assert.is(servicesJson([docker]), '[{"s":"Docker","d":"WordPress","m":"cloucker.guifi.local","i":"10.139.40.37","p":"8087","e":"guifi","t":""}]\n');
});

test('our tag starts with the bzip2 -9 header and round-trips', () => {
  const v = encodeServicesTag([serfSelf, sync, docker]);
  assert.ok(v.startsWith('QlpoOTFBWSZTW'), v.slice(0, 16));
  assert.not.match(v, /\s/);
  assert.equal(decodeServicesTag(v, MAX), [serfSelf, sync, docker]);
});

test('our encoding decodes with the real shell pipeline `base64 -d | bunzip2`', async () => {
  for (const recs of [[serfSelf], [serfSelf, sync], [serfSelf, sync, docker]]) {
    const v = encodeServicesTag(recs);
    const text = await sh('base64 -d | bunzip2', v);
    assert.is(text, servicesJson(recs));
    assert.equal(JSON.parse(text), recs);
  }
});

test("real `echo '[…]' | bzip2 | base64 -w0` output decodes with ours", async () => {
  const json = JSON.stringify([serfSelf, sync]);
  const v = await sh(`echo '${json}' | bzip2 | base64 -w0`);
  assert.ok(v.startsWith('QlpoOTFBWSZTW'));
  assert.equal(decodeServicesTag(v, MAX), [serfSelf, sync]);
  // Same bytes as the documented example when fed the documented record.
  const ex = await sh(`echo '${JSON.stringify([docker])}' | bzip2 | base64 -w0`);
  assert.equal(decodeServicesTag(ex, MAX), [docker]);
});

test('single-quoted records (2014-2018 plug) and mixed quoting decode', async () => {
  const single = "[{'s':'serf','d':'SERF_instance_running','m':'old.guifi.local','i':'10.1.1.1','p':'5000','e':'guifi','t':''}]";
  const mixed = `[{"s":"serf","d":"SERF_instance_running","m":"old.guifi.local","i":"10.1.1.1","p":"5000","e":"guifi","t":""},{'s':'syncthing','d':'Syncthing_instance_running','m':'old.guifi.local','i':'10.1.1.1','p':'22000','e':'guifi','t':'node_id=X'}]`;
  const v1 = await sh(`echo "${single}" | bzip2 | base64 -w0`);
  const r1 = decodeServicesTag(v1, MAX);
  assert.is(r1.length, 1);
  assert.is(r1[0]!.m, 'old.guifi.local');
  const v2 = await sh(`cat | bzip2 | base64 -w0`, mixed + '\n');
  const r2 = decodeServicesTag(v2, MAX);
  assert.equal(r2.map((r) => r.s), ['serf', 'syncthing']);
  assert.is(r2[1]!.t, 'node_id=X');
});

test('tolerates trailing newline in the value, null, empty, unknown keys, numeric port', () => {
  const v = encodeServicesTag([docker]);
  assert.equal(decodeServicesTag(v + '\n', MAX), [docker]);
  assert.equal(decodeServicesTag('', MAX), []);
  assert.equal(parseServicesJson('null\n'), []);
  const withExtra = parseServicesJson('[{"s":"x","p":80,"zz":"y"}]\n');
  assert.is(withExtra[0]!.p, '80');
  assert.is(withExtra[0]!.d, '');
  assert.equal(withExtra[0]!.extra, { zz: 'y' });
});

test('garbage is rejected with E_DECODE, never a crash', () => {
  const bad = [
    'not base64 at all!',
    'QlpoOTFBWSZTW', // truncated
    Buffer.from('hello').toString('base64'), // not bzip2
    Buffer.from(bzip2Compress(new TextEncoder().encode('[{"s":"a",]\n'))).toString('base64'), // bad JSON
    Buffer.from(bzip2Compress(new TextEncoder().encode('[1,2]\n'))).toString('base64'), // not objects
    Buffer.from(bzip2Compress(new TextEncoder().encode('"str"\n'))).toString('base64'),
  ];
  for (const v of bad) {
    try {
      decodeServicesTag(v, MAX);
      assert.unreachable(`accepted ${v}`);
    } catch (e) {
      assert.ok(isAgentError(e, 'E_DECODE'), `${v}: ${(e as Error).message}`);
    }
  }
  // Corrupt one byte in the middle of a valid stream: CRC/decoder error.
  const good = Buffer.from(encodeServicesTag([docker, sync]), 'base64');
  good[good.length >> 1] ^= 0x55;
  try {
    decodeServicesTag(good.toString('base64'), MAX);
    assert.unreachable('accepted a corrupt stream');
  } catch (e) {
    assert.ok(isAgentError(e), (e as Error).message);
  }
});

test('bzip2 bomb is cut at the decoded-size bound', () => {
  const bomb = Buffer.from(bzip2Compress(new Uint8Array(5_000_000).fill(0x20))).toString('base64');
  assert.ok(bomb.length < 1000, `bomb is ${bomb.length} chars`);
  try {
    decodeServicesTag(bomb, MAX);
    assert.unreachable('bomb accepted');
  } catch (e) {
    assert.ok(isAgentError(e, 'E_TOO_LARGE'));
  }
});

test.run();
