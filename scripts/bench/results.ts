/**
 * Benchmark results: one row per figure, each beside a peer measured in the same run.
 *
 * A run is refused (`npm run bench` exits non-zero and bench-results.json is left as it was) when
 * any row measured nothing (value 0, NaN, no peer value), when any section dead-lettered an event,
 * or when a section failed. A count whose passing value IS 0 (failed handshakes during rotation)
 * says so on its row (`mustBeZero: true`): for that row 0 is required and anything else is refused.
 *
 * `bench-results.json` (repository root, committed) holds exactly one accepted run; the README's
 * table is generated from it (scripts/bench-table.ts, scripts/bench/table.ts), never typed.
 */
import { cpus } from 'node:os';

export interface ResultRow {
  name: string;
  value: number;
  unit: string;
  peer: string;
  peerValue: number | null;
  /** value / peerValue, rounded to 2 decimals; null when the peer value is 0 (a ratio would divide by it). */
  ratio: number | null;
  /** A count that must be 0 (failures, stale answers): 0 passes, any other value refuses the run. */
  mustBeZero?: true;
}

export function row(name: string, value: number, unit: string, peer: string, peerValue: number | null, options: { mustBeZero?: boolean } = {}): ResultRow {
  const ratio = peerValue !== null && Number.isFinite(peerValue) && peerValue !== 0 ? Math.round((value / peerValue) * 100) / 100 : null;
  return { name, value, unit, peer, peerValue, ratio, ...(options.mustBeZero ? { mustBeZero: true as const } : {}) };
}

/** Events a section dead-lettered: one entry per stage (or subscription) and reason. */
export interface DeadLetterCount {
  section: string;
  where: string;
  reason: string;
  count: number;
  /** One description, as an example. */
  example?: string;
}

/** A section that could not measure what it claims (an exception, rotations that never committed…). */
export interface SectionFailure {
  section: string;
  message: string;
}

/** One accepted benchmark run: what bench-results.json holds. */
export interface BenchRun {
  /** ISO time the run ended. */
  ranAt: string;
  machine: { node: string; platform: string; cpus: number; cpuModel: string };
  /** How each section was run (sizes, rounds, concurrency), generated from the harness' own constants. */
  conditions: string[];
  rows: ResultRow[];
}

export function machine(): BenchRun['machine'] {
  const all = cpus();
  return { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: all.length, cpuModel: all[0]?.model.trim() ?? 'unknown' };
}

/**
 * Why a run must not be accepted; empty when it may. Pure: the bench calls it at its end, the
 * table script on the file it renders, and the unit tests on hand-made runs.
 */
export function refusals(run: { rows: readonly ResultRow[]; deadLetters?: readonly DeadLetterCount[]; failures?: readonly SectionFailure[] }): string[] {
  const out: string[] = [];
  if (run.rows.length === 0) out.push('no rows: the run measured nothing');
  const seen = new Set<string>();
  for (const r of run.rows) {
    if (seen.has(r.name)) out.push(`row "${r.name}": appears twice`);
    seen.add(r.name);
    if (typeof r.value !== 'number' || !Number.isFinite(r.value)) {
      out.push(`row "${r.name}": value is ${String(r.value)}, not a measurement`);
    } else if (r.mustBeZero) {
      if (r.value !== 0) out.push(`row "${r.name}": must be 0, measured ${r.value} ${r.unit}`);
    } else if (r.value === 0) {
      out.push(`row "${r.name}": value is 0 ${r.unit} (nothing was measured; a row that must be 0 says so with mustBeZero)`);
    }
    if (r.mustBeZero) {
      if (r.peerValue !== null && !Number.isFinite(r.peerValue)) out.push(`row "${r.name}": peer value is ${String(r.peerValue)}, not a measurement`);
    } else if (r.peerValue === null || typeof r.peerValue !== 'number' || !Number.isFinite(r.peerValue) || r.peerValue === 0) {
      out.push(`row "${r.name}": peer "${r.peer}" measured ${String(r.peerValue)}; a figure needs a peer measured in the same run`);
    }
  }
  for (const d of run.deadLetters ?? []) {
    if (d.count > 0) out.push(`${d.section}: ${d.count} event(s) dead-lettered by ${d.where}, reason ${d.reason}${d.example ? ` (${d.example})` : ''}`);
  }
  for (const f of run.failures ?? []) out.push(`${f.section}: ${f.message}`);
  return out;
}

/** Groups dead letters by where and why, for one section. */
export function countDeadLetters(section: string, letters: ReadonlyArray<{ where: string; reason: string; description?: string | null }>): DeadLetterCount[] {
  const groups = new Map<string, DeadLetterCount>();
  for (const l of letters) {
    const key = `${l.where}\u0000${l.reason}`;
    const group = groups.get(key) ?? { section, where: l.where, reason: l.reason, count: 0, ...(l.description ? { example: l.description } : {}) };
    group.count += 1;
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** Reads bench-results.json; throws when it is not a run (the table is never made from a guess). */
export function parseRun(text: string): BenchRun {
  const parsed = JSON.parse(text) as Partial<BenchRun> | null;
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Array.isArray(parsed.rows) || typeof parsed.ranAt !== 'string' || !parsed.machine || !Array.isArray(parsed.conditions)) {
    throw new Error('bench-results.json is not a benchmark run ({ ranAt, machine, conditions, rows })');
  }
  return parsed as BenchRun;
}

export function serializeRun(run: BenchRun): string {
  return `${JSON.stringify(run, null, 2)}\n`;
}

/** A fixed-width table for the terminal. */
export function formatTable(rows: ResultRow[]): string {
  const cells = rows.map((r) => [r.name, `${r.value} ${r.unit}`, r.peer, r.peerValue === null ? 'n/a' : `${r.peerValue} ${r.unit}`, r.ratio === null ? 'n/a' : r.ratio.toFixed(2)]);
  const header = ['figure', 'certops', 'peer', 'peer value', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((v, i) => (i === 4 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** Thrown by a section that saw events dead-lettered: the bench records them and refuses the run. */
export class DeadLettered extends Error {
  constructor(readonly letters: DeadLetterCount[]) {
    super(letters.map((l) => `${l.count} dead-lettered by ${l.where}: ${l.reason}`).join('; '));
    this.name = 'DeadLettered';
  }
}
