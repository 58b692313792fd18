/**
 * The README's benchmark table, generated from bench-results.json: `npm run bench:table` writes it
 * between the markers, `npm run bench` does so at its end, and tests/unit/bench-table.test.ts
 * fails when the README holds anything else there (a number edited by hand included).
 */
import { refusals, type BenchRun, type ResultRow } from './results';

export const TABLE_BEGIN = '<!-- bench-table:begin (generated from bench-results.json by `npm run bench:table`; do not edit) -->';
export const TABLE_END = '<!-- bench-table:end -->';

/** A table cell: pipes would split the cell, line breaks the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function ratioCell(r: ResultRow): string {
  if (r.mustBeZero) return r.ratio === null ? 'n/a (must be 0)' : `${r.ratio.toFixed(2)} (must be 0)`;
  return r.ratio === null ? 'n/a' : r.ratio.toFixed(2);
}

/** The Markdown between the markers (without them). Refuses a run that the bench would refuse. */
export function renderTable(run: BenchRun): string {
  const problems = refusals({ rows: run.rows });
  if (problems.length > 0) throw new Error(`bench-results.json holds a run that is refused:\n- ${problems.join('\n- ')}`);
  const m = run.machine;
  const lines = [
    `Run of ${run.ranAt.slice(0, 10)}: Node ${m.node}, ${m.platform}, ${m.cpus} × ${m.cpuModel}.`,
    '',
    '| figure | certops | peer (same run) | peer value | ratio |',
    '|---|---|---|---|---|',
    ...run.rows.map((r) => `| ${cell(r.name)} | ${r.value} ${cell(r.unit)} | ${cell(r.peer)} | ${r.peerValue === null ? 'n/a' : `${r.peerValue} ${cell(r.unit)}`} | ${ratioCell(r)} |`),
  ];
  if (run.conditions.length > 0) lines.push('', 'Conditions of this run:', '', ...run.conditions.map((c) => `- ${cell(c)}`));
  return lines.join('\n');
}

/** What the README holds between the markers, or null when a marker is missing or out of order. */
export function tableInReadme(readme: string): string | null {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin || readme.indexOf(TABLE_BEGIN, begin + 1) >= 0 || readme.indexOf(TABLE_END, end + 1) >= 0) return null;
  return readme.slice(begin + TABLE_BEGIN.length, end).replace(/^\n/, '').replace(/\n$/, '');
}

/** The README with `table` between the markers; throws when the markers are not there once each, in order. */
export function withTable(readme: string, table: string): string {
  if (tableInReadme(readme) === null) throw new Error(`README.md must hold ${TABLE_BEGIN} and ${TABLE_END} once each, in that order`);
  const begin = readme.indexOf(TABLE_BEGIN) + TABLE_BEGIN.length;
  const end = readme.indexOf(TABLE_END);
  return `${readme.slice(0, begin)}\n${table}\n${readme.slice(end)}`;
}
