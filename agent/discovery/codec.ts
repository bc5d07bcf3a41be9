// Codec of Cloudy's serf tag `services` (CLOUDY-FACTS §1.2-1.4).
//
// Value = base64 (no line breaks) of bzip2 of the JSON array text, newline
// terminated because the avahi-ps serf plug writes it with `echo`:
//   [{"s":"serf","d":"SERF_instance_running","m":"host.guifi.local","i":"10.1.2.3","p":"5000","e":"guifi","t":""}]\n
// Every value is a string; keys are one letter (the 512-byte meta budget).
//
// Readers in the field (avahi-ps, cDistro) replace every `'` with `"` before
// parsing, because from 2014 to 2018 the newest record was written with single
// quotes; we do the same. Anything that still does not parse makes the whole
// tag undecodable: the caller skips that node and counts it.
import { AgentError, errorMessage } from '../errors.ts';
import { bzip2Compress, bzip2Decompress } from './bzip2.ts';

/** Name of the serf tag holding the services (avahi-ps serf plug). */
export const SERVICES_TAG = 'services';

/** Field order as the plug writes it: type, description, host, ip, port, microcloud, txt. */
export const RECORD_KEYS = ['s', 'd', 'm', 'i', 'p', 'e', 't'] as const;
export type RecordKey = (typeof RECORD_KEYS)[number];

/** One announced service as it travels in the tag (all strings). */
export type ServiceRecord = { [K in RecordKey]: string };

/** A decoded record: the seven fields plus any unknown string keys a node sent (kept for output). */
export interface DecodedRecord extends ServiceRecord {
  extra?: Record<string, string>;
}

/** Long names the Cloudy GUI shows for each key (cDistro serf.php `ajaxsearch`). */
export const RECORD_LABELS: Readonly<Record<RecordKey, string>> = {
  s: 'type', d: 'description', m: 'host', i: 'ip', p: 'port', e: 'microcloud', t: 'txt',
};

/** JSON text of the array, key order s,d,m,i,p,e,t, ending in "\n" like `echo`. */
export function servicesJson(records: readonly ServiceRecord[]): string {
  const parts = records.map((r) => '{' + RECORD_KEYS.map((k) => `${JSON.stringify(k)}:${JSON.stringify(r[k])}`).join(',') + '}');
  return `[${parts.join(',')}]\n`;
}

/** Tag value for these records: base64(bzip2(json)). */
export function encodeServicesTag(records: readonly ServiceRecord[]): string {
  const bz = bzip2Compress(new TextEncoder().encode(servicesJson(records)));
  return Buffer.from(bz).toString('base64');
}

// Strict base64 (standard alphabet) after surrounding whitespace is trimmed:
// Buffer.from(..., 'base64') silently skips garbage, which would hide corruption.
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes a `services` tag value. An empty value means no services.
 * Throws AgentError E_DECODE (bad base64/bzip2/JSON/shape) or E_TOO_LARGE
 * (decompresses beyond maxDecodedBytes).
 */
export function decodeServicesTag(value: string, maxDecodedBytes: number, skipped?: { records: number }): DecodedRecord[] {
  const b64 = value.trim();
  if (b64 === '') return [];
  if (b64.length % 4 !== 0 || !BASE64_RE.test(b64)) {
    throw new AgentError('E_DECODE', 'services tag is not base64');
  }
  const raw = bzip2Decompress(Buffer.from(b64, 'base64'), maxDecodedBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new AgentError('E_DECODE', 'services tag is not UTF-8 text');
  }
  return parseServicesJson(text, skipped);
}

/**
 * Parses the decompressed text the way Cloudy readers do: every `'` becomes
 * `"`, surrounding whitespace (the trailing newline) is ignored. `null` (what
 * `jq` prints for a missing tag) means no services.
 */
export function parseServicesJson(text: string, skipped?: { records: number }): DecodedRecord[] {
  const normalized = text.replace(/'/g, '"').trim();
  if (normalized === '' || normalized === 'null') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(normalized);
  } catch (e) {
    // One poisoned record (a quote or a backslash avahi-ps wrote unescaped)
    // breaks the whole array: keep the records that parse on their own, skip
    // and count the rest (a flat list of flat objects, as every plug writes).
    const objects = /^\[.*\]$/s.test(normalized) ? normalized.match(/\{[^{}]*\}/g) : null;
    if (!objects) throw new AgentError('E_DECODE', `services JSON does not parse: ${errorMessage(e)}`);
    parsed = objects.map((o) => { try { return JSON.parse(o) as unknown; } catch { return undefined; } });
  }
  if (!Array.isArray(parsed)) {
    // A single object instead of an array: tolerated, the plug's readers split
    // on objects and would show it.
    if (parsed !== null && typeof parsed === 'object') parsed = [parsed];
    else throw new AgentError('E_DECODE', 'services JSON is not an array');
  }
  const out: DecodedRecord[] = [];
  let bad = 0;
  for (const item of parsed as unknown[]) {
    const rec = item !== null && typeof item === 'object' && !Array.isArray(item) ? recordFromObject(item as Record<string, unknown>) : null;
    if (rec) out.push(rec);
    else bad++;
  }
  if (bad > 0 && out.length === 0) throw new AgentError('E_DECODE', `services JSON holds no usable record (${bad} skipped)`);
  if (skipped) skipped.records += bad;
  return out;
}

function scalarToString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v); // a port written as a number
  if (typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return '';
  return undefined;
}

/** The record, or null when it cannot be one (a non-scalar field, no type). */
function recordFromObject(o: Record<string, unknown>): DecodedRecord | null {
  const rec = { s: '', d: '', m: '', i: '', p: '', e: '', t: '' } as DecodedRecord;
  let extra: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(o)) {
    const str = scalarToString(v);
    if (str === undefined) return null;
    if ((RECORD_KEYS as readonly string[]).includes(k)) rec[k as RecordKey] = str;
    else (extra ??= {})[k] = str;
  }
  if (rec.s === '') return null;
  if (extra) rec.extra = extra;
  return rec;
}
