// Event handler scripts: serf's filter syntax, environment, stdin, query
// responses from stdout, bounded queue with counted drops, timeouts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventHandlerRunner } from '../../agent/event-handlers/runner.ts';
import { parseAllEventScripts, parseEventScripts, eventHandlerStats } from '../../agent/event-handlers/scripts.ts';
import { handlerStdin, tagEnvName } from '../../agent/event-handlers/invoke.ts';
import { createExec } from '../../agent/system/exec.ts';
import { Logger } from '../../agent/obs/log.ts';
import { Counters } from '../../agent/obs/counters.ts';
import { defaultLimits } from '../../agent/config/limits.ts';
import type { Member, SerfEvent } from '../../agent/gossip/serf/types.ts';

const self: Member = {
  name: 'edge-1', addr: '10.1.2.3', port: 5000, tags: { role: 'gw', 'cloudy.zone': 'bcn' }, status: 'alive',
  protocolMin: 2, protocolMax: 5, protocolCur: 4, delegateMin: 2, delegateMax: 5, delegateCur: 4,
};
const te = new TextEncoder();
const dir = mkdtempSync(join(tmpdir(), 'handlers-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function runner(specs: string[], limits = defaultLimits(), counters = new Counters()) {
  return { r: new EventHandlerRunner({ scripts: parseAllEventScripts(specs), self: () => self, exec: createExec(), logger: Logger.silent(), counters, limits }), counters };
}

test('spec parsing like serf', () => {
  assert.equal(parseEventScripts('x.sh'), [{ filter: { event: '*', name: '' }, script: 'x.sh' }]);
  assert.equal(parseEventScripts('member-join,user:deploy=run.sh a=b').map((s) => [s.filter, s.script]), [
    [{ event: 'member-join', name: '' }, 'run.sh a=b'],
    [{ event: 'user', name: 'deploy' }, 'run.sh a=b'],
  ]);
  assert.throws(() => parseEventScripts('member-joined=x.sh'), /invalid event filter/);
  assert.equal(eventHandlerStats(parseEventScripts('query:whoami=echo hi')), { 'query:whoami': 'echo hi' });
  assert.is(tagEnvName('cloudy.zone-x'), 'SERF_TAG_CLOUDY_ZONE_X');
});

test('user event: env and stdin (payload gets a trailing newline)', async () => {
  const out = join(dir, 'user.txt');
  const { r } = runner([`user:deploy=env | grep ^SERF_ | sort > ${out}; echo --- >> ${out}; cat >> ${out}`]);
  r.handle({ type: 'user', ltime: 7, name: 'other', payload: te.encode('no'), coalesce: true });
  r.handle({ type: 'user', ltime: 8, name: 'deploy', payload: te.encode('v1.2'), coalesce: true });
  await r.idle();
  const text = readFileSync(out, 'utf8');
  assert.is(text, [
    'SERF_EVENT=user', 'SERF_SELF_NAME=edge-1', 'SERF_SELF_ROLE=gw', 'SERF_TAG_CLOUDY_ZONE=bcn', 'SERF_TAG_ROLE=gw',
    'SERF_USER_EVENT=deploy', 'SERF_USER_LTIME=8', '---', 'v1.2', '',
  ].join('\n'));
});

test('member event: one tab-separated line per member on stdin', async () => {
  const out = join(dir, 'member.txt');
  const { r } = runner([`member-join=cat > ${out}; echo "$SERF_EVENT" >> ${out}`]);
  const m2: Member = { ...self, name: 'n\t2', addr: '10.0.0.2', tags: { role: 'db', b: '2', a: '1' } };
  r.handle({ type: 'member-join', members: [self, m2] });
  r.handle({ type: 'member-leave', members: [self] });
  await r.idle();
  assert.is(readFileSync(out, 'utf8'), 'edge-1\t10.1.2.3\tgw\tcloudy.zone=bcn,role=gw\nn\\t2\t10.0.0.2\tdb\ta=1,b=2,role=db\nmember-join\n');
  assert.is(new TextDecoder().decode(handlerStdin({ type: 'user', ltime: 1, name: 'x', payload: te.encode('a\n'), coalesce: false })), 'a\n');
});

test('query handler: output becomes the response; failures and expired queries do not respond', async () => {
  const { r, counters } = runner([
    'query:whoami=echo "i am $SERF_SELF_NAME ($SERF_QUERY_NAME/$SERF_QUERY_LTIME)"; cat',
    'query:fail=echo nope; exit 3',
  ]);
  const answers: string[] = [];
  const q = (name: string, deadline: number): SerfEvent => ({
    type: 'query', query: { ltime: 5, id: 1, name, payload: te.encode('ping'), sourceNode: 'x', deadline, respond: async (p) => { answers.push(`${name}:${Buffer.from(p).toString()}`); } },
  });
  r.handle(q('whoami', Date.now() + 10_000));
  r.handle(q('fail', Date.now() + 10_000));
  r.handle(q('whoami', Date.now() - 1));
  await r.idle();
  assert.equal(answers, ['whoami:i am edge-1 (whoami/5)\nping\n']);
  assert.is(counters.get('handler.failures'), 1);
  assert.is(counters.get('drop.handler_query_expired'), 1);
});

test('bounded queue: overflow dropped and counted; timeout kills a script', async () => {
  const limits = { ...defaultLimits(), handlerQueue: 3, handlerTimeoutMs: 300 };
  const marker = join(dir, 'slow-done');
  const { r, counters } = runner([`user=sleep 5; touch ${marker}`], limits);
  const started = Date.now();
  for (let i = 0; i < 10; i++) r.handle({ type: 'user', ltime: i, name: 'e', payload: new Uint8Array(0), coalesce: false });
  // the first event is taken off the queue at once; 3 wait; 6 are dropped
  assert.is(counters.get('drop.handler_queue'), 6);
  await r.idle();
  assert.is(counters.get('handler.timeouts'), 4);
  assert.ok(!existsSync(marker), 'timed-out scripts were killed');
  assert.ok(Date.now() - started < 15_000);
  await r.stop();
  r.handle({ type: 'user', ltime: 99, name: 'e', payload: new Uint8Array(0), coalesce: false });
  assert.is(r.queued(), 0, 'nothing accepted after stop');
});

test('reload replaces the scripts', async () => {
  const out = join(dir, 'reload.txt');
  const { r } = runner([`user=echo old >> ${out}`]);
  r.handle({ type: 'user', ltime: 1, name: 'e', payload: new Uint8Array(0), coalesce: false });
  await r.idle();
  r.update(parseAllEventScripts([`user=echo new >> ${out}`]));
  r.handle({ type: 'user', ltime: 2, name: 'e', payload: new Uint8Array(0), coalesce: false });
  await r.idle();
  assert.is(readFileSync(out, 'utf8'), 'old\nnew\n');
});

test.run();
