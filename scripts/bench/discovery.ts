/**
 * Discovery throughput over one fleet of real TLS endpoints (served by the fleet child), measured
 * four ways over the same ports, interleaved round by round so that drift hits all alike:
 *  - certops, discover stage: the real handler through runStage (validation, resolver, prober,
 *    output validation) at the topology's concurrency;
 *  - certops, TlsProber only: the stage's network work without the event plumbing;
 *  - nmap --script ssl-cert (the peer; the whole command is timed);
 *  - bare tls.connect handshakes (the ceiling).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEmbeddedRuntime } from '../../shared/composition-root';
import { loadConfig } from '../../shared/config/load-config';
import { cloudEvent } from '../../shared/domain/events';
import { createLogger } from '../../shared/observability/logger';
import { TlsProber } from '../../shared/adapters/tls/tls-prober';
import { endpointRef } from '../../shared/pipeline/endpoints';
import { runStage } from '../../shared/pipeline/stage-runner';
import { STAGE_HANDLERS } from '../../shared/pipeline/stages';
import { EVENT_TYPES, stage } from '../../shared/pipeline/topology';
import { bareHandshakes, runPool } from './handshakes';
import { countDeadLetters, DeadLettered } from './results';

export interface DiscoveryEndpoint {
  port: number;
  host: string;
}

export interface DiscoveryFigures {
  endpoints: number;
  concurrency: number;
  /** Medians, endpoints per second. */
  stagePerSecond: number;
  proberPerSecond: number;
  nmapPerSecond: number | null;
  barePerSecond: number;
  /** Every round's figures, for the reader who distrusts medians. */
  rounds: Array<Record<string, number>>;
  notes: string[];
}

const DISCOVERY = { connectTimeoutMs: 3000, handshakeTimeoutMs: 5000 };
/**
 * One pass over 200 endpoints takes ~0.2 s, short enough for a GC pause or the ramp-up and tail of
 * the pool to swing a figure by 10%; every method (nmap too) makes the same passes per measurement.
 */
export const PASSES_PER_MEASUREMENT = 3;
const TENANT_ID = 'bench-discovery';

/**
 * The tenant that owns the fleet's endpoints, loaded through the real loadConfig (as `certops`
 * loads its file): the discover stage refuses (dead-letters) an event whose tenant is not
 * configured or whose endpoint that tenant does not have, so the events below name exactly these.
 */
function benchConfigFile(dir: string, endpoints: DiscoveryEndpoint[], concurrency: number): string {
  const file = path.join(dir, 'certops.json');
  writeFileSync(
    file,
    JSON.stringify({
      dataDir: path.join(dir, 'data'),
      discovery: { concurrency, ...DISCOVERY },
      notifications: { console: false },
      hosts: Object.fromEntries(endpoints.map((e) => [e.host, ['127.0.0.1']])),
      tenants: [
        {
          id: TENANT_ID,
          name: 'Discovery bench tenant',
          assignee: { name: 'Bench engineer', email: 'bench@msp.example' },
          endpoints: endpoints.map((e) => ({ host: e.host, port: e.port })),
        },
      ],
    }),
  );
  return file;
}

export async function measureDiscovery(endpoints: DiscoveryEndpoint[], rounds: number, log: (s: string) => void): Promise<DiscoveryFigures> {
  const concurrency = stage('discover').concurrency;
  const notes: string[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'certops-bench-discovery-'));
  const config = loadConfig(benchConfigFile(dir, endpoints, concurrency));
  const runtime = createEmbeddedRuntime(config, { logger: createLogger({ level: 'warn' }), consoleStream: null });
  try {
    const tenant = config.tenants.find((t) => t.id === TENANT_ID);
    if (!tenant || tenant.endpoints.length !== endpoints.length) throw new Error(`discovery: the bench tenant does not own the ${endpoints.length} endpoints of the fleet`);
    const prober = new TlsProber();
    const events = tenant.endpoints.map((e, i) =>
      cloudEvent({
        id: `bench:${i}`,
        type: EVENT_TYPES.discoveryRequested,
        source: '/certops/bench',
        time: new Date(),
        tenantId: tenant.id,
        correlationId: `bench-discovery-${i}`,
        data: { sweepId: 'bench-discovery', endpoint: endpointRef(e) },
      }),
    );

    /** What the stage refused (or threw) in the current measurement; checked after each one. */
    let refused: Array<{ where: string; reason: string; description: string }> = [];
    const viaStage = async (): Promise<number> => {
      let ok = 0;
      await runPool(events, concurrency, async (event) => {
        let outcome;
        try {
          outcome = await runStage('discover', STAGE_HANDLERS.discover, event, runtime.deps);
        } catch (err) {
          // On a bus this would be retried, then dead-lettered; the bench counts it as refused.
          refused.push({ where: 'discover (thrown, would be retried)', reason: err instanceof Error ? err.name : 'Error', description: err instanceof Error ? err.message : String(err) });
          return;
        }
        if (outcome.kind === 'dead-letter') {
          refused.push({ where: 'discover', reason: outcome.reason, description: outcome.description });
          return;
        }
        const data = outcome.emitted[0]?.data as { addresses: Array<{ outcome: string }> } | undefined;
        if (data && data.addresses.length > 0 && data.addresses.every((a) => a.outcome === 'ok')) ok += 1;
      });
      return ok;
    };
    /** Throws when the measurement just made dead-lettered anything (the stage's outcomes or the runtime's bus). */
    const assertNothingDeadLettered = async (measurement: string): Promise<void> => {
      const onBus = (await runtime.bus.deadLetters()).map((d) => ({ where: `bus ${d.subscription}`, reason: d.reason, description: d.description ?? '' }));
      const letters = [...refused, ...onBus].map((l) => ({ ...l, description: `${measurement}: ${l.description}` }));
      refused = [];
      if (letters.length > 0) throw new DeadLettered(countDeadLetters('discovery', letters));
    };
    const viaProber = async (): Promise<number> => {
      let ok = 0;
      await runPool(endpoints, concurrency, async (e) => {
        const result = await prober.probe({ address: '127.0.0.1', port: e.port, servername: e.host, ...DISCOVERY });
        if (result.ok) ok += 1;
      });
      return ok;
    };
    const viaBare = (): Promise<number> => bareHandshakes(endpoints.map((e) => ({ port: e.port, servername: e.host })), concurrency);
    const viaNmap = async (): Promise<number> => nmapCertificates(endpoints.map((e) => e.port));

    const methods: Array<[string, () => Promise<number>]> = [
      ['stage', viaStage],
      ['prober', viaProber],
      ['nmap', viaNmap],
      ['bare', viaBare],
    ];
    log(`discovery: ${endpoints.length} endpoints of tenant ${tenant.id}, concurrency ${concurrency}; warm-up…`);
    for (const [name, run] of methods) {
      const ok = await run();
      await assertNothingDeadLettered(`warm-up, ${name}`);
      if (ok !== endpoints.length) notes.push(`warm-up: ${name} retrieved ${ok} of ${endpoints.length} certificates`);
    }
    const measured: Array<Record<string, number>> = [];
    for (let r = 0; r < rounds; r++) {
      const round: Record<string, number> = {};
      for (const [name, run] of methods) {
        const started = performance.now();
        let ok = 0;
        for (let pass = 0; pass < PASSES_PER_MEASUREMENT; pass++) ok += await run();
        const seconds = (performance.now() - started) / 1000;
        await assertNothingDeadLettered(`round ${r + 1}, ${name}`);
        const expected = endpoints.length * PASSES_PER_MEASUREMENT;
        if (ok !== expected) notes.push(`round ${r + 1}: ${name} retrieved ${ok} of ${expected} certificates`);
        // Throughput counts certificates actually retrieved, so a method that fails is not rewarded.
        round[name] = Math.round(ok / seconds);
      }
      log(`  round ${r + 1}: ${Object.entries(round).map(([k, v]) => `${k} ${v}/s`).join(', ')}`);
      measured.push(round);
    }
    const median = (name: string): number => medianOf(measured.map((m) => m[name]));
    return {
      endpoints: endpoints.length,
      concurrency,
      stagePerSecond: median('stage'),
      proberPerSecond: median('prober'),
      nmapPerSecond: median('nmap'),
      barePerSecond: median('bare'),
      rounds: measured,
      notes,
    };
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * nmap's ssl-cert script over the ports (the command an MSP would type); returns how many
 * certificates it printed. The IP target sends no SNI, so the fleet serves its default certificate.
 */
function nmapCertificates(ports: number[]): number {
  const out = execFileSync('nmap', ['-Pn', '-n', '-p', ports.join(','), '--script', 'ssl-cert', '127.0.0.1'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return (out.match(/ssl-cert: Subject:/g) ?? []).length;
}

export function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
}
