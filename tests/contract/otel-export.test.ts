/**
 * OpenTelemetry export to Application Insights, driven end to end on loopback: certops records
 * events in its registry, the OTel MeterProvider collects and exports, the ingestion stub
 * receives Breeze envelopes. Asserts what a user of Application Insights would see: metric
 * names, values per interval and customDimensions.
 */
import { fixedClock } from '../../shared/domain/clock';
import { ConfigError } from '../../shared/domain/errors';
import { CertopsMetrics, type MetricsSources } from '../../shared/observability/metrics';
import { INGESTION_SCOPE, parseConnectionString, startOtelExport, type OtelExport, type OtelExportOptions } from '../../shared/observability/otel-export';
import type { ObservationRecord } from '../../shared/ports/certificate-store';
import { startAppInsightsStub, STUB_INSTRUMENTATION_KEY, type AppInsightsStub, type MetricItem } from '../support/app-insights-stub';
import { FakeCredential } from '../support/fake-credential';
import { aCertificate, anObservation as aBaseObservation } from '../support/observation-builders';

const NOW = '2026-03-01T12:00:00.000Z';

// --- builders --------------------------------------------------------------------------------

function anObservation(tenantId: string, fingerprint: string | null): ObservationRecord {
  return aBaseObservation({
    tenantId,
    endpointId: `www.${tenantId}.example:443`,
    host: `www.${tenantId}.example`,
    address: '10.0.0.1',
    observedAt: '2026-03-01T02:00:00.000Z',
    outcome: fingerprint ? 'ok' : 'error',
    certificate: fingerprint ? aCertificate({ fingerprintSha256: fingerprint, notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-05-01T00:00:00.000Z' }) : null,
    status: fingerprint ? 'healthy' : null,
    daysLeft: fingerprint ? 60 : null,
    error: fingerprint ? null : { code: 'ECONNREFUSED', message: 'connection refused' },
  });
}

/** Stores holding one healthy endpoint per tenant (or failing, to test a refresh error). */
function sources(tenants: string[], options: { storeDown?: boolean } = {}): MetricsSources {
  // `options` is read at each collection: a test may take the store down between two.
  return {
    tenants: { list: () => tenants.map((id) => ({ id, assignee: { name: 'Ops' }, endpoints: [] })) },
    store: {
      listObservations: async (t) => {
        if (options.storeDown) throw new Error('Cosmos DB unreachable');
        return [anObservation(t, `fp-${t}`)];
      },
    },
    governance: { listGateStates: async () => [] },
    clock: fixedClock(NOW),
  };
}

function itemsNamed(items: MetricItem[], name: string, dims: Record<string, string>): MetricItem[] {
  return items.filter((i) => i.name === name && Object.entries(dims).every(([k, v]) => i.properties[k] === v));
}

// --- the world -------------------------------------------------------------------------------

let stub: AppInsightsStub;
let exporting: OtelExport | undefined;
let errors: Error[];

beforeEach(async () => {
  stub = await startAppInsightsStub();
  errors = [];
});
afterEach(async () => {
  await exporting?.shutdown();
  exporting = undefined;
  await stub.close();
});

function start(metrics: CertopsMetrics, overrides: Partial<OtelExportOptions> = {}): OtelExport {
  exporting = startOtelExport({
    metrics,
    sources: sources(['contoso']),
    connectionString: stub.connectionString,
    intervalMs: 3_600_000, // only flush() exports, unless a test says otherwise
    serviceVersion: '0.1.0',
    onError: (e) => errors.push(e),
    ...overrides,
  });
  return exporting;
}

// --- tests -----------------------------------------------------------------------------------

describe('OpenTelemetry export to Application Insights', () => {
  it('When certops records stage outcomes, gate decisions and rotations, then one flush delivers each series with its value and its label dimensions', async () => {
    const metrics = new CertopsMetrics();
    const otel = start(metrics);
    metrics.stageOutcome('discover', 'contoso', 'completed', 0.25);
    metrics.stageOutcome('discover', 'contoso', 'completed', 0.5);
    metrics.stageOutcome('rotate', 'fabrikam', 'dead_letter', 12);
    metrics.gateDecision('contoso', 'L1', 'await-approval');
    metrics.rotation('contoso', 'rolled-back');

    await otel.flush();

    expect(stub.requests).toHaveLength(1);
    const items = stub.metricItems();
    const cases: Array<[string, Record<string, string>, number]> = [
      ['certops_stage_messages_total', { stage: 'discover', tenant: 'contoso', outcome: 'completed' }, 2],
      ['certops_stage_messages_total', { stage: 'rotate', tenant: 'fabrikam', outcome: 'dead_letter' }, 1],
      ['certops_gate_decisions_total', { tenant: 'contoso', level: 'L1', outcome: 'await-approval' }, 1],
      ['certops_rotations_total', { tenant: 'contoso', outcome: 'rolled_back' }, 1],
      ['certops_stage_duration_seconds_sum', { stage: 'discover' }, 0.75],
      ['certops_stage_duration_seconds_count', { stage: 'discover' }, 2],
      ['certops_stage_duration_seconds_count', { stage: 'rotate' }, 1],
    ];
    for (const [name, dims, value] of cases) {
      const found = itemsNamed(items, name, dims);
      expect({ name, dims, values: found.map((i) => i.value) }).toEqual({ name, dims, values: [value] });
      expect(Object.keys(found[0].properties).sort()).toEqual(Object.keys(dims).sort()); // exactly certops' labels
    }
    expect(items.some((i) => i.name.endsWith('_bucket'))).toBe(false);
    expect(errors).toEqual([]);
  });

  it('When the gauges are collected, then they carry the stores\' state at that collection (endpoints, certificates by status)', async () => {
    const metrics = new CertopsMetrics();
    const otel = start(metrics, { sources: sources(['contoso', 'fabrikam']) });

    await otel.flush();

    const items = stub.metricItems();
    for (const tenant of ['contoso', 'fabrikam']) {
      expect(itemsNamed(items, 'certops_endpoint_addresses', { tenant, outcome: 'ok' }).map((i) => i.value)).toEqual([1]);
      expect(itemsNamed(items, 'certops_certificates', { tenant, status: 'healthy' }).map((i) => i.value)).toEqual([1]);
      expect(itemsNamed(items, 'certops_certificates_by_days_left', { tenant, le: '90' }).map((i) => i.value)).toEqual([1]);
    }
  });

  it('When a second interval is exported, then each counter item carries only that interval\'s increase (delta), not the running total', async () => {
    const metrics = new CertopsMetrics();
    const otel = start(metrics);
    metrics.rotation('contoso', 'committed');
    metrics.rotation('contoso', 'committed');
    await otel.flush();
    metrics.rotation('contoso', 'committed');
    await otel.flush();

    expect(stub.requests).toHaveLength(2);
    const perRequest = stub.requests.map((r) =>
      r.envelopes.filter((e) => e.data.baseData.metrics[0].name === 'certops_rotations_total' && e.data.baseData.properties?.outcome === 'committed').map((e) => e.data.baseData.metrics[0].value),
    );
    expect(perRequest).toEqual([[2], [1]]);
  });

  it('When the envelopes are sent, then they are gzip MetricData items to /v2.1/track for the connection string\'s key, with the role certops', async () => {
    const metrics = new CertopsMetrics();
    const otel = start(metrics);
    metrics.override('contoso');

    await otel.flush();

    const [req] = stub.requests;
    expect(req.path).toBe('/v2.1/track');
    expect(req.headers['content-encoding']).toBe('gzip');
    expect(req.headers.authorization).toBeUndefined(); // no credential: instrumentation key only
    const envelope = req.envelopes.find((e) => e.data.baseData.metrics[0].name === 'certops_overrides_total')!;
    expect(envelope).toMatchObject({
      name: 'Microsoft.ApplicationInsights.Metric',
      iKey: STUB_INSTRUMENTATION_KEY,
      tags: { 'ai.cloud.role': 'certops' },
      data: { baseType: 'MetricData', baseData: { metrics: [{ name: 'certops_overrides_total', value: 1 }], properties: { tenant: 'contoso' } } },
    });
    expect(Date.parse(envelope.time)).not.toBeNaN();
  });

  it('When a credential is given (the managed identity), then every request carries its bearer token, asked for the Azure Monitor scope', async () => {
    const credential = new FakeCredential('ingestion-token');
    const metrics = new CertopsMetrics();
    const otel = start(metrics, { credential });
    metrics.rotation('contoso', 'committed');

    await otel.flush();
    await otel.flush();

    expect(stub.requests.map((r) => r.headers.authorization)).toEqual(['Bearer ingestion-token', 'Bearer ingestion-token']);
    expect(credential.requests.map((r) => r.scopes)).toEqual([[INGESTION_SCOPE], [INGESTION_SCOPE]]);
  });

  it('When the interval elapses, then metrics are pushed without a flush; after shutdown, nothing more is sent', async () => {
    const metrics = new CertopsMetrics();
    const otel = start(metrics, { intervalMs: 100 });
    metrics.rotation('contoso', 'committed');

    await stub.waitForRequests(1, 5_000);
    await otel.shutdown();
    const afterShutdown = stub.requests.length;
    metrics.rotation('contoso', 'failed');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await otel.flush();

    expect(stub.requests.length).toBe(afterShutdown);
    expect(stub.metricItems().some((i) => i.properties.outcome === 'failed')).toBe(false);
  });

  it('When the stores cannot be read, then counters are still exported, gauges are left out (not their last value) and the failure is reported', async () => {
    const store = { storeDown: false };
    const metrics = new CertopsMetrics();
    const otel = start(metrics, { sources: sources(['contoso'], store) });
    await otel.flush(); // the gauges now hold a value
    store.storeDown = true;
    metrics.gateDecision('contoso', 'L0', 'proceed');

    await otel.flush();

    const [before, during] = stub.requests.map((r) => new Set(r.envelopes.map((e) => e.data.baseData.metrics[0].name)));
    expect(before.has('certops_endpoint_addresses')).toBe(true);
    expect(during.has('certops_gate_decisions_total')).toBe(true);
    expect(during.has('certops_endpoint_addresses')).toBe(false);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('Cosmos DB unreachable')]);
  });

  it.each([
    ['refuses the token (401)', 401, /HTTP 401.*Monitoring Metrics Publisher/],
    ['is unavailable (503)', 503, /HTTP 503/],
  ])('When ingestion %s, then flush still resolves and the failure is reported with what to check', async (_name, status, message) => {
    stub.answer(status);
    const metrics = new CertopsMetrics();
    const otel = start(metrics, { credential: new FakeCredential('refused-token') });
    metrics.rotation('contoso', 'committed');

    await otel.flush();

    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(message)]);
    expect(errors[0].message).not.toContain('refused-token');
  });
});

describe('Application Insights connection string', () => {
  it.each([
    ['the regional ingestion endpoint', 'InstrumentationKey=k1;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://x/', 'https://westeurope-5.in.applicationinsights.azure.com'],
    ['no endpoint (the global default)', 'InstrumentationKey=k1', 'https://dc.services.visualstudio.com'],
    ['an endpoint suffix and location', 'instrumentationkey=k1;EndpointSuffix=applicationinsights.azure.cn;Location=chinaeast2', 'https://chinaeast2.dc.applicationinsights.azure.cn'],
    ['plain http on loopback (a test stand-in)', 'InstrumentationKey=k1;IngestionEndpoint=http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
  ])('When it holds %s, then ingestion goes to that endpoint', (_name, connectionString, endpoint) => {
    expect(parseConnectionString(connectionString)).toEqual({ instrumentationKey: 'k1', ingestionEndpoint: endpoint });
  });

  it.each([
    ['no instrumentation key', 'IngestionEndpoint=https://x.in.applicationinsights.azure.com/', /InstrumentationKey is missing/],
    ['plain http off loopback (a bearer token in clear text)', 'InstrumentationKey=k1;IngestionEndpoint=http://ingest.example.com/', /must be https/],
  ])('When it has %s, then starting the export fails with a configuration error', (_name, connectionString, message) => {
    const attempt = (): unknown => startOtelExport({ metrics: new CertopsMetrics(), sources: sources([]), connectionString });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });
});
