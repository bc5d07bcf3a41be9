// ISO-8601 UTC timestamps ("2026-11-30T01:54:55.123Z") from UTC arithmetic only.
//
// Why not Date.prototype.toISOString: in Node 22 (V8 12.4) it goes through
// V8's ToDateString, which asks ICU for the local time zone and its display
// name on first use. That alone pages in several MB of ICU code and data of
// the executable (seen with gdb on icu::TimeZone::createDefault), for a log
// line that is UTC anyway. The getUTC* accessors are plain arithmetic.

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

export function isoTime(ms: number = Date.now()): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new RangeError('invalid time value');
  const y = d.getUTCFullYear();
  const year = y >= 0 && y <= 9999 ? pad(y, 4) : (y < 0 ? '-' : '+') + pad(Math.abs(y), 6);
  return `${year}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}Z`;
}
