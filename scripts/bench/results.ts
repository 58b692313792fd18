/**
 * Benchmark results: one row per figure, each beside a peer measured in the same run.
 * `bench-results.json` (repository root, git-ignored) is shared with later benchmarks: rows with
 * the same name are replaced, all others are kept.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface ResultRow {
  name: string;
  value: number;
  unit: string;
  peer: string;
  peerValue: number | null;
  /** value / peerValue, rounded to 2 decimals; null when the peer could not be measured. */
  ratio: number | null;
}

export function row(name: string, value: number, unit: string, peer: string, peerValue: number | null): ResultRow {
  const ratio = peerValue ? Math.round((value / peerValue) * 100) / 100 : null;
  return { name, value, unit, peer, peerValue, ratio };
}

/** Writes `rows` into `file`, replacing rows of the same name and keeping the others. */
export function mergeResults(file: string, rows: ResultRow[]): void {
  let existing: ResultRow[] = [];
  if (existsSync(file)) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      if (Array.isArray(parsed)) existing = parsed as ResultRow[];
    } catch {
      // an unreadable file is replaced rather than blocking the benchmark
    }
  }
  const names = new Set(rows.map((r) => r.name));
  writeFileSync(file, `${JSON.stringify([...existing.filter((r) => !names.has(r.name)), ...rows], null, 2)}\n`);
}

/** A fixed-width table for the terminal. */
export function formatTable(rows: ResultRow[]): string {
  const cells = rows.map((r) => [r.name, `${r.value} ${r.unit}`, r.peer, r.peerValue === null ? 'n/a' : `${r.peerValue} ${r.unit}`, r.ratio === null ? 'n/a' : r.ratio.toFixed(2)]);
  const header = ['figure', 'certops', 'peer', 'peer value', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((v, i) => (i === 4 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
