// uvu with visible hook errors (see uvu-hooks-visible.mjs).
import * as uvu from 'uvu';

function visible(kind, fn0) {
  const fn = times(`${kind} hook`, fn0);
  return async (state) => {
    try {
      await fn(state);
    } catch (e) {
      process.stdout.write(`\n   FAIL  ${kind} hook: ${e && e.stack ? e.stack : String(e)}\n`);
      throw e;
    }
  };
}

// TEST_TIMES=1: each test's and hook's wall time on stderr (finding what makes `make check` slow).
const times = process.env.TEST_TIMES ? (label, fn) => async (...a) => {
  const t0 = performance.now();
  try { return await fn(...a); } finally { process.stderr.write(`[time] ${((performance.now() - t0) / 1000).toFixed(2)}s ${label}\n`); }
} : (_label, fn) => fn;

function wrapSuite(t0) {
  const t = Object.assign((name, fn) => t0(name, times(name, fn)), t0);
  t.only = (name, fn) => t0.only(name, times(name, fn));
  const { before, after } = t0;
  const b = (fn) => before(visible('before', fn));
  b.each = (fn) => before.each(visible('before.each', fn));
  const a = (fn) => after(visible('after', fn));
  a.each = (fn) => after.each(visible('after.each', fn));
  t.before = b;
  t.after = a;
  return t;
}

export const test = wrapSuite(uvu.test);
export function suite(...args) {
  return wrapSuite(uvu.suite(...args));
}
export const exec = uvu.exec;
