import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { formatState, parseState, shellQuote, GuifiStateStore, GUIFI_STATE_FILE } from '../../agent/guifi/state.ts';
import { isAgentError } from '../../agent/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'gf-state-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("state is Cloudy's guifi.conf: five quoted shell variables a shell can source", () => {
  const s = { username: 'al"ice', token: 'dG9r$ZW4=', nodeId: 123, nodeName: 'Plaça `x` \\ $HOME', deviceId: 456 };
  const text = formatState(s);
  assert.is(text.split('\n')[0], 'USERNAME="al\\"ice"');
  assert.equal(text.split('\n').map((l) => l.split('=')[0]).filter(Boolean), ['USERNAME', 'TOKEN', 'NODEID', 'NODENAME', 'DEVICEID']);
  assert.equal(parseState(text).state, s);
  const p = join(dir, 'sourced.conf');
  writeFileSync(p, text);
  const out = execFileSync('sh', ['-c', `. "${p}"; printf '%s|%s|%s|%s|%s' "$USERNAME" "$TOKEN" "$NODEID" "$NODENAME" "$DEVICEID"`], { encoding: 'utf8' });
  assert.is(out, `al"ice|dG9r$ZW4=|123|Plaça \`x\` \\ $HOME|456`);
});

test('state: reads single quotes, bare values, export, comments; keeps unknown lines; refuses bad ids and line breaks', () => {
  const p = parseState("# cloudy\nexport USERNAME='bob'\nTOKEN=abc\nNODEID=\"\"\nOTHER=\"x\"\n");
  assert.equal(p.state, { username: 'bob', token: 'abc', nodeId: 0, nodeName: '', deviceId: 0 });
  assert.equal(p.otherLines, ['# cloudy', 'OTHER="x"']);
  assert.ok(formatState(p.state, p.otherLines).endsWith('# cloudy\nOTHER="x"\n'));
  assert.throws(() => parseState('NODEID="12a"'), (e: unknown) => isAgentError(e, 'E_DECODE'));
  assert.throws(() => parseState('USERNAME="open'), (e: unknown) => isAgentError(e, 'E_DECODE'));
  assert.throws(() => shellQuote('a\nb'), (e: unknown) => isAgentError(e, 'E_INVALID'));
});

test('state store: update is read-modify-write through an atomic file, no temp left, no write when nothing changes', async () => {
  const d = join(dir, 'store');
  const st = GuifiStateStore.inDir(d);
  assert.equal(await st.read(), { username: '', token: '', nodeId: 0, nodeName: '', deviceId: 0 });
  await st.update({ username: 'alice', token: 'tok' });
  await st.update({ nodeId: 9, nodeName: 'N' });
  const before = readFileSync(join(d, GUIFI_STATE_FILE), 'utf8');
  assert.is(before, 'USERNAME="alice"\nTOKEN="tok"\nNODEID="9"\nNODENAME="N"\nDEVICEID=""\n');
  writeFileSync(join(d, GUIFI_STATE_FILE), before + 'KEEP="me"\n');
  await st.update({ deviceId: 77 });
  assert.ok(readFileSync(join(d, GUIFI_STATE_FILE), 'utf8').endsWith('DEVICEID="77"\nKEEP="me"\n'));
  assert.equal(readdirSync(d), [GUIFI_STATE_FILE]);
});

test.run();
