// uvu with visible hook errors (see uvu-hooks-visible.mjs).
import * as uvu from 'uvu';
import { inspect } from 'node:util';

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

// uvu formats a failure from err.name, err.stack and err.details, which it
// takes for a string (an assertion's diff). A thrown value that is not an
// Error, or an Error whose `details` is something else (AgentError's details
// object), makes that formatting throw, which uvu's runner swallows too: the
// file shows "(0 / N)", no reason, and runs none of its remaining tests. Such
// a value is rethrown as an Error that names it.
function errorsNamed(fn) {
  return async (...a) => {
    try {
      return await fn(...a);
    } catch (e) {
      if (e instanceof Error && typeof e.name === 'string' && (e.details === undefined || typeof e.details === 'string')) throw e;
      const named = new Error(e instanceof Error ? `${e.name}${e.code ? ` ${e.code}` : ''}: ${e.message} ${inspect(e.details, { depth: 4 })}` : `a non-Error value was thrown: ${inspect(e)}`);
      if (e instanceof Error && e.stack) named.stack = `${named.name}: ${named.message}\n${e.stack.split('\n').slice(1).join('\n')}`;
      throw named;
    }
  };
}

function wrapTest(name, fn) {
  return times(name, errorsNamed(fn));
}

function wrapSuite(t0) {
  const t = Object.assign((name, fn) => t0(name, wrapTest(name, fn)), t0);
  t.only = (name, fn) => t0.only(name, wrapTest(name, fn));
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
