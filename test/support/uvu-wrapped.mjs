// uvu with visible hook errors (see uvu-hooks-visible.mjs).
import * as uvu from 'uvu';

function visible(kind, fn) {
  return async (state) => {
    try {
      await fn(state);
    } catch (e) {
      process.stdout.write(`\n   FAIL  ${kind} hook: ${e && e.stack ? e.stack : String(e)}\n`);
      throw e;
    }
  };
}

function wrapSuite(t) {
  const { before, after } = t;
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
