/**
 * OpenTelemetry export of certops' metrics to Application Insights (issue 7).
 *
 * What it observes: the CertopsMetrics registry, the same numbers `/metrics` serves. What it
 * decides: nothing; it mirrors every registry metric as an OpenTelemetry instrument on a
 * MeterProvider whose PeriodicExportingMetricReader pushes them to the Application Insights
 * ingestion endpoint ("Breeze", `POST {IngestionEndpoint}/v2.1/track`) every `intervalMs`.
 *
 * Mirroring (metrics.ts stays the one place metrics are declared; a new metric is exported with
 * no change here):
 * - counter   → ObservableCounter: the registry's cumulative value, read at collection. The
 *               exporter asks for DELTA temporality, so each item carries what happened in its
 *               interval: an Application Insights metric item is an aggregate over an interval
 *               and the portal sums items, so a cumulative value would be counted again every minute.
 * - gauge     → ObservableGauge, refreshed from the stores at collection by
 *               `CertopsMetrics.render(sources)` (the same refresh a Prometheus scrape runs).
 * - histogram → two ObservableCounters, `<name>_sum` and `<name>_count` (delta per interval:
 *               average latency = sum(_sum) / sum(_count) in Kusto). Buckets are not exported:
 *               Application Insights has no bucketed metric type, and 15 `le` series per stage
 *               would multiply the series for a percentile the Prometheus side already gives.
 *
 * Why not AzureMonitorMetricExporter: the package installed (`@azure/monitor-opentelemetry-
 * exporter` 1.0.0-preview.6, which the npm `latest` tag still names) is the 2020 trace-only
 * preview: it has no metric exporter, no TokenCredential (it downgrades Authorization=AAD to
 * ikey), is built on OpenTelemetry 0.10, and ignores the connection string's IngestionEndpoint
 * (it always posts to dc.services.visualstudio.com). The metric exporter lives in the
 * 1.0.0-beta.x line (beta.47 is what @azure/monitor-opentelemetry 1.21 pins). Until that is
 * installed, BreezeMetricExporter below speaks the same wire format; `options.exporter` takes
 * `new AzureMonitorMetricExporter({ connectionString, credential })` when it is.
 */
import { gzipSync } from 'node:zlib';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TokenCredential } from '@azure/core-auth';
import type { Attributes, BatchObservableResult, Observable } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { ConfigError, errorMessage } from '../domain/errors';
import { DEFAULT_MAX_SERIES_PER_METRIC, parsePrometheusText, type CertopsMetrics, type MetricsSources } from './metrics';

/** Application Insights' default interval for standard metrics; one item per series per minute. */
export const DEFAULT_EXPORT_INTERVAL_MS = 60_000;
/** The gauge refresh reads every tenant's observations: generous, but below the interval. */
export const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;
/** Entra ID scope of Application Insights ingestion (the role is Monitoring Metrics Publisher). */
export const INGESTION_SCOPE = 'https://monitor.azure.com/.default';
const DEFAULT_INGESTION_ENDPOINT = 'https://dc.services.visualstudio.com';

export interface OtelExportOptions {
  metrics: CertopsMetrics;
  /** What the gauges are refreshed from at each collection (PipelineDeps fits). */
  sources: MetricsSources;
  /** APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=…;IngestionEndpoint=https://…/`. */
  connectionString: string;
  /** Entra authentication to ingestion (the platform managed identity); without it, ikey only. */
  credential?: TokenCredential;
  /** Export period, default 60 s. */
  intervalMs?: number;
  /** Limit for one collection plus export, default 30 s (at most `intervalMs`). */
  timeoutMs?: number;
  /** `service.version` (the package version); `service.name` is always `certops`. */
  serviceVersion?: string;
  /** More resource attributes, e.g. `service.instance.id` (becomes the role instance). */
  resourceAttributes?: Attributes;
  /** Told of every failed export or gauge refresh; exporting goes on at the next interval. */
  onError?: (err: Error) => void;
  /** Replaces the built-in Breeze exporter (e.g. AzureMonitorMetricExporter once installed). */
  exporter?: PushMetricExporter;
}

export interface OtelExport {
  /** Collects and exports now; resolves when the ingestion endpoint has answered (never rejects: a failure goes to `onError`). */
  flush(): Promise<void>;
  /** Exports what is left, then stops: no request is made afterwards. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Starts pushing certops' metrics to Application Insights.
 * @throws ConfigError when the connection string has no instrumentation key, or names a plain
 *   http ingestion endpoint that is not loopback (telemetry and a bearer token in clear text).
 */
export function startOtelExport(options: OtelExportOptions): OtelExport {
  const onError = options.onError ?? (() => undefined);
  const intervalMs = options.intervalMs ?? DEFAULT_EXPORT_INTERVAL_MS;
  // The SDK requires timeout <= interval: a collection must end before the next one starts.
  const timeoutMs = Math.min(options.timeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS, intervalMs);
  const exporter = options.exporter ?? new BreezeMetricExporter({ ...parseConnectionString(options.connectionString), credential: options.credential, onError, timeoutMs });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ ...options.resourceAttributes, 'service.name': 'certops', 'service.version': options.serviceVersion ?? 'unknown' }),
    readers: [
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: intervalMs,
        exportTimeoutMillis: timeoutMs,
        // The SDK's default of 2000 would fold series into `otel.metric.overflow` long before
        // the registry's own limit: allow exactly what the registry can hold.
        cardinalityLimits: { default: DEFAULT_MAX_SERIES_PER_METRIC + 1 },
      }),
    ],
  });
  mirrorRegistry(provider, options.metrics, options.sources, onError);
  let stopped: Promise<void> | undefined;
  return {
    flush: () => provider.forceFlush(),
    shutdown: () => (stopped ??= provider.shutdown()),
  };
}

type Family = { name: string; type: 'counter' | 'gauge' | 'histogram'; help: string };

/** Declares one instrument per registry series family and feeds them all from one collection. */
function mirrorRegistry(provider: MeterProvider, metrics: CertopsMetrics, sources: MetricsSources, onError: (err: Error) => void): void {
  const meter = provider.getMeter('certops');
  const instruments = new Map<string, { observable: Observable; gauge: boolean }>();
  for (const f of families(metrics.registry.renderPrometheus())) {
    const describe = { description: f.help };
    if (f.type === 'counter') instruments.set(f.name, { observable: meter.createObservableCounter(f.name, describe), gauge: false });
    else if (f.type === 'gauge') instruments.set(f.name, { observable: meter.createObservableGauge(f.name, describe), gauge: true });
    else {
      instruments.set(`${f.name}_sum`, { observable: meter.createObservableCounter(`${f.name}_sum`, { description: `${f.help} (sum)`, unit: f.name.endsWith('_seconds') ? 's' : undefined }), gauge: false });
      instruments.set(`${f.name}_count`, { observable: meter.createObservableCounter(`${f.name}_count`, { description: `${f.help} (count)` }), gauge: false });
    }
  }
  meter.addBatchObservableCallback(async (result: BatchObservableResult) => {
    let text: string;
    let gaugesFresh = true;
    try {
      text = await metrics.render(sources);
    } catch (err) {
      // The stores did not answer: counters are still exact, gauges would be stale; leave a gap.
      onError(new Error(`certops metrics: the gauges could not be refreshed (${errorMessage(err)}); counters exported without them`, { cause: err }));
      text = metrics.registry.renderPrometheus();
      gaugesFresh = false;
    }
    for (const sample of parsePrometheusText(text)) {
      const target = instruments.get(sample.name); // `_bucket` lines have none: not exported
      if (!target || (target.gauge && !gaugesFresh)) continue;
      result.observe(target.observable, sample.value, sample.labels);
    }
  }, [...instruments.values()].map((i) => i.observable));
}

/** The metric families of a text exposition, from its `# HELP` and `# TYPE` lines. */
function families(exposition: string): Family[] {
  const help = new Map<string, string>();
  const out: Family[] = [];
  for (const line of exposition.split('\n')) {
    const h = /^# HELP (\S+) (.*)$/.exec(line);
    if (h) help.set(h[1], h[2].replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
    const t = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
    if (t) out.push({ name: t[1], type: t[2] as Family['type'], help: help.get(t[1]) ?? '' });
  }
  return out;
}

// --- Breeze: the Application Insights ingestion API ------------------------------------------

export interface IngestionTarget {
  instrumentationKey: string;
  /** Base URL without trailing slash; `/v2.1/track` is appended. */
  ingestionEndpoint: string;
}

/**
 * Reads the keys of an Application Insights connection string that ingestion needs (key names
 * are case-insensitive; `Authorization=AAD` is the app setting APPLICATIONINSIGHTS_AUTHENTICATION_STRING
 * and says only that a credential must be passed).
 */
export function parseConnectionString(connectionString: string): IngestionTarget {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const errors: string[] = [];
  const instrumentationKey = fields.get('instrumentationkey') ?? '';
  if (!instrumentationKey) errors.push('InstrumentationKey is missing: copy the connection string from the Application Insights resource');
  const suffix = fields.get('endpointsuffix');
  const location = fields.get('location');
  const endpoint = fields.get('ingestionendpoint') ?? (suffix ? `https://${location ? `${location}.` : ''}dc.${suffix}` : DEFAULT_INGESTION_ENDPOINT);
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    errors.push(`IngestionEndpoint "${endpoint}" is not a URL`);
  }
  if (url && url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) {
    errors.push(`IngestionEndpoint must be https (plain http is accepted on loopback only), got ${url.protocol}//${url.host}`);
  }
  if (errors.length > 0) throw new ConfigError('APPLICATIONINSIGHTS_CONNECTION_STRING', errors);
  return { instrumentationKey, ingestionEndpoint: endpoint.replace(/\/+$/, '') };
}

type ExportResult = Parameters<Parameters<PushMetricExporter['export']>[1]>[0];
// ExportResultCode of @opentelemetry/core (a dependency of sdk-metrics, not of certops).
const SUCCESS = 0 as ExportResult['code'];
const FAILED = 1 as ExportResult['code'];

/**
 * A PushMetricExporter that posts ResourceMetrics as Breeze `MetricData` envelopes, one per data
 * point, the shape AzureMonitorMetricExporter sends: gzip-compressed JSON array, metric name =
 * instrument name, attributes as `properties` (customDimensions), histogram points as
 * value = sum with count/min/max. A failed interval is reported and dropped (no disk
 * persistence: with delta temporality the next interval carries only its own increments).
 */
export class BreezeMetricExporter implements PushMetricExporter {
  private stopped = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: IngestionTarget & { credential?: TokenCredential; onError: (err: Error) => void; timeoutMs?: number }) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    if (this.stopped) return done({ code: FAILED, error: new Error('the Application Insights exporter is shut down') });
    const envelopes = toEnvelopes(metrics, this.options.instrumentationKey);
    if (envelopes.length === 0) return done({ code: SUCCESS });
    const sent = this.send(envelopes).then(
      () => done({ code: SUCCESS }),
      (err: Error) => {
        this.options.onError(err);
        done({ code: FAILED, error: err });
      },
    );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  /** Delta for counters (see the file comment); gauges are last values whatever is chosen. */
  selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return type === InstrumentType.UP_DOWN_COUNTER || type === InstrumentType.OBSERVABLE_UP_DOWN_COUNTER ? AggregationTemporality.CUMULATIVE : AggregationTemporality.DELTA;
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.forceFlush();
  }

  private async send(envelopes: BreezeEnvelope[]): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-encoding': 'gzip', accept: 'application/json' };
    if (this.options.credential) {
      const token = await this.options.credential.getToken(INGESTION_SCOPE);
      if (!token) throw new Error('Application Insights: the credential returned no token for ingestion; check the managed identity');
      headers.authorization = `Bearer ${token.token}`;
    }
    const url = new URL(`${this.options.ingestionEndpoint}/v2.1/track`);
    const { status, body } = await post(url, headers, gzipSync(JSON.stringify(envelopes)), this.options.timeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS);
    if (status === 200) return;
    if (status === 206) {
      // Partial: accepted items are in; resending all would duplicate them, so report the rest.
      this.options.onError(new Error(`Application Insights accepted part of ${envelopes.length} metric items: ${body.slice(0, 500)}`));
      return;
    }
    const hint = status === 401 || status === 403 ? ' (check APPLICATIONINSIGHTS_AUTHENTICATION_STRING and the Monitoring Metrics Publisher role of the identity)' : ' (this interval is lost; the next one is sent as usual)';
    throw new Error(`Application Insights ingestion answered HTTP ${status}${hint}: ${body.slice(0, 500)}`);
  }
}

interface BreezeEnvelope {
  ver: 1;
  name: 'Microsoft.ApplicationInsights.Metric';
  time: string;
  sampleRate: 100;
  iKey: string;
  tags: Record<string, string>;
  data: { baseType: 'MetricData'; baseData: { ver: 2; metrics: BreezeMetric[]; properties: Record<string, string> } };
}
interface BreezeMetric {
  name: string;
  value: number;
  count: number;
  min?: number;
  max?: number;
  /** Serialized name of `dataPointType` in the Breeze swagger. */
  kind: 'Aggregation';
}

/** One envelope per data point (what AzureMonitorMetricExporter does). */
export function toEnvelopes(metrics: ResourceMetrics, instrumentationKey: string): BreezeEnvelope[] {
  const attrs = metrics.resource.attributes;
  const tags: Record<string, string> = { 'ai.cloud.role': String(attrs['service.name'] ?? 'certops'), 'ai.internal.sdkVersion': 'certops-breeze:1' };
  const instance = attrs['service.instance.id'] ?? attrs['host.name'];
  if (instance !== undefined) tags['ai.cloud.roleInstance'] = String(instance);
  const out: BreezeEnvelope[] = [];
  for (const scope of metrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        let m: BreezeMetric;
        if (metric.dataPointType === DataPointType.SUM || metric.dataPointType === DataPointType.GAUGE) {
          m = { name: metric.descriptor.name, value: point.value as number, count: 1, kind: 'Aggregation' };
        } else {
          const h = point.value as { sum?: number; count: number; min?: number; max?: number };
          m = { name: metric.descriptor.name, value: h.sum ?? 0, count: h.count, min: h.min, max: h.max, kind: 'Aggregation' };
        }
        const properties = Object.fromEntries(Object.entries(point.attributes).map(([k, v]) => [k, String(v)]));
        const [seconds, nanos] = point.endTime;
        out.push({
          ver: 1,
          name: 'Microsoft.ApplicationInsights.Metric',
          time: new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString(),
          sampleRate: 100,
          iKey: instrumentationKey,
          tags,
          data: { baseType: 'MetricData', baseData: { ver: 2, metrics: [m], properties } },
        });
      }
    }
  }
  return out;
}

function post(url: URL, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`Application Insights ingestion did not answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new Error(`Application Insights ingestion at ${url.host} could not be reached: ${err.message}`, { cause: err })));
    req.end(body);
  });
}
