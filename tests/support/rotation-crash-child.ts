/**
 * A certops runner that dies mid-rotation, for the rotation crash tests (tests/e2e/rotation-crash.test.ts).
 * Usage: node --import tsx rotation-crash-child.ts <job.json>   (the job: RotationCrashJob below)
 *
 * - mode "start": starts the embedded pipeline on the job's configuration and sweeps (the old
 *   certificate is due) or requests a renewal of the certificate; the decorators (rotation-crash-decorators.ts) SIGKILL this process at
 *   `killAt`. Surviving the whole rotation prints `{"outcome":"not-killed",...}` and exits 0, which
 *   the parent reports as a failure.
 * - mode "resume": starts the pipeline on the same files (no new request) and waits until the
 *   certificate's rotation record is terminal and the bus is idle, then prints one JSON summary
 *   line (`RotationCrashSummary`) and exits 0; exits 3 with `"outcome":"stuck"` when the bus has
 *   nothing left to deliver and the rotation is not terminal, or `"timed-out"`.
 *
 * Every certificate issued, deployed or restored is appended to `sideEffectLog` in both modes.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { createEmbeddedRuntime, type EmbeddedRuntime } from '../../shared/composition-root';
import type { CertopsConfig } from '../../shared/config/model';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { createLogger } from '../../shared/observability/logger';
import type { RotationOptions } from '../../shared/pipeline/stage';
import type { ManagedCertificateState } from '../../shared/ports/certificate-store';
import { crashDecorated, type KillPoint } from './rotation-crash-decorators';

export interface RotationCrashJob {
  mode: 'start' | 'resume';
  config: CertopsConfig;
  tenantId: string;
  certificateId: string;
  /** Side effects (issue, deploy, restore), one JSON line each. */
  sideEffectLog: string;
  killAt?: KillPoint;
  /**
   * How "start" asks for the rotation: a sweep (discovery sees the old certificate due, so the
   * rotation knows what it replaces and can verify a rollback) or an operator's request.
   */
  trigger: 'sweep' | 'request';
  /** Host name → addresses, for the resolver (the fleet is on loopback). */
  hosts: Record<string, string[]>;
  /** Lease and lock durations: short, so that the successor takes over within about a second. */
  leaseMs: number;
  lockDurationMs: number;
  verifyTimeoutMs: number;
  resumeTimeoutMs: number;
  /** pino level for `logFile` (default silent). */
  logLevel?: string;
  logFile?: string;
}

export interface RotationCrashSummary {
  /** stuck: the bus went idle (nothing left to deliver) with the rotation not terminal. */
  outcome: 'terminal' | 'stuck' | 'timed-out' | 'not-killed';
  pid: number;
  rotation: {
    rotationId: string;
    state: string;
    history: string[];
    issuedFingerprint: string | null;
    failure: { step: string; reason: string } | null;
  } | null;
  lastRotation: ManagedCertificateState['lastRotation'];
  deadLetters: Array<{ subscription: string; reason: string; description: string | null }>;
  elapsedMs: number;
}

const TERMINAL = new Set(['committed', 'escalated']);
const POLL_MS = 25;

async function main(): Promise<void> {
  const started = Date.now();
  const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as RotationCrashJob;
  const logger = job.logFile
    ? createLogger({ level: job.logLevel ?? 'silent', destination: pino.destination({ dest: job.logFile, sync: true }) })
    : createLogger({ level: 'silent' });
  // leaseMs belongs to the rotation engine's options (issue 4); typed loosely so this file does not
  // depend on the order the options land in.
  const rotation: Partial<RotationOptions> & { leaseMs: number } = {
    leaseMs: job.leaseMs,
    verifyTimeoutMs: job.verifyTimeoutMs,
    verifyInitialDelayMs: 25,
    verifyMaxDelayMs: 100,
  };
  const runtime = createEmbeddedRuntime(job.config, {
    logger,
    consoleStream: null,
    resolver: new StaticResolver(job.hosts),
    rotation,
    bus: { lockDurationMs: job.lockDurationMs, retryBaseDelayMs: 20 },
    decorate: (deps) => crashDecorated(deps, { logFile: job.sideEffectLog, killAt: job.mode === 'start' ? job.killAt : undefined }),
  });
  const summary = async (outcome: RotationCrashSummary['outcome']): Promise<RotationCrashSummary> => {
    const state = await runtime.deps.store.getManagedState(job.tenantId, job.certificateId);
    const r = state?.rotation ?? null;
    return {
      outcome,
      pid: process.pid,
      rotation: r && {
        rotationId: r.rotationId,
        state: r.state,
        history: r.history.map((h) => h.state),
        issuedFingerprint: r.issued?.fingerprint ?? null,
        failure: r.failure,
      },
      lastRotation: state?.lastRotation ?? null,
      deadLetters: (await runtime.bus.deadLetters()).map((d) => ({ subscription: d.subscription, reason: d.reason, description: d.description })),
      elapsedMs: Date.now() - started,
    };
  };

  runtime.pipeline.start();
  let outcome: RotationCrashSummary['outcome'];
  if (job.mode === 'start') {
    if (job.trigger === 'sweep') await runtime.pipeline.sweep({ reason: 'crash test', tenantIds: [job.tenantId] });
    else await runtime.pipeline.requestRenewal({ tenantId: job.tenantId, certificateId: job.certificateId, reason: 'crash test' });
    outcome = 'not-killed';
  } else {
    outcome = await waitForTerminal(job, runtime, started);
    if (outcome === 'terminal') await runtime.bus.idle();
  }
  const result = await summary(outcome);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await runtime.close();
  process.exit(outcome === 'stuck' || outcome === 'timed-out' ? 3 : 0);
}

/**
 * Polls the certificate's rotation until it is terminal. The bus going idle first means no message
 * is left to drive it (settled without finishing, or dead-lettered): the rotation is stuck.
 */
async function waitForTerminal(job: RotationCrashJob, runtime: EmbeddedRuntime, started: number): Promise<'terminal' | 'stuck' | 'timed-out'> {
  let idle = false;
  runtime.bus.idle().then(
    () => (idle = true),
    () => undefined,
  );
  while (Date.now() - started < job.resumeTimeoutMs) {
    const wasIdle = idle;
    const state = await runtime.deps.store.getManagedState(job.tenantId, job.certificateId);
    if (state?.rotation && TERMINAL.has(state.rotation.state)) return 'terminal';
    if (wasIdle) return 'stuck';
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return 'timed-out';
}

main().catch((err: unknown) => {
  process.stderr.write(`rotation-crash-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
