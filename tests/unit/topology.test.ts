/** The topology is the single source of truth: it must be complete and consistent. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Validator } from 'jsonschema';
import { DATA_SCHEMAS, validateEvent } from '../../shared/pipeline/event-schemas';
import { sweepRequests } from '../../shared/pipeline/sweep';
import { EVENT_TYPES, routes, STAGES, topicOf, typeOfTopic } from '../../shared/pipeline/topology';
import { ConfigTenantDirectory } from '../../shared/adapters/local/config-tenant-directory';
import { fixedClock } from '../../shared/domain/clock';
import { readSettings, SETTING_KEYS } from '../../shared/config/settings';
import { ConfigError } from '../../shared/domain/errors';
import { fixturePath } from '../support/fixtures';

const REFERENCE = fixturePath('cloudevents');

describe('The topology', () => {
  it('When read, then every event type has a data schema and a topic of its own', () => {
    const types = Object.values(EVENT_TYPES);
    expect(Object.keys(DATA_SCHEMAS).sort()).toEqual([...types].sort());
    expect(new Set(types.map(topicOf)).size).toBe(types.length);
    for (const t of types) expect(typeOfTopic(topicOf(t))).toBe(t);
  });

  it('When read, then every consumed event is emitted by some stage (or, for sweeps, by the timer and the CLI)', () => {
    const emitted = new Set(STAGES.flatMap((s) => s.emits));
    for (const s of STAGES) for (const t of s.consumes) if (t !== EVENT_TYPES.sweepRequested) expect(emitted).toContain(t);
  });

  it('When read, then every emitted event has a consumer, so nothing is published into the void', () => {
    for (const r of routes()) expect(r.subscriptions.length).toBeGreaterThan(0);
  });

  it('When a stage has a timer, then its schedule is a six-field NCRONTAB expression', () => {
    for (const s of STAGES.filter((x) => x.timer)) expect(s.timer!.schedule.split(' ')).toHaveLength(6);
  });
});

describe('Events', () => {
  it('When certops builds a sweep request, then it is a valid CloudEvents 1.0 event by the specification\'s own schema, and by ours', () => {
    const spec = JSON.parse(readFileSync(path.join(REFERENCE, 'cloudevents.json'), 'utf8'));
    const tenants = new ConfigTenantDirectory([{ id: 'contoso', assignee: { name: 'A' }, endpoints: [] }]);
    const [event] = sweepRequests(tenants, fixedClock('2026-11-29T00:00:00Z'), { reason: 'test' });
    const result = new Validator().validate(event, spec);
    expect(result.errors.map((e) => e.stack)).toEqual([]);
    expect(() => validateEvent(event, [EVENT_TYPES.sweepRequested])).not.toThrow();
  });

  it('When an event lacks the certops extension attributes, then it is rejected, naming them', () => {
    const examples = JSON.parse(readFileSync(path.join(REFERENCE, 'json-format-examples.json'), 'utf8')) as unknown[];
    expect(() => validateEvent(examples[1], [EVENT_TYPES.sweepRequested])).toThrow(/requires property "tenantid".*requires property "correlationid"/);
  });
});

describe('Settings', () => {
  it('When the sample settings file is read, then it holds exactly the keys the settings reader knows, plus the host\'s own', () => {
    const sample = JSON.parse(readFileSync(path.resolve(__dirname, '../../local.settings.sample.json'), 'utf8'));
    expect(Object.keys(sample.Values).sort()).toEqual([...SETTING_KEYS, 'FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage'].sort());
  });

  it('When settings are wrong, then every bad key is listed at once', () => {
    expect(() => readSettings({ CERTOPS_LOG_LEVEL: 'loud', CERTOPS_SWEEP_SCHEDULE: '* * *', CERTOPS_MASTER_KEY: 'c2hvcnQ=' })).toThrow(ConfigError);
    try {
      readSettings({ CERTOPS_LOG_LEVEL: 'loud', CERTOPS_SWEEP_SCHEDULE: '* * *', CERTOPS_MASTER_KEY: 'c2hvcnQ=' });
    } catch (err) {
      expect((err as ConfigError).errors).toHaveLength(3);
    }
  });
});
