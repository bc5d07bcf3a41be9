import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { filtersMatch, compileRe2 } from '../../../agent/gossip/serf/filters.ts';

test('node filter: own name must be listed', () => {
  assert.ok(filtersMatch([{ type: 'node', nodes: ['a', 'b'] }], 'b', {}));
  assert.not.ok(filtersMatch([{ type: 'node', nodes: ['a'] }], 'b', {}));
});

test('tag filter is an unanchored regex on the tag value; missing tag = ""', () => {
  const tags = { role: 'web-frontend', dc: 'east' };
  assert.ok(filtersMatch([{ type: 'tag', tag: 'role', expr: 'web' }], 'n', tags), 'substring match (unanchored)');
  assert.not.ok(filtersMatch([{ type: 'tag', tag: 'role', expr: '^web$' }], 'n', tags));
  assert.ok(filtersMatch([{ type: 'tag', tag: 'role', expr: '^web-.*$' }], 'n', tags));
  assert.ok(filtersMatch([{ type: 'tag', tag: 'missing', expr: '^$' }], 'n', tags));
  assert.not.ok(filtersMatch([{ type: 'tag', tag: 'missing', expr: '.' }], 'n', tags));
});

test('all filters must pass', () => {
  const tags = { role: 'db' };
  assert.not.ok(filtersMatch([{ type: 'node', nodes: ['n'] }, { type: 'tag', tag: 'role', expr: 'web' }], 'n', tags));
  assert.ok(filtersMatch([{ type: 'node', nodes: ['n'] }, { type: 'tag', tag: 'role', expr: 'db|web' }], 'n', tags));
});

test('invalid regex does not match; RE2 leading flags are honoured', () => {
  assert.is(compileRe2('(unclosed'), null);
  assert.not.ok(filtersMatch([{ type: 'tag', tag: 'r', expr: '(unclosed' }], 'n', { r: '(unclosed' }));
  assert.ok(filtersMatch([{ type: 'tag', tag: 'r', expr: '(?i)^WEB$' }], 'n', { r: 'web' }));
});

test('RE2-only syntax: (?P<name>) groups and \\z', () => {
  assert.ok(filtersMatch([{ type: 'tag', tag: 'r', expr: '^(?P<kind>web|db)-\\d+\\z' }], 'n', { r: 'db-12' }));
  assert.not.ok(filtersMatch([{ type: 'tag', tag: 'r', expr: '^(?P<kind>web|db)-\\d+\\z' }], 'n', { r: 'db-12x' }));
});

test.run();
