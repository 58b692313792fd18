/**
 * A `certops run` in a child process, for the tests that kill it mid-sweep or run several at once
 * on the same data (tests/e2e/stale-observation-rotation.test.ts).
 * Usage: node --import tsx sweep-child.ts <job.json>   (the job: SweepChildJob below)
 *
 * Starts the embedded pipeline on the job's configuration (short bus locks and rotation leases, so
 * a successor takes a dead process's work over within about a second), sweeps every tenant, waits
 * until the bus is idle (redelivered messages of earlier, killed runs included), prints `done`
 * and exits 0. It prints `started` once its pipeline runs (the moment from which a kill is timed). The parent may SIGKILL it at any moment.
 */
import { readFileSync } from 'node:fs';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import type { CertopsConfig } from '../../shared/config/model';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { createLogger } from '../../shared/observability/logger';

export interface SweepChildJob {
  config: CertopsConfig;
  hosts: Record<string, string[]>;
  leaseMs: number;
  lockDurationMs: number;
}

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as SweepChildJob;
  const runtime = createEmbeddedRuntime(job.config, {
    logger: createLogger({ level: 'silent' }),
    consoleStream: null,
    resolver: new StaticResolver(job.hosts),
    // One confirming handshake: the fleet swaps certificates with setSecureContext, instantly.
    rotation: { leaseMs: job.leaseMs, verifyTimeoutMs: 2_000, verifyInitialDelayMs: 10, verifyMaxDelayMs: 50, verifyConfirmations: 1, verifySettleMs: 0 },
    bus: { lockDurationMs: job.lockDurationMs, retryBaseDelayMs: 20 },
  });
  runtime.pipeline.start();
  process.stdout.write('started\n');
  await runtime.pipeline.sweep({ reason: 'sweep child' });
  await runtime.bus.idle();
  await runtime.close();
  process.stdout.write('done\n');
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`sweep-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
