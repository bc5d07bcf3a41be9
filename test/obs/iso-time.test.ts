import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isoTime } from '../../agent/obs/iso-time.ts';

test('isoTime equals Date.prototype.toISOString over a spread of instants', () => {
  const samples = [0, 1, 999, 951782400000 /* 2000-02-29 */, 1796006095123, 253402300799999, -1, -62198755200000, 8.64e15, -8.64e15];
  let x = 123456789;
  for (let i = 0; i < 2000; i++) { x = (x * 1103515245 + 12345) % 2 ** 31; samples.push(Math.floor((x / 2 ** 31) * 4.2e12) - 1e11); }
  for (const ms of samples) assert.is(isoTime(ms), new Date(ms).toISOString(), String(ms));
});

test('isoTime refuses an invalid time like toISOString', () => {
  assert.throws(() => isoTime(Number.NaN), RangeError);
});

test.run();
