// Values written the way Go's standard library reads them, as serf's flags and
// JSON config files carry them: strconv.ParseBool and time.ParseDuration.
// Shared by the CLI flags, the config files and the commands' arguments.

/** strconv.ParseBool */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** time.ParseDuration, in milliseconds ("1m30s", "500ms", "0"). */
export function parseGoDuration(s: string): number | undefined {
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) { if (rest[0] === '-') sign = -1; rest = rest.slice(1); }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  // µ (micro sign) and μ (Greek mu) escaped: the bundle stays ASCII (tools/bundle.mjs).
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;
  while (rest !== '') {
    const m = re.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}
