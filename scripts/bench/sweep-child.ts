/**
 * One certops sweep, end to end, in a process of its own (so its peak memory is the sweep's alone):
 * a generated configuration file (tenants × endpoints, every name mapped to 127.0.0.1 through
 * `hosts`, the bench CA as the tenants' trust anchor) loaded by the real loadConfig, the embedded
 * runtime (SQLite in a temp dir, console off, notifications to an outbox file), `pipeline.start()`
 * then `pipeline.sweep()` to completion.
 *
 *   parent → { kind: 'sweep', workDir, caPem, ports, perTenant, concurrency }
 *   child  → { kind: 'swept', … figures … }
 * The child exits when the parent's IPC channel closes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import { loadConfig } from '../../shared/config/load-config';
import { createLogger } from '../../shared/observability/logger';
import type { StageName } from '../../shared/pipeline/topology';
import { sweepHost } from './certs';
import { peakRssMB } from './memory';

export interface SweepRequest {
  kind: 'sweep';
  workDir: string;
  caPem: string;
  /** One port per tenant; tenant t's endpoints are sweepHost(t, 0…perTenant-1) on ports[t]. */
  ports: number[];
  perTenant: number;
  concurrency: number;
}

export interface SweepFigures {
  kind: 'swept';
  endpoints: number;
  setupMs: number;
  wallMs: number;
  /** When each stage settled its last message, ms after the sweep started. */
  stageDoneAtMs: Partial<Record<StageName, number>>;
  stageSettled: Partial<Record<StageName, number>>;
  observationsOk: number;
  observationsFailed: number;
  statuses: Record<string, number>;
  notifications: number;
  /** Every dead letter on the runtime's bus after the sweep (the bench refuses a run with any). */
  deadLetters: Array<{ where: string; reason: string; description: string | null }>;
  rssBeforeSweepMB: number;
  maxRssMB: number;
}

async function sweep(request: SweepRequest): Promise<SweepFigures> {
  const setupStarted = performance.now();
  const caFile = path.join(request.workDir, 'bench-ca.pem');
  writeFileSync(caFile, request.caPem);
  const hosts: Record<string, string[]> = {};
  const tenants = request.ports.map((port, t) => {
    const endpoints = Array.from({ length: request.perTenant }, (_, n) => {
      const host = sweepHost(t, n);
      hosts[host] = ['127.0.0.1'];
      return { host, port };
    });
    return { id: `tenant-${t}`, name: `Bench tenant ${t}`, assignee: { name: `Engineer ${t}`, email: `eng${t}@msp.example` }, trustedCaFiles: [caFile], endpoints };
  });
  const outboxFile = path.join(request.workDir, 'notifications.jsonl');
  const configFile = path.join(request.workDir, 'certops.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      dataDir: path.join(request.workDir, 'data'),
      discovery: { concurrency: request.concurrency, connectTimeoutMs: 3000, handshakeTimeoutMs: 5000 },
      notifications: { console: false, outboxFile },
      hosts,
      tenants,
    }),
  );
  const config = loadConfig(configFile);
  const stageDoneAtMs: SweepFigures['stageDoneAtMs'] = {};
  const stageSettled: SweepFigures['stageSettled'] = {};
  let sweepStarted = 0;
  const runtime = createEmbeddedRuntime(config, {
    logger: createLogger({ level: 'warn' }),
    consoleStream: null,
    observer: (stage) => {
      stageSettled[stage] = (stageSettled[stage] ?? 0) + 1;
      stageDoneAtMs[stage] = Math.round(performance.now() - sweepStarted);
    },
  });
  try {
    runtime.pipeline.start();
    const setupMs = Math.round(performance.now() - setupStarted);
    const rssBeforeSweepMB = Math.round(process.memoryUsage().rss / 1048576);
    sweepStarted = performance.now();
    await runtime.pipeline.sweep({ reason: 'benchmark' });
    const wallMs = Math.round(performance.now() - sweepStarted);
    const maxRssMB = peakRssMB();

    let observationsOk = 0;
    let observationsFailed = 0;
    const statuses: Record<string, number> = {};
    for (const tenant of config.tenants) {
      for (const o of await runtime.deps.store.listObservations(tenant.id)) {
        if (o.outcome === 'ok') observationsOk += 1;
        else observationsFailed += 1;
        statuses[o.status ?? 'none'] = (statuses[o.status ?? 'none'] ?? 0) + 1;
      }
    }
    const notifications = existsSync(outboxFile) ? readFileSync(outboxFile, 'utf8').split('\n').filter(Boolean).length : 0;
    const deadLetters = (await runtime.bus.deadLetters()).map((d) => ({ where: `bus ${d.subscription}`, reason: d.reason, description: d.description }));
    return {
      kind: 'swept',
      endpoints: config.tenants.reduce((n, t) => n + t.endpoints.length, 0),
      setupMs,
      wallMs,
      stageDoneAtMs,
      stageSettled,
      observationsOk,
      observationsFailed,
      statuses,
      notifications,
      deadLetters,
      rssBeforeSweepMB,
      maxRssMB,
    };
  } finally {
    await runtime.close();
  }
}

process.on('message', (message: SweepRequest) => {
  if (message.kind !== 'sweep') return;
  sweep(message).then(
    (figures) => process.send?.(figures),
    (err: unknown) => process.send?.({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
