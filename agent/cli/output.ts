// Output formatting identical to serf's CLI: ryanuber/columnize tables,
// encoding/json MarshalIndent (struct fields in declaration order, map keys
// sorted, HTML-safe escaping), TrimSpace of the final text.
import { AgentError } from '../errors.ts';

/** columnize.SimpleFormat: split on '|', trim cells, pad to column width, glue "  ". */
export function columnize(lines: readonly string[]): string {
  const rows = lines.map((l) => l.split('|').map((c) => c.trim()));
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, [...c].length); });
  const out = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length) + '  ')).join(''));
  return out.join('\n');
}

/** A JSON value whose objects keep their key order (Go struct) or are sorted (Go map). */
export type JsonValue = null | boolean | number | string | JsonValue[] | GoMap | GoStruct;
export class GoMap { constructor(readonly entries: Record<string, JsonValue> | null) {} }
export class GoStruct { constructor(readonly fields: [string, JsonValue][]) {} }

function jsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) {
      out += '\\u' + c.toString(16).padStart(4, '0');
    } else out += ch;
  }
  return out + '"';
}

/** json.MarshalIndent(v, "", "  ") */
export function goJson(v: JsonValue, indent = ''): string {
  const inner = indent + '  ';
  if (v === null) return 'null';
  if (typeof v === 'string') return jsonString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => inner + goJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  let pairs: [string, JsonValue][];
  if (v instanceof GoMap) {
    if (v.entries === null) return 'null';
    pairs = Object.keys(v.entries).sort().map((k) => [k, (v.entries as Record<string, JsonValue>)[k]!]);
  } else pairs = v.fields;
  if (pairs.length === 0) return '{}';
  return `{\n${pairs.map(([k, x]) => `${inner}${jsonString(k)}: ${goJson(x, inner)}`).join(',\n')}\n${indent}}`;
}

/** serf's formatOutput: "json" or "text", then TrimSpace. */
export function formatOutput(format: string, text: () => string, json: () => JsonValue): string {
  if (format === 'json') return goJson(json()).trim();
  if (format === 'text') return text().trim();
  throw new AgentError('E_INVALID', `Invalid output format "${format}"`);
}
