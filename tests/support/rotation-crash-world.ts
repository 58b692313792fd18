/**
 * The world of one rotation crash case: a TLS server ("web") serving an old certificate from
 * files in a fresh temp dir, a decoy server, a configuration with one managed certificate issued
 * by certops' local CA and deployed to web's files, and a way to run the crash child against it
 * (rotation-crash-child.ts) and to read what the runs left behind.
 */
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import type { CertopsConfig } from '../../shared/config/model';
import { MS_PER_DAY } from '../../shared/domain/clock';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { createLogger } from '../../shared/observability/logger';
import type { AuditRecord } from '../../shared/ports/audit-log';
import type { AuditChainVerdict } from '../../shared/domain/audit-chain';
import type { ManagedCertificateState } from '../../shared/ports/certificate-store';
import type { DeadLetter } from '../../shared/ports/event-bus';
import type { Notification } from '../../shared/ports/notifier';
import { aTestConfig } from './config-builders';
import { crashDecorated, type KillPoint } from './rotation-crash-decorators';
import type { RotationCrashJob, RotationCrashSummary } from './rotation-crash-child';
import { aCA, aCertificate, TEST_NOW } from './x509-builders';

export const TENANT = 'acme';
export const CERTIFICATE = 'web';
const HOST = 'web.acme.test';
const REPO = path.resolve(__dirname, '../..');
const CHILD = path.join(REPO, 'tests/support/rotation-crash-child.ts');

/**
 * A message lock of about a second: the successor gets the dead process's message that soon.
 * The lock is renewed every half duration, so it outlives the crash by at least 600 ms; the lease
 * (renewed every third) by at most 400 ms: the redelivery always finds the lease run out. A lease
 * that outlives the lock is its own case (aCrashWorld's `leaseMs`).
 */
export const LEASE_MS = 400;
export const LOCK_DURATION_MS = 1200;
/** Long enough for a reload on loopback (milliseconds), short enough for the failure cases. */
export const VERIFY_TIMEOUT_MS = 500;
const RESUME_TIMEOUT_MS = 20_000;
/** A child that neither dies nor finishes by then is killed and reported. */
const CHILD_TIMEOUT_MS = 30_000;

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  summary: RotationCrashSummary | null;
}

export interface CrashWorld {
  dir: string;
  fleet: TlsFleet;
  config: CertopsConfig;
  /** The certificate web served before the rotation: its PEM files and fingerprint. */
  old: { certPem: string; keyPem: string; fingerprint: string };
  files: { certFile: string; keyFile: string };
  sideEffectLog: string;
  outboxFile: string;
  run(mode: 'start' | 'resume', killAt?: KillPoint): Promise<ChildRun>;
  /** A runtime in this process on the world's files, with the child's options and side-effect log (not started). */
  inProcess(): EmbeddedRuntime;
  /** Fingerprint of the leaf web presents in a fresh handshake. */
  served(): Promise<string>;
  /** The store, audit and dead letters as the runs left them (read through a runtime that is not started). */
  persisted(): Promise<{ state: ManagedCertificateState | null; audit: AuditRecord[]; verdict: AuditChainVerdict; deadLetters: DeadLetter[] }>;
  outbox(): Notification[];
  close(): Promise<void>;
}

/**
 * Builds the world. `reloadTo: 'decoy'` points the deployment's reload hook at the decoy server:
 * the files change, what web serves does not, and verification fails.
 */
export async function aCrashWorld(options: { reloadTo: 'web' | 'decoy'; leaseMs?: number }): Promise<CrashWorld> {
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certops-rotation-crash-'));
  const ca = await aCA();
  writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
  const filesOf = (name: string) => ({ certFile: path.join(dir, name, 'cert.pem'), keyFile: path.join(dir, name, 'key.pem') });
  // Valid today (by the wall clock the child runs on) with ten days left: a routine renewal.
  const daysLeft = Math.ceil((Date.now() - TEST_NOW.getTime()) / MS_PER_DAY) + 10;
  const olds = new Map<string, { certPem: string; keyPem: string; fingerprint: string }>();
  for (const name of ['web', 'decoy']) {
    const leaf = await aCertificate({ daysLeft, dnsNames: [HOST], issuer: ca });
    mkdirSync(path.join(dir, name));
    writeFileSync(filesOf(name).certFile, leaf.pem + ca.pem);
    writeFileSync(filesOf(name).keyFile, leaf.key.privateKeyPem, { mode: 0o600 });
    olds.set(name, { certPem: leaf.pem + ca.pem, keyPem: leaf.key.privateKeyPem, fingerprint: leaf.certificate.fingerprintSha256 });
  }
  const fleet = await TlsFleet.start(['web', 'decoy'].map((name) => ({ name, ...filesOf(name) })));
  const outboxFile = path.join(dir, 'outbox.jsonl');
  const config = aTestConfig(dir, {
    notifications: { console: false, outboxFile },
    tenants: [
      {
        id: TENANT,
        assignee: { name: 'Dana', email: 'dana@msp.example' },
        escalation: { name: 'On-call', email: 'oncall@msp.example' },
        trustedCaFiles: [path.join(dir, 'ca.pem')],
        endpoints: [{ host: HOST, port: fleet.endpoint('web').port, managed: CERTIFICATE }],
        managedCertificates: [
          {
            id: CERTIFICATE,
            dnsNames: [HOST],
            issuer: 'local-ca',
            target: { type: 'files', ...filesOf('web'), reload: { url: fleet.reloadUrl(options.reloadTo) } },
          },
        ],
      },
    ],
  });
  const sideEffectLog = path.join(dir, 'side-effects.jsonl');
  let runs = 0;

  const world: CrashWorld = {
    dir,
    fleet,
    config,
    old: olds.get('web')!,
    files: filesOf('web'),
    sideEffectLog,
    outboxFile,
    run: (mode, killAt) => {
      const job: RotationCrashJob = {
        mode,
        config,
        tenantId: TENANT,
        certificateId: CERTIFICATE,
        sideEffectLog,
        killAt,
        trigger: 'sweep',
        hosts: { [HOST]: ['127.0.0.1'] },
        leaseMs,
        lockDurationMs: LOCK_DURATION_MS,
        verifyTimeoutMs: VERIFY_TIMEOUT_MS,
        resumeTimeoutMs: RESUME_TIMEOUT_MS,
        logLevel: process.env.ROTATION_CRASH_LOG_LEVEL ?? 'silent',
        logFile: path.join(dir, `child-${++runs}-${mode}.log`),
      };
      const jobFile = path.join(dir, `job-${runs}.json`);
      writeFileSync(jobFile, JSON.stringify(job));
      return runChild(jobFile);
    },
    inProcess: () =>
      createEmbeddedRuntime(config, {
        logger: createLogger({ level: 'silent' }),
        consoleStream: null,
        resolver: new StaticResolver({ [HOST]: ['127.0.0.1'] }),
        // leaseMs is the rotation engine's option (issue 4).
        rotation: { leaseMs, verifyTimeoutMs: VERIFY_TIMEOUT_MS, verifyInitialDelayMs: 25, verifyMaxDelayMs: 100 } as Record<string, number>,
        bus: { lockDurationMs: LOCK_DURATION_MS, retryBaseDelayMs: 20 },
        decorate: (deps) => crashDecorated(deps, { logFile: sideEffectLog }),
      }),
    served: async () => {
      const { address, port } = fleet.endpoint('web');
      const r = await new TlsProber().probe({ address, port, servername: HOST, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 });
      if (!r.ok) throw new Error(`handshake with web failed: ${r.error.message}`);
      return createHash('sha256').update(r.chain[0]).digest('hex');
    },
    persisted: async () => {
      const runtime = createEmbeddedRuntime(config, { logger: createLogger({ level: 'silent' }), consoleStream: null, notify: false });
      try {
        return {
          state: await runtime.deps.store.getManagedState(TENANT, CERTIFICATE),
          audit: await runtime.deps.audit.list(TENANT),
          verdict: await runtime.deps.audit.verify(TENANT),
          deadLetters: await runtime.bus.deadLetters(),
        };
      } finally {
        await runtime.close();
      }
    },
    outbox: () => {
      let text = '';
      try {
        text = readFileSync(outboxFile, 'utf8');
      } catch {
        return [];
      }
      return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Notification);
    },
    close: async () => {
      await fleet.close();
      // ROTATION_CRASH_KEEP=1 keeps the case's files (child logs, database, side effects) to look at.
      if (process.env.ROTATION_CRASH_KEEP) process.stderr.write(`rotation crash case kept in ${dir}\n`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** What the files on disk hold: the leaf's fingerprint, and whether the key file is that leaf's key. */
export function deployedFiles(files: { certFile: string; keyFile: string }): { fingerprint: string; keyMatches: boolean; certPem: string; keyPem: string } {
  const certPem = readFileSync(files.certFile, 'utf8');
  const keyPem = readFileSync(files.keyFile, 'utf8');
  const leaf = new X509Certificate(certPem);
  const keyMatches = createPublicKey(keyPem).export({ format: 'der', type: 'spki' }).equals(leaf.publicKey.export({ format: 'der', type: 'spki' }));
  return { fingerprint: createHash('sha256').update(leaf.raw).digest('hex'), keyMatches, certPem, keyPem };
}

/**
 * Runs the child with node + the tsx loader directly (no tsx CLI wrapper), so that the process
 * that kills itself is the one whose exit signal the parent sees. Its own process group lets a
 * child that hangs be killed with everything it started.
 */
function runChild(jobFile: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, jobFile], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(the parent killed the child after ${CHILD_TIMEOUT_MS} ms)`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, CHILD_TIMEOUT_MS);
    child.on('error', (err) => (clearTimeout(timer), reject(err)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').filter(Boolean).pop();
      let summary: RotationCrashSummary | null = null;
      try {
        summary = last ? (JSON.parse(last) as RotationCrashSummary) : null;
      } catch {
        summary = null;
      }
      resolve({ code, signal, stdout, stderr, summary });
    });
  });
}
