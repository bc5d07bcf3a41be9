import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventCoalescing } from '../../../agent/gossip/serf/coalesce.ts';
import type { Clock } from '../../../agent/gossip/clock.ts';
import type { Member, SerfEvent } from '../../../agent/gossip/serf/types.ts';
import { sleep } from '../../support/wait.ts';

// A hand-driven clock: timers fire only when advance() passes them.
function manualClock() {
  let now = 0;
  let timers: { at: number; fn: () => void; dead: boolean }[] = [];
  const clock: Clock = {
    now: () => now,
    after(ms, fn) { const t = { at: now + ms, fn, dead: false }; timers.push(t); return { cancel: () => { t.dead = true; } }; },
    every() { return { cancel() {} }; },
    sleep: async () => {},
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (let guard = 0; guard < 1000; guard++) {
      const due = timers.filter((t) => !t.dead && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      now = due.at; due.dead = true; due.fn();
      timers = timers.filter((t) => !t.dead);
    }
    now = end;
  };
  return { clock, advance };
}

const mem = (name: string): Member => ({ name, addr: '127.0.0.1', port: 1, tags: {}, status: 'alive',
  protocolMin: 1, protocolMax: 5, protocolCur: 2, delegateMin: 2, delegateMax: 5, delegateCur: 4 });
const user = (name: string, ltime: number, cc: boolean): SerfEvent =>
  ({ type: 'user', name, ltime, payload: new Uint8Array([ltime]), coalesce: cc });

test('user events with CC: only the newest LTime per name after the quiescent period', () => {
  const { clock, advance } = manualClock();
  const out: SerfEvent[] = [];
  const c = new EventCoalescing(clock, null, { periodMs: 3000, quiescentMs: 1000 }, (e) => out.push(e));
  c.push(user('deploy', 1, true));
  c.push(user('deploy', 3, true));
  c.push(user('deploy', 2, true));
  c.push(user('other', 1, true));
  advance(999);
  assert.is(out.length, 0, 'held during quiescence');
  advance(1);
  assert.equal(out.map((e) => e.type === 'user' ? `${e.name}@${e.ltime}` : ''), ['deploy@3', 'other@1']);
});

test('CC=false passes immediately; period bounds the delay under a steady stream', () => {
  const { clock, advance } = manualClock();
  const out: SerfEvent[] = [];
  const c = new EventCoalescing(clock, null, { periodMs: 3000, quiescentMs: 1000 }, (e) => out.push(e));
  c.push(user('now', 1, false));
  assert.is(out.length, 1);
  for (let i = 0; i < 10; i++) { c.push(user('x', 10 + i, true)); advance(500); }
  // flushed at t=3000 by the period even though events kept coming every 500 ms
  const xs = out.filter((e) => e.type === 'user' && e.name === 'x');
  assert.ok(xs.length >= 1 && xs.length <= 2, `got ${xs.length}`);
});

test('member events: latest type per member, repeats dropped, updates always pass', () => {
  const { clock, advance } = manualClock();
  const out: SerfEvent[] = [];
  const c = new EventCoalescing(clock, { periodMs: 3000, quiescentMs: 1000 }, null, (e) => out.push(e));
  c.push({ type: 'member-join', members: [mem('a')] });
  c.push({ type: 'member-failed', members: [mem('a')] });
  c.push({ type: 'member-join', members: [mem('b')] });
  advance(1000);
  const got = out.map((e) => `${e.type}:${e.type !== 'user' && e.type !== 'query' ? e.members.map((m) => m.name).join(',') : ''}`).sort();
  assert.equal(got, ['member-failed:a', 'member-join:b']);
  out.length = 0;
  c.push({ type: 'member-join', members: [mem('b')] }); // repeat of what was delivered
  c.push({ type: 'member-update', members: [mem('a')] });
  advance(1000);
  assert.equal(out.map((e) => e.type), ['member-update']);
});

test('zero period disables coalescing', () => {
  const { clock } = manualClock();
  const out: SerfEvent[] = [];
  const c = new EventCoalescing(clock, { periodMs: 0, quiescentMs: 0 }, { periodMs: 0, quiescentMs: 0 }, (e) => out.push(e));
  c.push(user('x', 1, true));
  c.push({ type: 'member-join', members: [mem('a')] });
  assert.is(out.length, 2);
});

test.run();
