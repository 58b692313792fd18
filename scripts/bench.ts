/**
 * certops benchmark (`npm run bench`): every figure beside a peer measured in the same run.
 *
 *  1. Analysis: certificates/s through the analysis domain vs node's X509Certificate.
 *  2. Discovery: endpoints/s over 200 real TLS endpoints (a fleet child) through the discover stage
 *     and the TlsProber, vs `nmap --script ssl-cert` and vs a bare tls.connect loop.
 *  3. Sweep: 10,000 certificates across 100 tenants end to end through the embedded runtime (its own
 *     process), wall time and peak memory, vs the same 10,000 bare handshakes.
 *  4. ACME issuance: certificates/s through AcmeIssuer against one Pebble (VA no-sleep), vs lego
 *     (one process per certificate) and vs a bare acme-client loop (the ceiling).
 *  6. Rotation under load: a real nginx and a Node TLS server under a steady stream of fresh
 *     handshakes and HTTPS requests (another process) while certops rotates their certificate 20
 *     times; requests served, failures (must be 0), deploy→verified, vs a bare
 *     write + reload + poll loop under the same load.
 *
 * Prints a table; when the run is accepted (scripts/bench/results.ts, refusals(): no row measured
 * 0 or NaN unless it must be 0, no event dead-lettered, no section failed) writes it to
 * bench-results.json at the repository root, from which scripts/bench-table.ts (run next by
 * scripts/bench.sh) generates the README's table. A refused run exits non-zero, names each reason,
 * leaves bench-results.json as it was and keeps its rows in .certops/bench-results.refused.json.
 * Children stop when this process ends (their IPC channel closes), also on failure.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { stage } from '../shared/pipeline/topology';
import { measureAcme } from './bench/acme';
import { measureAnalysis } from './bench/analysis';
import { ARI_WINDOW_HOURS, measureAriSpread } from './bench/ari-spread';
import { analysisCorpus, REPO_ROOT, sweepHost, sweepLeafFile, sweepLeaves } from './bench/certs';
import { startChild } from './bench/child';
import { measureDiscovery, PASSES_PER_MEASUREMENT } from './bench/discovery';
import { measureRotationLoad } from './bench/rotation-load';
import { measureAuditVerify } from './bench/audit';
import { startFleet } from './bench/fleet';
import type { HandshakeFigures } from './bench/handshake-child';
import {
  countDeadLetters,
  DeadLettered,
  formatTable,
  machine,
  refusals,
  row,
  serializeRun,
  type BenchRun,
  type DeadLetterCount,
  type ResultRow,
  type SectionFailure,
} from './bench/results';
import type { SweepFigures } from './bench/sweep-child';

const TENANTS = 100;
const ENDPOINTS_PER_TENANT = 100;
const DISCOVERY_ENDPOINTS = 200;
const ROUNDS = 3;
/** A discovery pass over 200 endpoints lasts ~0.2 s, so it gets more rounds to steady the median. */
const DISCOVERY_ROUNDS = 5;
/** EC P-256 leaves of the sweep set that join the mixed analysis corpus. */
const CORPUS_EC_LEAVES = 1500;
const SWEEP_BUDGET_S = 60;
const MEMORY_BUDGET_MB = 512;
/** ACME: distinct names per method and round, at the issue's concurrency 8, one account per tenant. */
const ACME = { certificates: 120, concurrency: 8, tenants: 8, rounds: 3, legoRound: 1, warmUpCertificates: 40 } as const;
/** Rotation under load: the issue's 20 rotations at a steady, modest rate (2 cores shared by everything). */
const ROTATION_LOAD = { rotations: 20, attemptsPerSecond: 160 } as const;
const AUDIT = { records: 10_000, rounds: 5 } as const;
const ARI_CERTIFICATES = 1000;
const RESULTS_FILE = path.join(REPO_ROOT, 'bench-results.json');
const REFUSED_FILE = path.join(REPO_ROOT, '.certops', 'bench-results.refused.json');

/** How the run was made, generated from the constants above (the README prints these, nobody types them). */
const CONDITIONS = [
  `analysis: one mixed corpus through both methods (${CORPUS_EC_LEAVES} EC P-256 sweep leaves; RSA, EC P-384, self-signed, SHA-1-signed, weak-key, many-SAN, expired and mismatched leaves; the badssl.com certificates of tests/fixtures), median of ${ROUNDS} rounds`,
  `discovery: ${DISCOVERY_ENDPOINTS} real TLS endpoints of one configured tenant (one port each, served by a fleet process), the discover stage's own concurrency, median of ${DISCOVERY_ROUNDS} interleaved rounds of ${PASSES_PER_MEASUREMENT} passes per method, after a warm-up`,
  `sweep: ${TENANTS} tenants × ${ENDPOINTS_PER_TENANT} SNI names, one distinct certificate each, through the embedded runtime in a process of its own; the faster of two bare loops (before and after) is the peer`,
  `acme: ${ACME.certificates} certificates per method and round against one Pebble (VA no-sleep), HTTP-01, concurrency ${ACME.concurrency}, ${ACME.tenants} tenants, median of ${ACME.rounds} rounds; lego measured in one round`,
  `ari: the CertIDs of ${ARI_CERTIFICATES} sweep leaves issued together, one ${ARI_WINDOW_HOURS}-hour renewal window`,
  `rotation under load: ${ROTATION_LOAD.rotations} rotations of a certificate served by nginx and a Node TLS server while a load process opens ${ROTATION_LOAD.attemptsPerSecond} fresh connections per second`,
  `audit: ${AUDIT.records} records in SQLite, verify median of ${AUDIT.rounds} rounds`,
];

const log = (s: string): void => console.log(s);

async function main(): Promise<void> {
  const started = performance.now();
  const rows: ResultRow[] = [];
  const notes: string[] = [];
  const deadLetters: DeadLetterCount[] = [];
  const failures: SectionFailure[] = [];
  /** Runs one section; what it throws is recorded (a dead letter or a failure), and the next section runs. */
  const section = async (name: string, measure: () => Promise<void>): Promise<void> => {
    try {
      await measure();
    } catch (err) {
      if (err instanceof DeadLettered) deadLetters.push(...err.letters.map((l) => ({ ...l, section: name })));
      else failures.push({ section: name, message: `failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
    }
  };

  const leaves = await sweepLeaves(TENANTS, ENDPOINTS_PER_TENANT, log);
  const corpus = await analysisCorpus(leaves, CORPUS_EC_LEAVES, log);

  // 1. Analysis (in this process, no network).
  await section('analysis', async () => {
    const analysis = measureAnalysis(corpus, ROUNDS, log);
    rows.push(row('analysis throughput', analysis.certopsPerSecond, 'certificates/s', 'node:crypto X509Certificate + field reads', analysis.nodePerSecond));
    notes.push(
      `analysis: ${analysis.chains} chains / ${analysis.certificates} certificates; findings per pass ${JSON.stringify(analysis.findingCodes)}; leaf statuses ${JSON.stringify(analysis.statuses)}`,
    );
  });

  // 2. Discovery over 200 endpoints served by the fleet child, owned by one configured tenant.
  await section('discovery', async () => {
    const discoveryFleet = await startFleet(sweepLeafFile(TENANTS, ENDPOINTS_PER_TENANT), Array.from({ length: DISCOVERY_ENDPOINTS }, (_, i) => ({ leaves: [i] })));
    try {
      const endpoints = discoveryFleet.ports.map((port, i) => ({ port, host: leaves.leaves[i].host }));
      const d = await measureDiscovery(endpoints, DISCOVERY_ROUNDS, log);
      rows.push(row('discovery throughput', d.stagePerSecond, 'endpoints/s', 'nmap --script ssl-cert', d.nmapPerSecond));
      rows.push(row('discovery throughput (TlsProber only)', d.proberPerSecond, 'endpoints/s', 'nmap --script ssl-cert', d.nmapPerSecond));
      rows.push(row('discovery vs bare-handshake ceiling', d.stagePerSecond, 'endpoints/s', `bare tls.connect loop (concurrency ${d.concurrency})`, d.barePerSecond));
      notes.push(`discovery: ${d.endpoints} endpoints, concurrency ${d.concurrency}; rounds ${JSON.stringify(d.rounds)}`, ...d.notes);
    } finally {
      await discoveryFleet.stop();
    }
  });

  // 3. The sweep: 100 servers × 100 SNI names, one distinct certificate per name.
  await section('sweep', async () => {
    const sweepFleet = await startFleet(
      sweepLeafFile(TENANTS, ENDPOINTS_PER_TENANT),
      Array.from({ length: TENANTS }, (_, t) => ({ leaves: Array.from({ length: ENDPOINTS_PER_TENANT }, (_, n) => t * ENDPOINTS_PER_TENANT + n) })),
    );
    const workDir = mkdtempSync(path.join(tmpdir(), 'certops-bench-sweep-'));
    try {
      log(`sweep: fleet child serving ${TENANTS} ports × ${ENDPOINTS_PER_TENANT} SNI names (RSS ${sweepFleet.startRssMB} MB after start)`);
      const concurrency = stage('discover').concurrency;
      const targets = sweepFleet.ports.flatMap((port, t) => Array.from({ length: ENDPOINTS_PER_TENANT }, (_, n) => ({ port, servername: sweepHost(t, n) })));
      const bare = async (): Promise<HandshakeFigures> => {
        const child = startChild('handshake-child.ts');
        try {
          return await child.ask<HandshakeFigures>({ kind: 'handshakes', targets, concurrency }, 'shaken');
        } finally {
          await child.stop();
        }
      };
      const bareBefore = await bare();
      log(`  bare loop: ${bareBefore.ok} handshakes in ${(bareBefore.wallMs / 1000).toFixed(2)} s, peak RSS ${bareBefore.maxRssMB} MB`);
      const sweeper = startChild('sweep-child.ts');
      let swept: SweepFigures;
      try {
        log(`  running the certops sweep (${targets.length} endpoints, ${TENANTS} tenants)…`);
        swept = await sweeper.ask<SweepFigures>(
          { kind: 'sweep', workDir, caPem: leaves.caPem, ports: sweepFleet.ports, perTenant: ENDPOINTS_PER_TENANT, concurrency },
          'swept',
          300_000,
        );
      } finally {
        await sweeper.stop();
      }
      log(`  certops sweep: ${(swept.wallMs / 1000).toFixed(2)} s, peak RSS ${swept.maxRssMB} MB; stages done at ${JSON.stringify(swept.stageDoneAtMs)} ms`);
      const bareAfter = await bare();
      log(`  bare loop: ${bareAfter.ok} handshakes in ${(bareAfter.wallMs / 1000).toFixed(2)} s, peak RSS ${bareAfter.maxRssMB} MB`);
      const fleetStats = await sweepFleet.stats();

      // The faster bare run is the ceiling (the harder comparison for certops).
      const bareBest = bareBefore.wallMs <= bareAfter.wallMs ? bareBefore : bareAfter;
      const seconds = (ms: number): number => Math.round(ms / 10) / 100;
      rows.push(row('sweep wall time (10,000 certificates, 100 tenants)', seconds(swept.wallMs), 's', 'bare tls.connect loop, same 10,000 handshakes', seconds(bareBest.wallMs)));
      rows.push(row('sweep wall time vs budget', seconds(swept.wallMs), 's', 'budget', SWEEP_BUDGET_S));
      rows.push(row('sweep throughput', Math.round(swept.endpoints / (swept.wallMs / 1000)), 'endpoints/s', 'bare tls.connect loop', Math.round(targets.length / (bareBest.wallMs / 1000))));
      rows.push(row('sweep peak memory (certops process)', swept.maxRssMB, 'MB', 'budget', MEMORY_BUDGET_MB));
      rows.push(row('sweep peak memory vs bare loop', swept.maxRssMB, 'MB', 'bare tls.connect loop process', bareBest.maxRssMB));
      rows.push(row('sweep fleet child peak memory', fleetStats.maxRssMB, 'MB', 'budget (stand-in, not certops)', MEMORY_BUDGET_MB));
      notes.push(
        `sweep: ${swept.endpoints} endpoints; setup ${swept.setupMs} ms (config load + runtime, not in the wall time); observations ok ${swept.observationsOk}, failed ${swept.observationsFailed}; statuses ${JSON.stringify(swept.statuses)}`,
        `sweep: stage messages settled ${JSON.stringify(swept.stageSettled)}; last settlement per stage at ${JSON.stringify(swept.stageDoneAtMs)} ms; notifications ${swept.notifications}; dead letters ${swept.deadLetters.length}; RSS before the sweep ${swept.rssBeforeSweepMB} MB`,
        `sweep: bare loops ${bareBefore.wallMs} ms (before) and ${bareAfter.wallMs} ms (after), the faster is the peer; fleet child accepted ${fleetStats.connections} connections in total`,
      );
      deadLetters.push(...countDeadLetters('sweep', swept.deadLetters));
      // The wall time counts every endpoint: one that was not observed would make the sweep look faster than it is.
      if (swept.observationsOk !== targets.length) failures.push({ section: 'sweep', message: `observed ${swept.observationsOk} of ${targets.length} endpoints successfully (${swept.observationsFailed} failed)` });
      for (const [name, b] of [['before', bareBefore], ['after', bareAfter]] as const) {
        if (b.ok !== targets.length) failures.push({ section: 'sweep', message: `the bare loop (${name}) completed ${b.ok} of ${targets.length} handshakes` });
      }
    } finally {
      await sweepFleet.stop();
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  // 4. ACME issuance against one Pebble (stopped, with every lego process, inside measureAcme).
  await section('acme', async () => {
    const a = await measureAcme(ACME, log);
    rows.push(row('acme issuance throughput', a.certopsPerSecond, 'certificates/s', `lego (one process per certificate, concurrency ${a.concurrency})`, a.legoPerSecond));
    rows.push(row('acme issuance vs bare acme-client ceiling', a.certopsPerSecond, 'certificates/s', `bare acme-client loop (concurrency ${a.concurrency})`, a.barePerSecond));
    notes.push(...a.notes);
  });

  // 5. How ARI spreads renewals of certificates issued together (pure computation, real CertIDs).
  await section('ari', async () => {
    const spread = measureAriSpread(leaves.leaves.slice(0, ARI_CERTIFICATES).map((l) => l.pem));
    rows.push(row(`renewals in the busiest hour (${spread.certificates} certificates issued together)`, spread.busiestHourAri, 'renewals', `2/3-of-lifetime rule (no ARI)`, spread.busiestHourLifetimeRule));
    notes.push(`ari spread: ${spread.certificates} CertIDs of the sweep's leaves, one ${ARI_WINDOW_HOURS}-hour window; each renews at its own stable moment in it`);
  });

  // 6. Zero-downtime rotation under load (nginx + Node server + a load generator process).
  await section('rotation under load', async () => {
    const r = await measureRotationLoad(ROTATION_LOAD, log);
    const peer = `bare write + reload + poll loop, same load`;
    rows.push(row('rotation under load: handshakes and requests served', r.certops.servedPerSecond, 'attempts/s', peer, r.bare.servedPerSecond));
    rows.push(row(`rotation under load: failed handshakes and requests (${ROTATION_LOAD.rotations} rotations, must be 0)`, r.certops.failures, 'failures', peer, r.bare.failures, { mustBeZero: true }));
    rows.push(row('rotation under load: deploy→verified (median)', r.certopsMedianMs, 'ms', `${peer} (ceiling)`, r.bareMedianMs));
    rows.push(row('rotation under load: deploy→verified (max)', r.certopsMaxMs, 'ms', `${peer} (ceiling)`, r.bareMaxMs));
    rows.push(row('rotation under load: handshakes seeing an older certificate after commit (must be 0)', r.certops.staleAfterCommit.length, 'attempts', peer, r.bare.staleAfterCommit.length, { mustBeZero: true }));
    notes.push(...r.notes);
    deadLetters.push(...countDeadLetters('rotation under load', r.deadLetters));
    for (const f of [r.certops, r.bare]) {
      const missed = f.rotations.filter((x) => x.outcome !== 'committed');
      if (missed.length > 0) failures.push({ section: 'rotation under load', message: `${f.rotator}: ${missed.length} of ${f.rotations.length} rotations did not commit (${[...new Set(missed.map((x) => `${x.outcome}: ${x.failure ?? 'no reason'}`))].join('; ')})` });
    }
  });

  // 7. Audit: verifying an untouched chain of 10,000 records (the issue: well under a second).
  await section('audit', async () => {
    const auditFigures = await measureAuditVerify(AUDIT.records, AUDIT.rounds, log);
    rows.push(row('audit verify (10,000 records, chain + signed head)', Math.round(auditFigures.verifyMs), 'ms', 'bare HMAC loop over the same records in memory', Math.round(auditFigures.bareMs)));
    rows.push(row('audit verify vs budget', Math.round(auditFigures.verifyMs), 'ms', 'budget (well under a second)', 1000));
    notes.push(`audit: ${auditFigures.records} records appended at ${auditFigures.appendPerSecond.toFixed(0)}/s (one SQLite transaction each), verify median of ${AUDIT.rounds} rounds`);
  });

  console.log(`\n${formatTable(rows)}\n`);
  for (const note of notes) console.log(`- ${note}`);
  const run: BenchRun = { ranAt: new Date().toISOString(), machine: machine(), conditions: CONDITIONS, rows };
  const problems = refusals({ rows, deadLetters, failures });
  const total = `total ${((performance.now() - started) / 1000).toFixed(1)} s`;
  if (problems.length > 0) {
    mkdirSync(path.dirname(REFUSED_FILE), { recursive: true });
    writeFileSync(REFUSED_FILE, serializeRun(run));
    console.error(`\nREFUSED: this run is not written to bench-results.json (its rows are in ${path.relative(REPO_ROOT, REFUSED_FILE)}):`);
    for (const p of problems) console.error(`- ${p}`);
    console.error(total);
    process.exitCode = 1;
    return;
  }
  writeFileSync(RESULTS_FILE, serializeRun(run));
  console.log(`\nwrote ${rows.length} rows to ${path.relative(REPO_ROOT, RESULTS_FILE)}; ${total}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
