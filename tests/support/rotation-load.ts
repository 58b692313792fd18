/**
 * The zero-downtime rotation load harness (issue 4), shared by the e2e test and the benchmark.
 *
 * It starts a real nginx (Debian) and a Node TLS server (TlsFleet) on loopback, both serving one
 * certificate for `www.load.test` from their own files, and a load generator in another process
 * (tls-load-child.ts) that opens fresh TLS handshakes and HTTPS requests at a steady rate. While
 * the load runs, a rotator replaces the certificate N times, one rotation after the other:
 * certops by default (one managed certificate with two files targets, requestRenewal), or the
 * benchmark's bare loop. It then returns every figure the assertions and the benchmark need,
 * judged from what the clients actually saw.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { askChild } from './child-ipc';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import type { FilesTarget } from '../../shared/config/model';
import { MS_PER_DAY } from '../../shared/domain/clock';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { createLogger } from '../../shared/observability/logger';
import type { RotationOptions } from '../../shared/pipeline/stage';
import { aTestConfig } from './config-builders';
import { startNginx, type NginxServer } from './nginx-server';
import type { Attempt, LoadReply, LoadStart } from './tls-load-child';
import { aCA, aCertificate, TEST_NOW, type TestCertificate } from './x509-builders';

export const LOAD_HOST = 'www.load.test';
const CHILD_SCRIPT = path.join(__dirname, 'tls-load-child.ts');

/** What a rotator gets to work with: two servers, each reading its own files. */
export interface LoadBed {
  dir: string;
  /** The CA of the certificate served before the first rotation (trusted by the clients). */
  ca: TestCertificate;
  initialFingerprint: string;
  nginx: NginxServer;
  fleet: TlsFleet;
  /** Files targets in deployment order: nginx (reload command), then the Node server (reload URL). */
  targets: FilesTarget[];
  /** The servers as the clients and certops see them. */
  endpoints: Array<{ name: 'nginx' | 'node'; port: number }>;
}

/** One rotation as its rotator reports it. Times are wall clock (Date.now()) ms. */
export interface RotationResult {
  index: number;
  /** When the rotator was asked to rotate. */
  startedAtMs: number;
  /** When the new certificate was committed (certops: lastRotation.at; bare loop: verified). */
  committedAtMs: number;
  /** When the rotator returned. */
  endedAtMs: number;
  outcome: string;
  fingerprint: string | null;
  /** From the files being written (certops: the `issued` state, right before deploying) to verified. */
  deployToVerifiedMs: number | null;
  /** Why the rotation did not commit (null when it did). */
  failure: string | null;
  /** Ms from startedAtMs to each state the rotation went through (certops' rotation history). */
  timeline?: Record<string, number>;
}

export interface Rotator {
  name: string;
  /** Called once before the load starts; returns further CA PEMs the clients must trust. */
  prepare(bed: LoadBed): Promise<{ caPems: string[] }>;
  rotate(index: number): Promise<RotationResult>;
  close(): Promise<void>;
}

export interface RotationLoadOptions {
  rotations: number;
  /** Total fresh connections per second over both servers (half handshakes, half HTTPS). Default 160. */
  attemptsPerSecond?: number;
  /** Load before the first rotation and after the last one. Default 1000 ms. */
  warmUpMs?: number;
  /** Pause after each rotation, so that every committed certificate is served under load a while. Default 250 ms. */
  pauseBetweenMs?: number;
  /** Default: certops (createEmbeddedRuntime, two files targets, requestRenewal). */
  rotator?: Rotator;
}

/** An attempt that started after a commit but saw another certificate than the one committed. */
export interface StaleAttempt {
  rotation: number;
  target: string;
  kind: Attempt['kind'];
  msAfterCommit: number;
  sawFingerprint: string | null;
}

export interface RotationLoadFigures {
  rotator: string;
  attempts: number;
  failures: number;
  /** Up to 20 failed attempts, for the report. */
  failureSamples: Attempt[];
  /** Per server; latencies (ms, open to done) show whether a server stalled without failing. */
  byTarget: Record<string, { attempts: number; failures: number; handshakes: number; https: number; p50Ms: number; p99Ms: number; maxMs: number }>;
  /** Seconds of load (first attempt to last). */
  loadSeconds: number;
  attemptsPerSecond: number;
  /** Successful attempts per second of load. */
  servedPerSecond: number;
  rotations: RotationResult[];
  distinctFingerprints: number;
  deployToVerifiedMs: number[];
  /** Attempts started after commit i and before rotation i+1 that saw another certificate. */
  staleAfterCommit: StaleAttempt[];
  /** Per rotation, how many successful attempts started between its commit and the next rotation (what was checked). */
  checkedAfterCommit: number[];
  /** Attempts before the first rotation that did not see the initial certificate. */
  unexpectedBeforeFirst: number;
  /** Attempts that saw the previous certificate after the rotation had started: expected, informative. */
  oldSeenDuringRotation: number;
}

/** Runs the whole scenario; every process and server it started is stopped before it returns. */
export async function runRotationLoad(options: RotationLoadOptions): Promise<RotationLoadFigures> {
  const rotator = options.rotator ?? certopsRotator();
  const warmUpMs = options.warmUpMs ?? 1000;
  const bed = await startBed();
  let child: ChildProcess | undefined;
  try {
    const { caPems } = await rotator.prepare(bed);
    child = forkLoadChild();
    await ask(child, {
      kind: 'start',
      targets: bed.endpoints,
      servername: LOAD_HOST,
      caPems: [bed.ca.pem, ...caPems],
      attemptsPerSecond: options.attemptsPerSecond ?? 160,
      timeoutMs: 5000,
    } satisfies LoadStart, 'started');
    await sleep(warmUpMs);
    const rotations: RotationResult[] = [];
    for (let i = 0; i < options.rotations; i++) {
      rotations.push(await rotator.rotate(i));
      await sleep(i === options.rotations - 1 ? warmUpMs : options.pauseBetweenMs ?? 250);
    }
    const stoppedAtMs = Date.now();
    const report = await ask<Extract<LoadReply, { kind: 'report' }>>(child, { kind: 'stop' }, 'report');
    return judge(rotator.name, bed.initialFingerprint, rotations, report.attempts, stoppedAtMs);
  } finally {
    if (child?.connected) child.disconnect(); // the child exits when its channel closes
    await rotator.close();
    await bed.fleet.close();
    await bed.nginx.stop();
    rmSync(bed.dir, { recursive: true, force: true });
  }
}

const TENANT = 'load';
const CERTIFICATE = 'www';

/**
 * certops as the rotator: one tenant, one managed certificate (local CA) deployed to both
 * servers (`targets`: nginx's files + `nginx -s reload`, the Node server's files + its reload
 * URL), one endpoint per server. Each rotation is an operator renewal (requestRenewal), which
 * resolves once the bus is idle: the rotation has committed or failed by then.
 */
export function certopsRotator(options: { rotation?: Partial<RotationOptions> } = {}): Rotator {
  let runtime: EmbeddedRuntime | undefined;
  const live = (): EmbeddedRuntime => {
    if (!runtime) throw new Error('certopsRotator: prepare() first');
    return runtime;
  };
  return {
    name: 'certops',
    async prepare(bed) {
      const config = aTestConfig(bed.dir, {
        tenants: [
          {
            id: TENANT,
            assignee: { name: 'Load tester' },
            trustedCaFiles: [path.join(bed.dir, 'ca.pem')],
            endpoints: bed.endpoints.map((e) => ({ host: LOAD_HOST, port: e.port, managed: CERTIFICATE })),
            managedCertificates: [{ id: CERTIFICATE, dnsNames: [LOAD_HOST], issuer: 'local-ca', targets: bed.targets }],
          },
        ],
      });
      runtime = createEmbeddedRuntime(config, {
        logger: createLogger({ level: 'silent' }),
        consoleStream: null,
        resolver: new StaticResolver({ [LOAD_HOST]: ['127.0.0.1'] }),
        rotation: options.rotation,
      });
      runtime.pipeline.start();
      // The tenant's local CA is created on first use: create it now so that the clients trust it.
      const localCa = runtime.deps.issuers.get('local-ca');
      if (!localCa) throw new Error('certopsRotator: the local CA issuer is not configured');
      return { caPems: await localCa.trustAnchorsPem(TENANT) };
    },
    async rotate(index) {
      const rt = live();
      const startedAtMs = Date.now();
      await rt.pipeline.requestRenewal({ tenantId: TENANT, certificateId: CERTIFICATE, reason: 'load test' });
      const endedAtMs = Date.now();
      const state = await rt.deps.store.getManagedState(TENANT, CERTIFICATE);
      const at = (s: string): number | null => {
        const entry = state?.rotation?.history.find((h) => h.state === s);
        return entry ? Date.parse(entry.at) : null;
      };
      const issuedAt = at('issued');
      const verifiedAt = at('verified');
      const committed = state?.lastRotation?.outcome === 'committed';
      return {
        index,
        startedAtMs,
        // The commit's own time; the end of requestRenewal is an upper bound when it is missing.
        committedAtMs: at('committed') ?? (committed && state?.lastRotation ? Date.parse(state.lastRotation.at) : endedAtMs),
        endedAtMs,
        outcome: state?.lastRotation?.outcome ?? 'none',
        fingerprint: state?.deployedFingerprint ?? null,
        deployToVerifiedMs: issuedAt !== null && verifiedAt !== null ? verifiedAt - issuedAt : null,
        failure: committed ? null : state?.rotation?.failure?.reason ?? state?.lastRotation?.reason ?? null,
        timeline: Object.fromEntries((state?.rotation?.history ?? []).map((h) => [h.state, Date.parse(h.at) - startedAtMs])),
      };
    },
    async close() {
      await runtime?.close();
    },
  };
}

async function startBed(): Promise<LoadBed> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certops-rotation-load-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  // The builders date certificates from TEST_NOW; this one must be valid today (real clock).
  const daysLeft = Math.ceil((Date.now() - TEST_NOW.getTime()) / MS_PER_DAY) + 60;
  const leaf = await aCertificate({ dnsNames: [LOAD_HOST], issuer: ca, daysLeft });
  const files = (name: string): { certFile: string; keyFile: string } => {
    mkdirSync(path.join(dir, name));
    const f = { certFile: path.join(dir, name, 'cert.pem'), keyFile: path.join(dir, name, 'key.pem') };
    writeFileSync(f.certFile, leaf.pem + ca.pem);
    writeFileSync(f.keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
    return f;
  };
  const nginxFiles = files('nginx');
  const nodeFiles = files('node');
  const nginx = await startNginx(nginxFiles);
  let fleet: TlsFleet;
  try {
    fleet = await TlsFleet.start([{ name: 'node', ...nodeFiles }]);
  } catch (err) {
    await nginx.stop();
    throw err;
  }
  return {
    dir,
    ca,
    initialFingerprint: leaf.certificate.fingerprintSha256,
    nginx,
    fleet,
    targets: [
      { type: 'files', ...nginxFiles, reload: { command: nginx.reloadCommand() } },
      { type: 'files', ...nodeFiles, reload: { url: fleet.reloadUrl('node') } },
    ],
    endpoints: [
      { name: 'nginx', port: nginx.port },
      { name: 'node', port: fleet.endpoint('node').port },
    ],
  };
}

/** Judges the run from the clients' side: failures, and which certificate each attempt saw when. */
function judge(rotator: string, initial: string, rotations: RotationResult[], attempts: Attempt[], stoppedAtMs: number): RotationLoadFigures {
  const sorted = [...attempts].sort((a, b) => a.startedAtMs - b.startedAtMs);
  const failed = sorted.filter((a) => !a.ok);
  const byTarget: RotationLoadFigures['byTarget'] = {};
  for (const name of new Set(sorted.map((a) => a.target))) {
    const mine = sorted.filter((a) => a.target === name);
    const durations = mine.map((a) => a.durationMs).sort((a, b) => a - b);
    byTarget[name] = {
      attempts: mine.length,
      failures: mine.filter((a) => !a.ok).length,
      handshakes: mine.filter((a) => a.kind === 'handshake').length,
      https: mine.filter((a) => a.kind === 'https').length,
      p50Ms: percentile(durations, 0.5),
      p99Ms: percentile(durations, 0.99),
      maxMs: durations[durations.length - 1],
    };
  }
  const staleAfterCommit: StaleAttempt[] = [];
  let oldSeenDuringRotation = 0;
  const checkedAfterCommit = rotations.map(() => 0);
  rotations.forEach((r, i) => {
    const previous = i === 0 ? initial : rotations[i - 1].fingerprint;
    const windowEnd = rotations[i + 1]?.startedAtMs ?? stoppedAtMs;
    for (const a of sorted) {
      if (!a.ok) continue;
      if (a.startedAtMs >= r.startedAtMs && a.startedAtMs < r.committedAtMs && a.fingerprint256 === previous) oldSeenDuringRotation += 1;
      if (a.startedAtMs < r.committedAtMs || a.startedAtMs >= windowEnd) continue;
      checkedAfterCommit[i] += 1;
      if (a.fingerprint256 !== r.fingerprint) {
        staleAfterCommit.push({ rotation: i, target: a.target, kind: a.kind, msAfterCommit: a.startedAtMs - r.committedAtMs, sawFingerprint: a.fingerprint256 ?? null });
      }
    }
  });
  const firstStart = rotations[0]?.startedAtMs ?? stoppedAtMs;
  const loadSeconds = sorted.length > 1 ? (sorted[sorted.length - 1].startedAtMs - sorted[0].startedAtMs) / 1000 : 0;
  return {
    rotator,
    attempts: sorted.length,
    failures: failed.length,
    failureSamples: failed.slice(0, 20),
    byTarget,
    loadSeconds,
    attemptsPerSecond: loadSeconds > 0 ? Math.round(sorted.length / loadSeconds) : 0,
    servedPerSecond: loadSeconds > 0 ? Math.round((sorted.length - failed.length) / loadSeconds) : 0,
    rotations,
    distinctFingerprints: new Set(rotations.map((r) => r.fingerprint).filter((f) => f && f !== initial)).size,
    deployToVerifiedMs: rotations.map((r) => r.deployToVerifiedMs).filter((ms): ms is number => ms !== null),
    staleAfterCommit,
    checkedAfterCommit,
    unexpectedBeforeFirst: sorted.filter((a) => a.ok && a.startedAtMs < firstStart && a.fingerprint256 !== initial).length,
    oldSeenDuringRotation,
  };
}

/** The value at quantile q (0..1) of ascending `sorted`. */
function percentile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** The middle value (the lower one of an even count); NaN for none. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
}

/** The load generator, forked with the tsx loader like the benchmark's children; it exits when the IPC channel closes. */
function forkLoadChild(): ChildProcess {
  return fork(CHILD_SCRIPT, [], {
    execArgv: ['--import', 'tsx'],
    cwd: path.resolve(__dirname, '../..'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function ask<R extends { kind: string }>(child: ChildProcess, message: object, replyKind: R['kind'], timeoutMs = 60_000): Promise<R> {
  return askChild<R>(child, 'load child', message, replyKind, timeoutMs);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
