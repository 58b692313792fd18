/**
 * Metrics without a metrics library: a small registry of counters, histograms and gauges that
 * renders the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), and `CertopsMetrics`, the
 * metrics certops declares with the calls the pipeline makes.
 *
 * Contract:
 * - Every metric declares its label names; recording with a missing or an undeclared label name
 *   throws MetricLabelError (a programming error, caught by the type checker and the tests).
 * - Cardinality is bounded: a metric keeps at most `maxSeriesPerMetric` label combinations; an
 *   observation that would add one more is dropped and reported to `onSeriesDropped` (never thrown:
 *   metrics must not fail the pipeline). CertopsMetrics also maps tenant ids that are not in the
 *   configuration to `unknown`, so an event naming a made-up tenant cannot grow a series.
 * - Counters only go up (a negative or non-finite increment throws RangeError); they live in the
 *   process, so they count what this process did since it started.
 * - Gauges are set at scrape time (a `collect` callback run by `scrape()`, or `replace()` by the
 *   owner) from stored state, so they are the same whichever process answers the scrape.
 */
import type { Clock } from '../domain/clock';
import { MS_PER_DAY } from '../domain/clock';
import type { GateLevel, GateOutcome } from '../domain/gate-policy';
import type { ExpiryStatus } from '../domain/renewal';
import { latestObservations } from '../pipeline/inventory';
import type { StageName } from '../pipeline/topology';
import type { CertificateStore, ManagedCertificateState } from '../ports/certificate-store';
import type { GovernanceStore } from '../ports/governance-store';
import type { TenantDirectory } from '../ports/tenant-directory';

/** The Content-Type of a `/metrics` answer. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Stage latency buckets (seconds): 5 ms to 10 s covers every stage but rotate; 30 s, 60 s and
 * 300 s are there because a rotation includes ACME issuance and waiting for every address to serve
 * the new certificate (RotationOptions.verifyTimeoutMs), which would otherwise all land in +Inf.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Enough for every stage × outcome of a few thousand tenants; beyond it a label is unbounded. */
export const DEFAULT_MAX_SERIES_PER_METRIC = 10_000;

export type Labels<L extends string> = Readonly<Record<L, string>>;
export interface Sample<L extends string> {
  labels: Labels<L>;
  value: number;
}

export class MetricLabelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricLabelError';
  }
}

export interface MetricSpec<L extends string> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total` by convention. */
  name: string;
  help: string;
  labelNames: readonly L[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The series of one metric, keyed by its label values in declared order. */
abstract class Metric<L extends string, V> {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected readonly series = new Map<string, { labels: Labels<L>; value: V }>();

  constructor(
    readonly spec: MetricSpec<L>,
    private readonly limits: { maxSeries: number; onDropped: (metric: string) => void },
  ) {}

  /** The series of these labels, created when missing; undefined when the series limit is reached. */
  protected entry(labels: Labels<L>, initial: () => V): { labels: Labels<L>; value: V } | undefined {
    const key = this.key(labels);
    let found = this.series.get(key);
    if (!found) {
      if (this.series.size >= this.limits.maxSeries) {
        this.limits.onDropped(this.spec.name);
        return undefined;
      }
      found = { labels: this.ordered(labels), value: initial() };
      this.series.set(key, found);
    }
    return found;
  }

  protected key(labels: Labels<L>): string {
    const given = Object.keys(labels);
    const missing = this.spec.labelNames.filter((n) => !Object.prototype.hasOwnProperty.call(labels, n));
    const extra = given.filter((n) => !(this.spec.labelNames as readonly string[]).includes(n));
    if (missing.length > 0 || extra.length > 0) {
      throw new MetricLabelError(
        `${this.spec.name} takes exactly the labels [${this.spec.labelNames.join(', ')}]` +
          (missing.length ? `; missing: ${missing.join(', ')}` : '') +
          (extra.length ? `; not declared: ${extra.join(', ')}` : ''),
      );
    }
    for (const n of this.spec.labelNames) {
      if (typeof labels[n] !== 'string') throw new MetricLabelError(`${this.spec.name}: label ${n} must be a string`);
    }
    return JSON.stringify(this.spec.labelNames.map((n) => labels[n]));
  }

  private ordered(labels: Labels<L>): Labels<L> {
    return Object.fromEntries(this.spec.labelNames.map((n) => [n, labels[n]])) as Labels<L>;
  }

  /** Sample lines of this metric (no HELP/TYPE). */
  abstract lines(): string[];

  render(): string[] {
    const header = [`# HELP ${this.spec.name} ${escapeHelp(this.spec.help)}`, `# TYPE ${this.spec.name} ${this.type}`];
    // A metric without labels has exactly one series, present from the start (0 until touched).
    if (this.spec.labelNames.length === 0 && this.series.size === 0) this.touchUnlabelled();
    return [...header, ...this.lines()];
  }

  protected abstract touchUnlabelled(): void;
}

export class Counter<L extends string> extends Metric<L, number> {
  readonly type = 'counter';

  /** Adds `value` (default 1) to the series of `labels`. @throws RangeError for a negative or non-finite value. */
  inc(labels: Labels<L>, value = 1): void {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${this.spec.name}: a counter only goes up (got ${value})`);
    const e = this.entry(labels, () => 0);
    if (e) e.value += value;
  }

  /** The current value of one series (0 when never incremented). */
  get(labels: Labels<L>): number {
    return this.series.get(this.key(labels))?.value ?? 0;
  }

  lines(): string[] {
    return [...this.series.values()].map((s) => sampleLine(this.spec.name, s.labels, s.value));
  }

  protected touchUnlabelled(): void {
    this.entry({} as Labels<L>, () => 0);
  }
}

export class Gauge<L extends string> extends Metric<L, number> {
  readonly type = 'gauge';

  constructor(
    spec: MetricSpec<L>,
    limits: { maxSeries: number; onDropped: (metric: string) => void },
    /** Run by `MetricsRegistry.scrape()`: returns every series; series it does not return are removed. */
    readonly collect?: () => Sample<L>[] | Promise<Sample<L>[]>,
  ) {
    super(spec, limits);
  }

  set(labels: Labels<L>, value: number): void {
    const e = this.entry(labels, () => value);
    if (e) e.value = value;
  }

  /** Replaces every series at once (a scrape-time snapshot: series that vanished are gone). */
  replace(samples: readonly Sample<L>[]): void {
    for (const s of samples) this.key(s.labels); // validate all before changing anything
    this.series.clear();
    for (const s of samples) this.set(s.labels, s.value);
  }

  get(labels: Labels<L>): number | undefined {
    return this.series.get(this.key(labels))?.value;
  }

  lines(): string[] {
    return [...this.series.values()].map((s) => sampleLine(this.spec.name, s.labels, s.value));
  }

  protected touchUnlabelled(): void {
    this.entry({} as Labels<L>, () => 0);
  }
}

interface HistogramValue {
  /** Per bucket (same order as `buckets`), NOT cumulative; cumulated when rendered. */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string> extends Metric<L, HistogramValue> {
  readonly type = 'histogram';

  constructor(
    spec: MetricSpec<L>,
    limits: { maxSeries: number; onDropped: (metric: string) => void },
    /** Upper bounds, strictly increasing and finite; `+Inf` is implied. */
    readonly buckets: readonly number[],
  ) {
    super(spec, limits);
  }

  /** Records one value; a non-finite value is ignored (it would poison `_sum`). */
  observe(labels: Labels<L>, value: number): void {
    const e = this.entry(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    if (!e || !Number.isFinite(value)) return;
    const i = this.buckets.findIndex((le) => value <= le); // `le`: less than or equal
    if (i >= 0) e.value.counts[i] += 1;
    e.value.sum += value;
    e.value.count += 1;
  }

  /** Cumulative counts per bucket (`+Inf` last), sum and count of one series. */
  snapshot(labels: Labels<L>): { buckets: Array<{ le: number; count: number }>; sum: number; count: number } {
    const v = this.series.get(this.key(labels))?.value ?? { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    let running = 0;
    const buckets = this.buckets.map((le, i) => ({ le, count: (running += v.counts[i]) }));
    return { buckets: [...buckets, { le: Infinity, count: v.count }], sum: v.sum, count: v.count };
  }

  lines(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      const snap = this.snapshot(s.labels);
      for (const b of snap.buckets) out.push(sampleLine(`${this.spec.name}_bucket`, { ...s.labels, le: formatValue(b.le) }, b.count));
      out.push(sampleLine(`${this.spec.name}_sum`, s.labels, snap.sum));
      out.push(sampleLine(`${this.spec.name}_count`, s.labels, snap.count));
    }
    return out;
  }

  protected touchUnlabelled(): void {
    this.entry({} as Labels<L>, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
  }
}

export interface RegistryOptions {
  maxSeriesPerMetric?: number;
  /** Told the metric's name each time an observation is dropped for the series limit. */
  onSeriesDropped?: (metric: string) => void;
}

/** Metrics in declaration order; renders them all in the text exposition format. */
export class MetricsRegistry {
  private readonly metrics: Array<Counter<string> | Gauge<string> | Histogram<string>> = [];
  private readonly limits: { maxSeries: number; onDropped: (metric: string) => void };

  constructor(options: RegistryOptions = {}) {
    this.limits = { maxSeries: options.maxSeriesPerMetric ?? DEFAULT_MAX_SERIES_PER_METRIC, onDropped: (m) => options.onSeriesDropped?.(m) };
  }

  counter<L extends string = never>(spec: MetricSpec<L>): Counter<L> {
    return this.add(new Counter(this.checked(spec), this.limits));
  }

  gauge<L extends string = never>(spec: MetricSpec<L> & { collect?: () => Sample<L>[] | Promise<Sample<L>[]> }): Gauge<L> {
    return this.add(new Gauge(this.checked(spec), this.limits, spec.collect));
  }

  histogram<L extends string = never>(spec: MetricSpec<L> & { buckets?: readonly number[] }): Histogram<L> {
    if ((spec.labelNames as readonly string[]).includes('le')) throw new MetricLabelError(`${spec.name}: a histogram cannot declare the label "le" (it names the buckets)`);
    const buckets = spec.buckets ?? DURATION_BUCKETS_SECONDS;
    if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]))) {
      throw new RangeError(`${spec.name}: buckets must be finite and strictly increasing (+Inf is implied)`);
    }
    return this.add(new Histogram(this.checked(spec), this.limits, buckets));
  }

  /** Runs every gauge's `collect` (in parallel), then renders. */
  async scrape(): Promise<string> {
    const gauges = this.metrics.filter((m): m is Gauge<string> => m instanceof Gauge && m.collect !== undefined);
    const collected = await Promise.all(gauges.map((g) => g.collect!()));
    gauges.forEach((g, i) => g.replace(collected[i]));
    return this.renderPrometheus();
  }

  /** The text exposition format 0.0.4: HELP, TYPE, then the samples of each metric; ends with a newline. */
  renderPrometheus(): string {
    return this.metrics.flatMap((m) => m.render()).join('\n') + '\n';
  }

  private checked<L extends string>(spec: MetricSpec<L>): MetricSpec<L> {
    if (!METRIC_NAME.test(spec.name)) throw new MetricLabelError(`"${spec.name}" is not a valid metric name`);
    if (this.metrics.some((m) => m.spec.name === spec.name)) throw new MetricLabelError(`metric ${spec.name} is declared twice`);
    for (const n of spec.labelNames) {
      // Names starting with __ are reserved for Prometheus itself.
      if (!LABEL_NAME.test(n) || n.startsWith('__')) throw new MetricLabelError(`${spec.name}: "${n}" is not a valid label name`);
    }
    if (new Set(spec.labelNames).size !== spec.labelNames.length) throw new MetricLabelError(`${spec.name}: a label is declared twice`);
    return { ...spec, labelNames: [...spec.labelNames] };
  }

  private add<M extends Counter<string> | Gauge<string> | Histogram<string>>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Label values: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function sampleLine(name: string, labels: Record<string, string>, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return `${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}`;
}

/**
 * Reads the samples of a text exposition (comments skipped, label values unescaped): for tests
 * that compare /metrics with what happened. Not a full parser: no timestamps, no exemplars.
 */
export function parsePrometheusText(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    for (let p = pair.exec(m[2] ?? ''); p; p = pair.exec(m[2] ?? '')) {
      labels[p[1]] = p[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]) });
  }
  return out;
}

// --- certops' metrics ------------------------------------------------------------------------

export type StageMessageOutcome = 'completed' | 'dead_letter' | 'retried';
/** The store's spelling (`rolled-back`) is accepted too, so callers pass `lastRotation.outcome` as is. */
export type RotationOutcome = 'committed' | 'rolled_back' | 'failed' | NonNullable<ManagedCertificateState['lastRotation']>['outcome'];
/** sent / refused (PermanentError) / failed (transient, retried) per channel; digest and suppressed before any channel. */
export type NotificationResult = 'sent' | 'refused' | 'failed' | 'digest' | 'suppressed';

/** What the scrape-time gauges are computed from; PipelineDeps fits as is. */
export interface MetricsSources {
  store: Pick<CertificateStore, 'listObservations'>;
  governance: Pick<GovernanceStore, 'listGateStates'>;
  tenants: Pick<TenantDirectory, 'list'>;
  clock: Clock;
}

export const UNKNOWN_TENANT = 'unknown';
const DROPPED_SERIES = 'certops_metrics_series_dropped_total';
/** Upper bounds of `certops_certificates_by_days_left` (days); +Inf is added. */
export const DAYS_LEFT_BOUNDS: readonly number[] = [0, 7, 14, 30, 60, 90];
const EXPIRY_STATUSES: readonly ExpiryStatus[] = ['healthy', 'renewal-due', 'expiring', 'critical', 'expired', 'not-yet-valid'];
/** A dead-letter reason is an error name or a bus code; anything else would be an unbounded label. */
const REASON_TOKEN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * certops' metrics, and the calls the pipeline makes. Tenant labels are bounded by the tenant
 * directory given at construction (ids it does not know are recorded as `unknown`).
 */
export class CertopsMetrics {
  readonly registry: MetricsRegistry;
  readonly stageMessages: Counter<'stage' | 'tenant' | 'outcome'>;
  readonly stageDuration: Histogram<'stage'>;
  readonly deadLetters: Counter<'stage' | 'reason'>;
  readonly gateDecisions: Counter<'tenant' | 'level' | 'outcome'>;
  readonly rotations: Counter<'tenant' | 'outcome'>;
  readonly overrides: Counter<'tenant'>;
  readonly notifications: Counter<'tenant' | 'channel' | 'result'>;
  readonly overrideRate: Gauge<'tenant' | 'action'>;
  readonly certificates: Gauge<'tenant' | 'status'>;
  readonly certificatesByDaysLeft: Gauge<'tenant' | 'le'>;
  readonly endpoints: Gauge<'tenant' | 'outcome'>;
  readonly droppedSeries: Counter<'metric'>;

  constructor(private readonly options: { tenants?: Pick<TenantDirectory, 'get'>; maxSeriesPerMetric?: number } = {}) {
    const r = (this.registry = new MetricsRegistry({
      maxSeriesPerMetric: options.maxSeriesPerMetric,
      // This counter's own series are bounded by the number of metrics: it cannot overflow itself.
      onSeriesDropped: (metric) => metric !== DROPPED_SERIES && this.droppedSeries.inc({ metric }),
    }));
    this.stageMessages = r.counter({ name: 'certops_stage_messages_total', help: 'Messages a stage finished, by outcome (completed, dead_letter, retried).', labelNames: ['stage', 'tenant', 'outcome'] });
    this.stageDuration = r.histogram({ name: 'certops_stage_duration_seconds', help: 'Time a stage handler took, validation included, whatever the outcome.', labelNames: ['stage'] });
    this.deadLetters = r.counter({ name: 'certops_dead_letters_total', help: 'Messages a stage dead-lettered, by reason.', labelNames: ['stage', 'reason'] });
    this.gateDecisions = r.counter({ name: 'certops_gate_decisions_total', help: 'Renewals gated, by the deciding level and outcome.', labelNames: ['tenant', 'level', 'outcome'] });
    this.rotations = r.counter({ name: 'certops_rotations_total', help: 'Rotations finished, by outcome (committed, rolled_back, failed).', labelNames: ['tenant', 'outcome'] });
    this.overrides = r.counter({ name: 'certops_overrides_total', help: 'Committed rotations a human overrode.', labelNames: ['tenant'] });
    this.overrideRate = r.gauge({ name: 'certops_override_rate', help: 'Overridden share of the L1 outcomes kept in the gate state (the window override learning uses).', labelNames: ['tenant', 'action'] });
    this.certificates = r.gauge({ name: 'certops_certificates', help: 'Distinct certificates served in the latest sweep of each endpoint, by expiry status at that sweep.', labelNames: ['tenant', 'status'] });
    this.certificatesByDaysLeft = r.gauge({ name: 'certops_certificates_by_days_left', help: 'Distinct certificates served with at most `le` whole days left at scrape time (cumulative).', labelNames: ['tenant', 'le'] });
    this.endpoints = r.gauge({ name: 'certops_endpoint_addresses', help: 'Endpoint addresses by the outcome of their latest handshake (ok, error).', labelNames: ['tenant', 'outcome'] });
    this.notifications = r.counter({ name: 'certops_notifications_total', help: 'Notifications by channel and result (sent, refused, failed, digest, suppressed).', labelNames: ['tenant', 'channel', 'result'] });
    this.droppedSeries = r.counter({ name: DROPPED_SERIES, help: 'Observations dropped because a metric reached its series limit.', labelNames: ['metric'] });
  }

  /** One message through a stage: counted by outcome, its duration observed. `tenant` undefined: the event was unreadable. */
  stageOutcome(stage: StageName, tenant: string | undefined, outcome: StageMessageOutcome, seconds: number): void {
    this.stageMessages.inc({ stage, tenant: this.tenant(tenant), outcome });
    this.stageDuration.observe({ stage }, seconds);
  }

  deadLetter(stage: StageName, reason: string): void {
    this.deadLetters.inc({ stage, reason: REASON_TOKEN.test(reason) ? reason : 'other' });
  }

  gateDecision(tenant: string, level: GateLevel, outcome: GateOutcome): void {
    this.gateDecisions.inc({ tenant: this.tenant(tenant), level, outcome });
  }

  rotation(tenant: string, outcome: RotationOutcome): void {
    this.rotations.inc({ tenant: this.tenant(tenant), outcome: outcome === 'rolled-back' ? 'rolled_back' : outcome });
  }

  override(tenant: string): void {
    this.overrides.inc({ tenant: this.tenant(tenant) });
  }

  notification(tenant: string, channel: string, result: NotificationResult): void {
    this.notifications.inc({ tenant: this.tenant(tenant), channel, result });
  }

  /**
   * Refreshes the gauges from the stores (every configured tenant), then renders everything.
   * All reads finish before any gauge changes, so concurrent scrapes each see one snapshot.
   */
  async render(sources: MetricsSources): Promise<string> {
    const nowMs = sources.clock.now().getTime();
    const rates: Sample<'tenant' | 'action'>[] = [];
    const byStatus: Sample<'tenant' | 'status'>[] = [];
    const byDaysLeft: Sample<'tenant' | 'le'>[] = [];
    const endpoints: Sample<'tenant' | 'outcome'>[] = [];
    const tenantIds = sources.tenants.list().map((t) => t.id);
    const read = await Promise.all(tenantIds.map(async (id) => ({ id, observations: await sources.store.listObservations(id), gates: await sources.governance.listGateStates(id) })));
    for (const { id: tenant, observations, gates } of read) {
      for (const g of gates) {
        if (g.outcomes.length === 0) continue; // no rate without outcomes (0/0)
        rates.push({ labels: { tenant, action: g.action }, value: g.outcomes.filter((o) => o.outcome === 'overridden').length / g.outcomes.length });
      }
      const current = latestObservations(observations);
      const ok = current.filter((o) => o.outcome === 'ok').length;
      endpoints.push({ labels: { tenant, outcome: 'ok' }, value: ok }, { labels: { tenant, outcome: 'error' }, value: current.length - ok });
      // One certificate served on several endpoints counts once, as of its newest observation.
      const newest = new Map<string, (typeof current)[number]>();
      for (const o of current) {
        const fp = o.certificate?.fingerprintSha256;
        if (fp && (!newest.has(fp) || o.observedAt > newest.get(fp)!.observedAt)) newest.set(fp, o);
      }
      const statusCounts = new Map<string, number>(EXPIRY_STATUSES.map((s) => [s, 0]));
      const daysLeft: number[] = [];
      for (const o of newest.values()) {
        const status = o.status ?? 'unknown';
        statusCounts.set(status, (statusCounts.get(status) ?? 0) + 1);
        // renewal.ts: floor(msLeft / 1 day), negative once expired; at scrape time, not at the sweep.
        const notAfterMs = Date.parse(o.certificate!.notAfter);
        if (Number.isFinite(notAfterMs)) daysLeft.push(Math.floor((notAfterMs - nowMs) / MS_PER_DAY));
      }
      for (const [status, value] of statusCounts) byStatus.push({ labels: { tenant, status }, value });
      for (const le of [...DAYS_LEFT_BOUNDS, Infinity]) {
        byDaysLeft.push({ labels: { tenant, le: formatValue(le) }, value: daysLeft.filter((d) => d <= le).length });
      }
    }
    this.overrideRate.replace(rates);
    this.certificates.replace(byStatus);
    this.certificatesByDaysLeft.replace(byDaysLeft);
    this.endpoints.replace(endpoints);
    return this.registry.renderPrometheus();
  }

  private tenant(id: string | undefined): string {
    if (id === undefined) return UNKNOWN_TENANT;
    if (this.options.tenants && !this.options.tenants.get(id)) return UNKNOWN_TENANT;
    return id;
  }
}
