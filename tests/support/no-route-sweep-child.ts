/**
 * A sweep of certops run where it has no route for some addresses: started by
 * tests/e2e/dual-stack-unroutable-family.test.ts through runWithoutRoutes (a network namespace
 * with loopback only), so every address outside 127.0.0.0/8 and ::1 is unroutable from here.
 * Usage: node --import tsx no-route-sweep-child.ts <job.json>   (the job: NoRouteSweepJob below)
 *
 * Starts one TLS server (on a loopback address of the namespace), sweeps the job's endpoints (each
 * on that server's port, its host resolving to the job's addresses) through the embedded
 * pipeline (discover, analyze, notify…), and prints what a person would read as one JSON line:
 * the inventory and the notifications sent.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import { StaticResolver } from '../../shared/adapters/tls/system-resolver';
import { fixedClock } from '../../shared/domain/clock';
import { TlsFleet } from '../../shared/demo/tls-fleet';
import { createLogger } from '../../shared/observability/logger';
import { inventory, type InventoryRow } from '../../shared/pipeline/inventory';
import type { Notification } from '../../shared/ports/notifier';
import { aTestConfig } from './config-builders';

export interface NoRouteSweepJob {
  dir: string;
  /** The fixed clock of the run (ISO). */
  now: string;
  /** The one TLS server: a loopback address and its certificate files. */
  server: { address: string; certFile: string; keyFile: string };
  caFile: string;
  /** Each endpoint is swept on the server's port; its host resolves to these addresses. */
  endpoints: Array<{ host: string; addresses: string[] }>;
}

export interface NoRouteSweepResult {
  inventory: InventoryRow[];
  notifications: Notification[];
}

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as NoRouteSweepJob;
  const fleet = await TlsFleet.start([{ name: 'server', ...job.server }]);
  const { port } = fleet.endpoint('server');
  const outboxFile = path.join(job.dir, 'outbox.jsonl');
  const config = aTestConfig(job.dir, {
    discovery: { concurrency: 4, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
    notifications: { console: false, outboxFile },
    tenants: [
      {
        id: 'acme',
        assignee: { name: 'Carol' },
        trustedCaFiles: [job.caFile],
        endpoints: job.endpoints.map((e) => ({ host: e.host, port })),
      },
    ],
  });
  const runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'silent' }),
    clock: fixedClock(new Date(job.now)),
    resolver: new StaticResolver(Object.fromEntries(job.endpoints.map((e) => [e.host, e.addresses]))),
    consoleStream: null,
  });
  runtime.pipeline.start();
  await runtime.pipeline.sweep({ reason: 'no-route sweep child' });
  await runtime.bus.idle();
  const result: NoRouteSweepResult = {
    inventory: await inventory(runtime.deps.store, ['acme']),
    notifications: existsSync(outboxFile)
      ? readFileSync(outboxFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Notification)
      : [],
  };
  await runtime.close();
  await fleet.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`no-route-sweep-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
