import { fixedClock, MS_PER_DAY } from '../../shared/domain/clock';
import type { ExpiryStatus } from '../../shared/domain/renewal';
import {
  CertopsMetrics,
  MetricLabelError,
  MetricsRegistry,
  parsePrometheusText,
  type MetricsSources,
} from '../../shared/observability/metrics';
import type { ObservationRecord } from '../../shared/ports/certificate-store';
import type { GateState, L1Outcome } from '../../shared/ports/governance-store';
import type { TenantConfig } from '../../shared/config/model';
import { aCertificate, anObservation as aBaseObservation } from '../support/observation-builders';

const NOW = '2026-03-01T12:00:00.000Z';

// --- builders --------------------------------------------------------------------------------

function anObservation(overrides: Partial<ObservationRecord> & { fingerprint?: string | null; daysLeftAt?: number } = {}): ObservationRecord {
  const { fingerprint = 'fp-1', daysLeftAt = 45, ...rest } = overrides;
  const notAfter = new Date(Date.parse(NOW) + daysLeftAt * MS_PER_DAY + 3_600_000).toISOString();
  return aBaseObservation({
    endpointId: 'www.contoso.example:443',
    host: 'www.contoso.example',
    address: '10.0.0.1',
    observedAt: '2026-03-01T02:00:00.000Z',
    outcome: fingerprint ? 'ok' : 'error',
    certificate: fingerprint ? aCertificate({ fingerprintSha256: fingerprint, notBefore: '2026-01-01T00:00:00.000Z', notAfter }) : null,
    status: fingerprint ? 'healthy' : null,
    daysLeft: fingerprint ? daysLeftAt : null,
    error: fingerprint ? null : { code: 'ECONNREFUSED', message: 'connection refused' },
    ...rest,
  });
}

function aGateState(tenantId: string, outcomes: Array<L1Outcome['outcome']>, action: GateState['action'] = 'renew'): GateState {
  return {
    tenantId,
    action,
    raisedTo: null,
    raisedBy: null,
    raisedAt: null,
    reason: null,
    outcomes: outcomes.map((outcome, i) => ({ at: NOW, rotationId: `r${i}`, outcome })),
    acceptedRun: 0,
    version: 1,
  };
}

function aTenant(id: string): TenantConfig {
  return { id, assignee: { name: 'Ops' }, endpoints: [] };
}

/** Fake stores holding what the scrape reads, per tenant. */
function sources(world: { tenants: string[]; observations?: Record<string, ObservationRecord[]>; gates?: Record<string, GateState[]> }): MetricsSources {
  return {
    tenants: { list: () => world.tenants.map(aTenant) },
    store: { listObservations: async (t) => world.observations?.[t] ?? [] },
    governance: { listGateStates: async (t) => world.gates?.[t] ?? [] },
    clock: fixedClock(NOW),
  };
}

function valueOf(text: string, name: string, labels: Record<string, string>): number | undefined {
  return parsePrometheusText(text).find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
}

// --- the registry ----------------------------------------------------------------------------

describe('MetricsRegistry exposition format', () => {
  it('When a small registry is rendered, then the text is exactly the 0.0.4 exposition (golden)', () => {
    const r = new MetricsRegistry();
    const jobs = r.counter({ name: 'jobs_total', help: 'Jobs done.', labelNames: ['kind'] });
    const depth = r.gauge({ name: 'queue_depth', help: 'Waiting jobs.', labelNames: [] });
    const took = r.histogram({ name: 'job_seconds', help: 'Job time.', labelNames: ['kind'], buckets: [0.1, 1] });
    r.counter({ name: 'restarts_total', help: 'Restarts.', labelNames: [] });
    jobs.inc({ kind: 'a' });
    jobs.inc({ kind: 'a' }, 2);
    jobs.inc({ kind: 'b' });
    depth.set({}, 3);
    for (const s of [0.05, 0.5, 2]) took.observe({ kind: 'a' }, s);

    expect(r.renderPrometheus()).toBe(
      [
        '# HELP jobs_total Jobs done.',
        '# TYPE jobs_total counter',
        'jobs_total{kind="a"} 3',
        'jobs_total{kind="b"} 1',
        '# HELP queue_depth Waiting jobs.',
        '# TYPE queue_depth gauge',
        'queue_depth 3',
        '# HELP job_seconds Job time.',
        '# TYPE job_seconds histogram',
        'job_seconds_bucket{kind="a",le="0.1"} 1',
        'job_seconds_bucket{kind="a",le="1"} 2',
        'job_seconds_bucket{kind="a",le="+Inf"} 3',
        'job_seconds_sum{kind="a"} 2.55',
        'job_seconds_count{kind="a"} 3',
        '# HELP restarts_total Restarts.',
        '# TYPE restarts_total counter',
        'restarts_total 0',
        '',
      ].join('\n'),
    );
  });

  it('When label values and help hold a backslash, a double quote and a newline, then they are escaped and read back unchanged', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'odd_total', help: 'Help with \\ and\nnewline "quoted".', labelNames: ['v'] });
    const value = 'C:\\path "x"\nnext';
    c.inc({ v: value });

    const text = r.renderPrometheus();

    expect(text).toContain('# HELP odd_total Help with \\\\ and\\nnewline "quoted".\n');
    expect(text).toContain('odd_total{v="C:\\\\path \\"x\\"\\nnext"} 1\n');
    expect(parsePrometheusText(text)).toEqual([{ name: 'odd_total', labels: { v: value }, value: 1 }]);
  });

  it.each([
    { name: 'on a bound', value: 0.1, expected: [1, 1, 1, 1] },
    { name: 'between bounds', value: 0.3, expected: [0, 1, 1, 1] },
    { name: 'above every bound', value: 7, expected: [0, 0, 0, 1] },
  ])('When a histogram observes a value $name, then the buckets from its bound on count it (cumulative, +Inf = count)', ({ value, expected }) => {
    const h = new MetricsRegistry().histogram({ name: 'h_seconds', help: 'h', labelNames: [], buckets: [0.1, 0.5, 5] });
    h.observe({}, value);
    expect(h.snapshot({}).buckets.map((b) => b.count)).toEqual(expected);
  });

  it('When a histogram observes many values, then each bucket is at least the one before and +Inf equals _count', () => {
    const r = new MetricsRegistry();
    const h = r.histogram({ name: 'stage_seconds', help: 'h', labelNames: ['stage'] });
    const values = [0.001, 0.004, 0.02, 0.3, 0.3, 1.5, 4, 12, 400, Number.NaN];
    for (const v of values) h.observe({ stage: 'gate' }, v);

    const buckets = parsePrometheusText(r.renderPrometheus()).filter((s) => s.name === 'stage_seconds_bucket');
    const counts = buckets.map((b) => b.value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(buckets.at(-1)).toEqual({ name: 'stage_seconds_bucket', labels: { stage: 'gate', le: '+Inf' }, value: 9 }); // NaN ignored
    expect(h.snapshot({ stage: 'gate' }).count).toBe(9);
    expect(h.snapshot({ stage: 'gate' }).sum).toBeCloseTo(418.125, 6);
  });
});

describe('MetricsRegistry label enforcement', () => {
  const aCounter = () => new MetricsRegistry().counter({ name: 'c_total', help: 'c', labelNames: ['stage', 'tenant'] });

  it.each([
    { name: 'a label is missing', labels: { stage: 'gate' }, message: /missing: tenant/ },
    { name: 'a label is not declared', labels: { stage: 'gate', tenant: 't', endpoint: 'x' }, message: /not declared: endpoint/ },
  ])('When $name, then recording throws MetricLabelError naming it', ({ labels, message }) => {
    const c = aCounter();
    expect(() => c.inc(labels as never)).toThrow(MetricLabelError);
    expect(() => c.inc(labels as never)).toThrow(message);
  });

  it.each([
    { name: 'an invalid metric name', spec: { name: 'bad-name', help: '', labelNames: [] } },
    { name: 'a reserved label name', spec: { name: 'x_total', help: '', labelNames: ['__name'] } },
    { name: 'an invalid label name', spec: { name: 'x_total', help: '', labelNames: ['a-b'] } },
    { name: 'a duplicate label name', spec: { name: 'x_total', help: '', labelNames: ['a', 'a'] } },
  ])('When a metric is declared with $name, then the declaration throws', ({ spec }) => {
    expect(() => new MetricsRegistry().counter(spec)).toThrow(MetricLabelError);
  });

  it('When a histogram declares "le" or unordered buckets, or a name is declared twice, then the declaration throws', () => {
    const r = new MetricsRegistry();
    expect(() => r.histogram({ name: 'h', help: '', labelNames: ['le'] })).toThrow(/le/);
    expect(() => r.histogram({ name: 'h2', help: '', labelNames: [], buckets: [1, 1] })).toThrow(RangeError);
    r.counter({ name: 'once_total', help: '', labelNames: [] });
    expect(() => r.gauge({ name: 'once_total', help: '', labelNames: [] })).toThrow(/twice/);
  });

  it('When a counter is given a negative increment, then it throws and the value is unchanged', () => {
    const c = aCounter();
    c.inc({ stage: 'gate', tenant: 't' });
    expect(() => c.inc({ stage: 'gate', tenant: 't' }, -1)).toThrow(RangeError);
    expect(c.get({ stage: 'gate', tenant: 't' })).toBe(1);
  });

  it('When a metric reaches its series limit, then new series are dropped and reported, existing ones still count', () => {
    const dropped: string[] = [];
    const c = new MetricsRegistry({ maxSeriesPerMetric: 2, onSeriesDropped: (m) => dropped.push(m) }).counter({ name: 'c_total', help: 'c', labelNames: ['t'] });
    for (const t of ['a', 'b', 'c', 'd', 'a']) c.inc({ t });
    expect([c.get({ t: 'a' }), c.get({ t: 'b' }), c.get({ t: 'c' })]).toEqual([2, 1, 0]);
    expect(dropped).toEqual(['c_total', 'c_total']);
  });

  it('When a gauge has a collect callback, then scrape() replaces its series with what the callback returns', async () => {
    let samples = [{ labels: { t: 'a' }, value: 1 }, { labels: { t: 'b' }, value: 2 }];
    const r = new MetricsRegistry();
    r.gauge({ name: 'g', help: 'g', labelNames: ['t'], collect: async () => samples });
    expect(await r.scrape()).toContain('g{t="b"} 2\n');
    samples = [{ labels: { t: 'a' }, value: 5 }];
    const text = await r.scrape();
    expect(text).toContain('g{t="a"} 5\n');
    expect(text).not.toContain('t="b"');
  });
});

// --- certops' metrics ------------------------------------------------------------------------

describe('CertopsMetrics counters', () => {
  it('When the pipeline reports what happened, then the rendered counters equal it', async () => {
    const m = new CertopsMetrics({ tenants: { get: (id) => (id === 'contoso' ? aTenant(id) : undefined) } });
    m.stageOutcome('gate', 'contoso', 'completed', 0.02);
    m.stageOutcome('gate', 'contoso', 'completed', 0.03);
    m.stageOutcome('rotate', 'contoso', 'retried', 1.2);
    m.stageOutcome('analyze', undefined, 'dead_letter', 0.001);
    m.deadLetter('analyze', 'InvalidEvent');
    m.deadLetter('analyze', 'connect ECONNREFUSED 10.0.0.1:443 (a message, not a code)');
    m.gateDecision('contoso', 'L1', 'proceed');
    m.gateDecision('contoso', 'L2', 'await-approval');
    m.rotation('contoso', 'committed');
    m.rotation('contoso', 'rolled-back');
    m.override('contoso');
    m.notification('contoso', 'webhook', 'sent');
    m.notification('made-up-tenant', 'webhook', 'refused');

    const text = await m.render(sources({ tenants: ['contoso'] }));

    const expected: Array<[string, Record<string, string>, number]> = [
      ['certops_stage_messages_total', { stage: 'gate', tenant: 'contoso', outcome: 'completed' }, 2],
      ['certops_stage_messages_total', { stage: 'rotate', tenant: 'contoso', outcome: 'retried' }, 1],
      ['certops_stage_messages_total', { stage: 'analyze', tenant: 'unknown', outcome: 'dead_letter' }, 1],
      ['certops_stage_duration_seconds_count', { stage: 'gate' }, 2],
      ['certops_stage_duration_seconds_bucket', { stage: 'gate', le: '0.025' }, 1],
      ['certops_stage_duration_seconds_bucket', { stage: 'gate', le: '0.05' }, 2],
      ['certops_dead_letters_total', { stage: 'analyze', reason: 'InvalidEvent' }, 1],
      ['certops_dead_letters_total', { stage: 'analyze', reason: 'other' }, 1],
      ['certops_gate_decisions_total', { tenant: 'contoso', level: 'L1', outcome: 'proceed' }, 1],
      ['certops_gate_decisions_total', { tenant: 'contoso', level: 'L2', outcome: 'await-approval' }, 1],
      ['certops_rotations_total', { tenant: 'contoso', outcome: 'committed' }, 1],
      ['certops_rotations_total', { tenant: 'contoso', outcome: 'rolled_back' }, 1],
      ['certops_overrides_total', { tenant: 'contoso' }, 1],
      ['certops_notifications_total', { tenant: 'contoso', channel: 'webhook', result: 'sent' }, 1],
      ['certops_notifications_total', { tenant: 'unknown', channel: 'webhook', result: 'refused' }, 1],
    ];
    for (const [name, labels, value] of expected) expect([name, labels, valueOf(text, name, labels)]).toEqual([name, labels, value]);
    expect(text).not.toContain('made-up-tenant');
    expect(text).not.toContain('ECONNREFUSED');
  });

  it('When a metric overflows its series limit, then certops_metrics_series_dropped_total says which', async () => {
    const m = new CertopsMetrics({ maxSeriesPerMetric: 2 });
    for (const channel of ['a', 'b', 'c']) m.notification('contoso', channel, 'sent');
    const text = await m.render(sources({ tenants: [] }));
    expect(valueOf(text, 'certops_metrics_series_dropped_total', { metric: 'certops_notifications_total' })).toBe(1);
  });
});

describe('CertopsMetrics gauges at scrape time', () => {
  it('When the store holds several sweeps, then only each endpoint\'s latest counts, a certificate on two endpoints once', async () => {
    const status = (s: ExpiryStatus) => ({ status: s });
    const observations = [
      // An old sweep of www: replaced by the latest one, so its certificate no longer counts.
      anObservation({ fingerprint: 'old', observedAt: '2026-02-01T00:00:00.000Z', ...status('critical'), daysLeftAt: 2 }),
      anObservation({ fingerprint: 'shared', daysLeftAt: 45 }),
      anObservation({ endpointId: 'api.contoso.example:443', fingerprint: 'shared', daysLeftAt: 45 }),
      anObservation({ endpointId: 'mail.contoso.example:443', fingerprint: 'soon', ...status('expiring'), daysLeftAt: 5 }),
      anObservation({ endpointId: 'vpn.contoso.example:443', fingerprint: 'gone', ...status('expired'), daysLeftAt: -3 }),
      anObservation({ endpointId: 'down.contoso.example:443', fingerprint: null }),
    ];

    const text = await new CertopsMetrics().render(sources({ tenants: ['contoso', 'fabrikam'], observations: { contoso: observations } }));

    const byStatus = (s: string) => valueOf(text, 'certops_certificates', { tenant: 'contoso', status: s });
    expect(['healthy', 'expiring', 'expired', 'critical', 'renewal-due'].map(byStatus)).toEqual([1, 1, 1, 0, 0]);
    const byDays = (le: string) => valueOf(text, 'certops_certificates_by_days_left', { tenant: 'contoso', le });
    expect(['0', '7', '14', '30', '60', '90', '+Inf'].map(byDays)).toEqual([1, 2, 2, 2, 3, 3, 3]);
    expect(valueOf(text, 'certops_endpoint_addresses', { tenant: 'contoso', outcome: 'error' })).toBe(1);
    expect(valueOf(text, 'certops_endpoint_addresses', { tenant: 'contoso', outcome: 'ok' })).toBe(4);
    // A configured tenant with nothing swept yet reads zero, not absent.
    expect(valueOf(text, 'certops_certificates_by_days_left', { tenant: 'fabrikam', le: '+Inf' })).toBe(0);
  });

  it('When time passes between sweep and scrape, then days left are counted at scrape time', async () => {
    const world = { tenants: ['contoso'], observations: { contoso: [anObservation({ daysLeftAt: 8 })] } };
    const src = sources(world);
    const m = new CertopsMetrics();
    expect(valueOf(await m.render(src), 'certops_certificates_by_days_left', { tenant: 'contoso', le: '7' })).toBe(0);
    (src.clock as ReturnType<typeof fixedClock>).advance(2 * MS_PER_DAY);
    expect(valueOf(await m.render(src), 'certops_certificates_by_days_left', { tenant: 'contoso', le: '7' })).toBe(1);
  });

  it('When gate states hold outcomes, then the override rate is overridden over kept outcomes, and absent without outcomes', async () => {
    const gates = {
      contoso: [aGateState('contoso', ['accepted', 'overridden', 'accepted', 'accepted']), aGateState('contoso', [], 'rotate')],
      fabrikam: [aGateState('fabrikam', ['overridden'])],
    };
    const text = await new CertopsMetrics().render(sources({ tenants: ['contoso', 'fabrikam'], gates }));
    expect(valueOf(text, 'certops_override_rate', { tenant: 'contoso', action: 'renew' })).toBe(0.25);
    expect(valueOf(text, 'certops_override_rate', { tenant: 'fabrikam', action: 'renew' })).toBe(1);
    expect(valueOf(text, 'certops_override_rate', { tenant: 'contoso', action: 'rotate' })).toBeUndefined();
  });

  it('When a tenant leaves the configuration, then its gauges are gone at the next scrape', async () => {
    const m = new CertopsMetrics();
    const observations = { contoso: [anObservation()], fabrikam: [anObservation({ tenantId: 'fabrikam' })] };
    expect(await m.render(sources({ tenants: ['contoso', 'fabrikam'], observations }))).toContain('tenant="fabrikam"');
    expect(await m.render(sources({ tenants: ['contoso'], observations }))).not.toContain('tenant="fabrikam"');
  });
});
