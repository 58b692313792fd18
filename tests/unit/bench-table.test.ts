/**
 * The benchmark tells the truth: the README's table is the one generated from the committed
 * bench-results.json (never typed), the prose around it quotes no figure, and a run with a row that
 * measured nothing, a dead letter or a failed section is refused (scripts/bench.ts exits non-zero).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { countDeadLetters, parseRun, refusals, row, serializeRun, type BenchRun, type ResultRow } from '../../scripts/bench/results';
import { renderTable, TABLE_BEGIN, TABLE_END, tableInReadme, withTable } from '../../scripts/bench/table';

const ROOT = path.resolve(__dirname, '../..');
const readme = (): string => readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const committedRun = (): BenchRun => parseRun(readFileSync(path.join(ROOT, 'bench-results.json'), 'utf8'));

/** The "## Benchmark" section of the README, up to the next section. */
function benchmarkSection(text: string): string {
  const start = text.indexOf('\n## Benchmark\n');
  expect(start).toBeGreaterThanOrEqual(0);
  const next = text.indexOf('\n## ', start + 1);
  return text.slice(start, next < 0 ? undefined : next);
}

/**
 * The words of `prose` that quote a number. Digits inside a name that starts with a letter are not
 * figures (SHA-1, ASN.1, asn1-x509, Ed25519, HTTP-01), nor is the label "must be 0" that rows carry.
 */
function figuresIn(prose: string): string[] {
  return prose
    .replace(/"must be 0"/g, '')
    .split(/\s+/)
    .filter((word) => /\d/.test(word.replace(/[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*/g, '')));
}

const goodRows = (): ResultRow[] => [
  row('discovery throughput', 812, 'endpoints/s', 'nmap --script ssl-cert', 301),
  row('rotation under load: failed handshakes and requests (must be 0)', 0, 'failures', 'bare loop', 0, { mustBeZero: true }),
];

describe('the README benchmark table', () => {
  it('When the committed bench-results.json is rendered, then README.md holds exactly that between the markers', () => {
    const table = renderTable(committedRun());
    expect(tableInReadme(readme())).toBe(table);
  });

  it('When a number of the README table is edited by hand, then it no longer matches bench-results.json', () => {
    const run = committedRun();
    const text = readme();
    const table = tableInReadme(text)!;
    const first = run.rows[0];
    const cell = `| ${first.value} ${first.unit} |`;
    expect(table).toContain(cell);
    const edited = text.replace(cell, `| ${first.value + 1} ${first.unit} |`);
    expect(edited).not.toBe(text);
    expect(tableInReadme(edited)).not.toBe(renderTable(run));
  });

  it('When the committed run is checked, then it is one the bench accepts, with every row and the machine it ran on', () => {
    const run = committedRun();
    expect(refusals({ rows: run.rows })).toEqual([]);
    expect(run.rows.length).toBeGreaterThan(10);
    expect(run.machine.cpus).toBeGreaterThan(0);
    expect(run.conditions.length).toBeGreaterThan(0);
    expect(readFileSync(path.join(ROOT, 'bench-results.json'), 'utf8')).toBe(serializeRun(run));
  });

  it('When the Benchmark section is read outside the generated table, then it quotes no figure (no number, only names such as HTTP-01 or Ed25519)', () => {
    const section = benchmarkSection(readme());
    const begin = section.indexOf(TABLE_BEGIN);
    const end = section.indexOf(TABLE_END);
    expect(begin).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(begin);
    const prose = section.slice(0, begin) + section.slice(end + TABLE_END.length);
    expect(figuresIn(prose)).toEqual([]);
  });

  it('When the prose check meets a hand-typed figure, then it finds it', () => {
    expect(figuresIn('the bare loop ranged from 1,300 to 1,630 handshakes/s (ratio 0.58) over SHA-1, ASN.1 and Ed25519; rows that "must be 0"')).toEqual(['1,300', '1,630', '0.58)']);
  });
});

describe('rendering the table', () => {
  const run: BenchRun = {
    ranAt: '2026-12-08T10:00:00.000Z',
    machine: { node: 'v20.0.0', platform: 'linux-x64', cpus: 2, cpuModel: 'Test CPU' },
    conditions: ['discovery: two endpoints'],
    rows: goodRows(),
  };

  it('When a run is rendered, then each row is one Markdown line with its value, peer value and ratio, and a must-be-0 row says so', () => {
    const table = renderTable(run);
    expect(table).toContain('| discovery throughput | 812 endpoints/s | nmap --script ssl-cert | 301 endpoints/s | 2.70 |');
    expect(table).toContain('| rotation under load: failed handshakes and requests (must be 0) | 0 failures | bare loop | 0 failures | n/a (must be 0) |');
    expect(table).toContain('Run of 2026-12-08: Node v20.0.0, linux-x64, 2 × Test CPU.');
    expect(table).toContain('- discovery: two endpoints');
  });

  it('When the table is written into a README, then only what is between the markers changes, and reading it back gives the table', () => {
    const before = `intro\n${TABLE_BEGIN}\nold | table\n${TABLE_END}\noutro\n`;
    const after = withTable(before, renderTable(run));
    expect(after.startsWith(`intro\n${TABLE_BEGIN}\n`)).toBe(true);
    expect(after.endsWith(`\n${TABLE_END}\noutro\n`)).toBe(true);
    expect(tableInReadme(after)).toBe(renderTable(run));
  });

  it('When a marker is missing or doubled, then the README is refused rather than guessed at', () => {
    expect(tableInReadme('no markers')).toBeNull();
    expect(() => withTable(`${TABLE_BEGIN}\n`, 'x')).toThrow(/once each/);
    expect(tableInReadme(`${TABLE_BEGIN}\n${TABLE_END}\n${TABLE_BEGIN}\n${TABLE_END}`)).toBeNull();
  });

  it('When bench-results.json holds a refused run, then no table is rendered from it', () => {
    expect(() => renderTable({ ...run, rows: [row('discovery throughput', 0, 'endpoints/s', 'nmap --script ssl-cert', 301)] })).toThrow(/value is 0/);
  });

  it('When bench-results.json is the old list of rows, then it is refused as not a run', () => {
    expect(() => parseRun(JSON.stringify(goodRows()))).toThrow(/not a benchmark run/);
  });
});

describe('when a benchmark run is refused', () => {
  it('When every row measured something and nothing was dead-lettered, then the run is accepted', () => {
    expect(refusals({ rows: goodRows(), deadLetters: [], failures: [] })).toEqual([]);
  });

  it('When a row measured 0, then the run is refused naming the row', () => {
    const rows = [...goodRows(), row('discovery vs bare-handshake ceiling', 0, 'endpoints/s', 'bare tls.connect loop', 1119)];
    expect(refusals({ rows })).toEqual([expect.stringMatching(/^row "discovery vs bare-handshake ceiling": value is 0 endpoints\/s/)]);
  });

  it('When a row measured NaN or Infinity, then the run is refused naming the row', () => {
    const problems = refusals({ rows: [row('sweep throughput', Number.NaN, 'endpoints/s', 'bare loop', 1), row('audit verify', Number.POSITIVE_INFINITY, 'ms', 'bare', 1)] });
    expect(problems).toEqual([expect.stringContaining('row "sweep throughput": value is NaN'), expect.stringContaining('row "audit verify": value is Infinity')]);
  });

  it('When the peer measured 0 or could not be measured, then the run is refused: a figure needs its peer', () => {
    expect(refusals({ rows: [row('discovery throughput', 800, 'endpoints/s', 'nmap --script ssl-cert', 0)] })).toEqual([expect.stringContaining('peer "nmap --script ssl-cert" measured 0')]);
    expect(refusals({ rows: [row('acme issuance throughput', 38, 'certificates/s', 'lego', null)] })).toEqual([expect.stringContaining('peer "lego" measured null')]);
  });

  it('When a must-be-0 row is 0, then it passes (its peer may be 0 too); when it is not 0, then the run is refused naming the row', () => {
    const zero = row('failed handshakes (must be 0)', 0, 'failures', 'bare loop', 0, { mustBeZero: true });
    expect(zero.mustBeZero).toBe(true);
    expect(refusals({ rows: [zero] })).toEqual([]);
    const three = row('failed handshakes (must be 0)', 3, 'failures', 'bare loop', 0, { mustBeZero: true });
    expect(refusals({ rows: [three] })).toEqual(['row "failed handshakes (must be 0)": must be 0, measured 3 failures']);
  });

  it('When a row does not say it must be 0, then it carries no mustBeZero field and 0 is refused', () => {
    const r = row('handshakes served', 0, 'attempts/s', 'bare loop', 160);
    expect('mustBeZero' in r).toBe(false);
    expect(refusals({ rows: [r] })).toHaveLength(1);
  });

  it('When any event was dead-lettered, then the run is refused naming the section, where and why', () => {
    const letters = countDeadLetters('discovery', [
      { where: 'discover', reason: 'TenantScopeError', description: 'warm-up, stage: tenant bench is not configured' },
      { where: 'discover', reason: 'TenantScopeError', description: 'round 1, stage: tenant bench is not configured' },
      { where: 'bus analyze', reason: 'InvalidEvent', description: null },
    ]);
    expect(letters).toEqual([
      { section: 'discovery', where: 'discover', reason: 'TenantScopeError', count: 2, example: 'warm-up, stage: tenant bench is not configured' },
      { section: 'discovery', where: 'bus analyze', reason: 'InvalidEvent', count: 1 },
    ]);
    expect(refusals({ rows: goodRows(), deadLetters: letters })).toEqual([
      'discovery: 2 event(s) dead-lettered by discover, reason TenantScopeError (warm-up, stage: tenant bench is not configured)',
      'discovery: 1 event(s) dead-lettered by bus analyze, reason InvalidEvent',
    ]);
  });

  it('When a section failed, then the run is refused naming the section', () => {
    expect(refusals({ rows: goodRows(), failures: [{ section: 'acme', message: 'failed: Pebble did not start' }] })).toEqual(['acme: failed: Pebble did not start']);
  });

  it('When the run has no rows or a row twice, then it is refused', () => {
    expect(refusals({ rows: [] })).toEqual(['no rows: the run measured nothing']);
    expect(refusals({ rows: [...goodRows(), goodRows()[0]] })).toEqual(['row "discovery throughput": appears twice']);
  });
});
