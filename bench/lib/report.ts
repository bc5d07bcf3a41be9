// The bench result: rows "figure | ours | serf | ours/serf | target | met?"
// rendered as Markdown, plus the raw scenario data as JSON.

export interface Row {
  figure: string;
  /** Display value for ours, or "not run: <reason>". */
  ours: string;
  serf: string;
  /** ours / serf, null when not applicable or not measured. */
  ratio: number | null;
  target: string;
  /** null = no target for this row, or not measurable. */
  met: boolean | null;
}

export function fmt(v: number | null | undefined, digits = 1, unit = ''): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  return `${v.toFixed(digits)}${unit}`;
}

export function ratioOf(ours: number | null | undefined, serf: number | null | undefined): number | null {
  if (ours === null || ours === undefined || serf === null || serf === undefined) return null;
  if (!Number.isFinite(ours) || !Number.isFinite(serf) || serf === 0) return null;
  return ours / serf;
}

export function renderMarkdown(title: string, preface: string[], rows: Row[], notes: string[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [
    `# ${title}`, '', ...preface, '',
    '| figure | ours | serf | ours / serf | target | met? |',
    '|---|---:|---:|---:|---|:---:|',
  ];
  for (const r of rows) {
    const met = r.met === null ? '—' : r.met ? 'yes' : '**no**';
    lines.push(`| ${esc(r.figure)} | ${esc(r.ours)} | ${esc(r.serf)} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${esc(r.target)} | ${met} |`);
  }
  lines.push('', ...notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}
