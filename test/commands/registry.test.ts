// The command registry on its own: one validator (types, required fields,
// errors naming the field), roles, unavailable commands with reason and fix,
// and list() for self-description.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandRegistry, defineCommand, type CommandContext } from '../../agent/commands/registry.ts';
import { validateArgs } from '../../agent/commands/schema.ts';
import { AgentError, isAgentError } from '../../agent/errors.ts';

const ADMIN: CommandContext = { origin: 'cli', role: 'admin' };
const VIEWER: CommandContext = { origin: 'http', role: 'viewer' };

const SCHEMA = {
  Name: { type: 'string', required: true, doc: 'a name' },
  Count: { type: 'int', doc: 'a count' },
  On: { type: 'bool', doc: 'a switch' },
  Words: { type: 'string[]', doc: 'some words' },
  Extra: { type: 'map', doc: 'a map' },
} as const;

async function rejection(p: Promise<unknown>): Promise<AgentError> {
  try { await p; } catch (e) { if (e instanceof AgentError) return e; throw e; }
  throw new Error('expected a rejection');
}

function sample(): { registry: CommandRegistry; calls: unknown[] } {
  const calls: unknown[] = [];
  const registry = new CommandRegistry();
  registry.register(defineCommand({
    name: 'thing.set', summary: 'changes a thing', role: 'admin', args: SCHEMA,
    handler: async (a, ctx) => { calls.push({ a, origin: ctx.origin }); return { Name: a.Name, Count: a.Count ?? 0 }; },
  }));
  registry.register(defineCommand({
    name: 'thing.get', summary: 'reads a thing', role: 'viewer', args: {},
    handler: async () => 'value',
  }));
  return { registry, calls };
}

test('valid arguments reach the handler typed; bin strings decode; nil is missing', async () => {
  const { registry, calls } = sample();
  const r = await registry.invoke('thing.set', {
    Name: new TextEncoder().encode('box'), Count: 3n, On: 1, Words: ['a', new TextEncoder().encode('b')], Extra: new Map([['k', 'v']]), Unknown: 'ignored',
  }, ADMIN);
  assert.equal(r, { Name: 'box', Count: 3 });
  assert.equal(calls, [{ a: { Name: 'box', Count: 3, On: true, Words: ['a', 'b'], Extra: { k: 'v' } }, origin: 'cli' }]);
  await registry.invoke('thing.set', { Name: 'x', Count: null }, ADMIN);
  assert.equal((calls[1] as { a: unknown }).a, { Name: 'x', Count: undefined, On: undefined, Words: undefined, Extra: undefined });
});

test('every wrong type is E_INVALID naming the field; nothing runs', async () => {
  const { registry, calls } = sample();
  const cases: [unknown, string][] = [
    [{}, 'Name'],
    [{ Name: null }, 'Name'],
    [{ Name: 5 }, 'Name'],
    [{ Name: 'x', Count: '5' }, 'Count'],
    [{ Name: 'x', Count: 1.5 }, 'Count'],
    [{ Name: 'x', On: 'yes' }, 'On'],
    [{ Name: 'x', Words: 'a b' }, 'Words'],
    [{ Name: 'x', Words: ['a', 2] }, 'Words[1]'],
    [{ Name: 'x', Extra: [1] }, 'Extra'],
    ['not a map', 'arguments'],
  ];
  for (const [args, field] of cases) {
    const e = await rejection(registry.invoke('thing.set', args, ADMIN));
    assert.is(e.code, 'E_INVALID', JSON.stringify(args));
    assert.ok(e.message.startsWith(`${field}:`), `${e.message} names ${field}`);
    if (field !== 'arguments') assert.is(e.details?.field, field);
  }
  assert.is(calls.length, 0);
});

test('nested maps are checked by the same validator, with the path in the field name', () => {
  try {
    validateArgs({ Kind: { type: 'string', required: true, doc: '' } }, { Kind: 7 }, 'Check.');
    assert.unreachable();
  } catch (e) {
    assert.ok(isAgentError(e, 'E_INVALID'));
    assert.is((e as AgentError).details?.field, 'Check.Kind');
  }
});

test('the values of a nested map come back under their own names (the path only names the field in errors)', () => {
  const b = validateArgs({ Kind: { type: 'string', required: true, doc: '' }, Port: { type: 'int', doc: '' } }, { Kind: 'tcp', Port: 80 }, 'Check.');
  assert.equal({ ...b }, { Kind: 'tcp', Port: 80 });
});

test('roles: a viewer reads but may not change state (E_FORBIDDEN); an admin does both', async () => {
  const { registry, calls } = sample();
  assert.is(await registry.invoke('thing.get', undefined, VIEWER), 'value');
  const e = await rejection(registry.invoke('thing.set', { Name: 'x' }, VIEWER));
  assert.is(e.code, 'E_FORBIDDEN');
  assert.match(e.message, /needs the admin role/);
  assert.is(calls.length, 0);
  assert.is(await registry.invoke('thing.get', undefined, ADMIN), 'value');
});

test('an unavailable command answers E_UNAVAILABLE with its reason and fix, before checking the arguments (but after the role)', async () => {
  const registry = new CommandRegistry();
  let ran = false;
  registry.registerUnavailable([defineCommand({
    name: 'lxc.create', summary: 'creates', role: 'admin', args: SCHEMA, handler: async () => { ran = true; },
  })], { reason: 'no -data-dir', fix: 'restart with -data-dir DIR' });
  assert.is((await rejection(registry.invoke('lxc.create', {}, VIEWER))).code, 'E_FORBIDDEN');
  assert.is(registry.roleOf('lxc.create'), 'admin');
  assert.is(registry.roleOf('nope'), undefined);
  const e = await rejection(registry.invoke('lxc.create', {}, ADMIN));
  assert.is(e.code, 'E_UNAVAILABLE');
  assert.is(e.message, 'lxc.create is unavailable: no -data-dir; to enable it: restart with -data-dir DIR');
  assert.equal(e.details, { reason: 'no -data-dir', fix: 'restart with -data-dir DIR' });
  assert.not.ok(ran);
});

test('unknown names, bad names and duplicates are refused', async () => {
  const { registry } = sample();
  assert.is((await rejection(registry.invoke('nope', {}, ADMIN))).code, 'E_NOT_FOUND');
  const dup = defineCommand({ name: 'thing.get', summary: '', role: 'viewer', args: {}, handler: async () => null });
  assert.throws(() => registry.register(dup), (e: unknown) => isAgentError(e, 'E_EXISTS'));
  for (const name of ['Thing', 'a b', 'x.', '.x', 'lxc-create.']) {
    const bad = defineCommand({ name, summary: '', role: 'viewer', args: {}, handler: async () => null });
    assert.throws(() => registry.register(bad), (e: unknown) => isAgentError(e, 'E_INVALID'), name);
  }
});

test('list(): sorted specs with schemas, roles and unavailability, no handlers', () => {
  const { registry } = sample();
  registry.registerUnavailable([defineCommand({ name: 'lxc.list', summary: 'lists', role: 'viewer', args: {}, handler: async () => [] })],
    { reason: 'r', fix: 'f' });
  const l = registry.list();
  assert.equal(l.map((c) => c.name), ['lxc.list', 'thing.get', 'thing.set']);
  assert.equal(l[0], { name: 'lxc.list', summary: 'lists', role: 'viewer', args: {}, unavailable: { reason: 'r', fix: 'f' } });
  assert.equal(l[2]!.args.Name, { type: 'string', required: true, doc: 'a name' });
  assert.is(l[2]!.role, 'admin');
  assert.not.ok('handler' in l[2]!);
});

test.run();
