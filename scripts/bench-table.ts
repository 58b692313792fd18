/**
 * `npm run bench:table`: writes the README's benchmark table from bench-results.json (between the
 * bench-table markers of README.md's "Benchmark" section). `npm run bench` runs it at its end.
 * With `--check` it writes nothing and exits non-zero when the README's table differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseRun } from './bench/results';
import { renderTable, tableInReadme, withTable } from './bench/table';

const ROOT = path.resolve(__dirname, '..');
const RESULTS_FILE = path.join(ROOT, 'bench-results.json');
const README_FILE = path.join(ROOT, 'README.md');

function main(): void {
  const check = process.argv.includes('--check');
  const table = renderTable(parseRun(readFileSync(RESULTS_FILE, 'utf8')));
  const readme = readFileSync(README_FILE, 'utf8');
  if (tableInReadme(readme) === table) {
    console.log('README.md: the benchmark table already matches bench-results.json');
    return;
  }
  if (check) {
    console.error('README.md: the benchmark table differs from bench-results.json; run `npm run bench:table`');
    process.exitCode = 1;
    return;
  }
  writeFileSync(README_FILE, withTable(readme, table));
  console.log('README.md: benchmark table regenerated from bench-results.json');
}

try {
  main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
}
