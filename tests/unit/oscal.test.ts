import fs from 'node:fs';
import { GENESIS_HASH, hashAuditRecord } from '../../shared/domain/audit-chain';
import { headLine, type SignedHead } from '../../shared/domain/signed-head';
import { finding } from '../../shared/domain/finding';
import { assessmentResults, filterPeriod, isAutomatedAction, type AssessmentResultsInput } from '../../shared/domain/oscal';
import type { AuditEntry, AuditRecord } from '../../shared/ports/audit-log';
import type { ObservationRecord } from '../../shared/ports/certificate-store';
import { IFA_EXAMPLE_PATH, oscalCompleteErrors, oscalErrors } from '../support/oscal-validator';

// --- builders --------------------------------------------------------------------------------

const TENANT = 'contoso';
const CHAIN_KEY = Buffer.from('test chain key');
const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type Step = AuditEntry & { at: string };

/** A real hash chain (domain/audit-chain.ts), as the audit log would store it. */
function aChain(steps: Step[], tenantId = TENANT): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const { at, ...entry } of steps) {
    const content = { tenantId, seq: out.length + 1, at, prevHash: out[out.length - 1]?.hash ?? GENESIS_HASH, ...entry };
    out.push({ ...content, hash: hashAuditRecord(content, CHAIN_KEY) });
  }
  return out;
}

const stage = (name: string) => `stage:${name}`;
const at = (minute: number, day = 1) => new Date(Date.UTC(2026, 2, day, 2, minute)).toISOString();

function step(kind: string, actor: string, minute: number, data: Record<string, unknown>, day = 1): Step {
  return { kind, actor, correlationId: `corr-${kind}-${minute}`, data, at: at(minute, day) };
}

/** One rotation's steps as the engine audits them (domain/rotation.ts ROTATION_AUDIT_KIND). */
function rotation(certificateId: string, startMinute: number, kinds: string[], extra: Record<string, Record<string, unknown>> = {}): Step[] {
  const rotationId = `s1:${certificateId}`;
  return kinds.map((kind, i) => step(kind, stage('rotate'), startMinute + i, { certificateId, rotationId, ...(extra[kind] ?? {}) }));
}

function gateDecided(certificateId: string, minute: number, level: 'L1' | 'L2', outcome: string): Step {
  return step('gate.decided', stage('gate'), minute, { certificateId, sweepId: 's1', level, action: 'renew', outcome, reason: 'TenantPolicy', rationale: `${level}: renew ${certificateId} per the tenant's policy`, notifyAfter: level === 'L1' });
}

const COMMITTED = ['rotation.planned', 'certificate.issued', 'certificate.deployed', 'rotation.verified', 'rotation.committed'];
const OVERRIDE_REASON = 'the client asked to keep the old certificate until Friday';

/** A demo run: a sweep with a committed rotation, a rolled-back one, an L2 approval, then a human override. */
function aDemoRun(): AuditRecord[] {
  return aChain([
    step('sweep.ingested', stage('ingest'), 0, { sweepId: 's1', reason: 'scheduled', endpoints: 4 }),
    step('endpoint.analyzed', stage('analyze'), 1, { sweepId: 's1', endpointId: 'www.contoso.test:443', status: 'renewal-due' }),
    gateDecided('www', 2, 'L1', 'proceed'),
    ...rotation('www', 3, COMMITTED),
    step('notification.sent', stage('notify'), 8, { id: 'n1', kind: 'rotation-completed', channel: 'teams' }),
    gateDecided('api', 10, 'L1', 'proceed'),
    ...rotation('api', 11, ['rotation.planned', 'certificate.issued', 'certificate.deployed', 'rotation.rolling-back', 'certificate.restored', 'rotation.failed'], {
      'rotation.rolling-back': { step: 'verify', reason: 'the new certificate is not served on api.contoso.test:443' },
      'certificate.restored': { restoredVerified: true },
      'rotation.failed': { rolledBack: true, restoredVerified: true, reason: 'the new certificate is not served on api.contoso.test:443' },
    }),
    gateDecided('mail', 20, 'L2', 'await-approval'),
    step('approval.requested', stage('gate'), 21, { approvalId: 'ap-1', certificateId: 'mail', level: 'L2', reason: 'Risk' }),
    step('approval.approved', 'human:alice@msp.test', 30, { approvalId: 'ap-1', certificateId: 'mail', action: 'renew', reason: 'checked with the client', by: 'alice-subject' }),
    ...rotation('mail', 31, COMMITTED),
    // The next day, a human overrides the committed www rotation (rotation-engine.ts reopen()).
    ...[
      step('rotation.rolling-back', 'human:bob@msp.test', 0, { certificateId: 'www', rotationId: 's1:www', state: 'rolling-back', step: 'override', reason: `override by human:bob@msp.test: ${OVERRIDE_REASON}`, actor: 'human:bob@msp.test' }, 2),
      step('certificate.restored', 'human:bob@msp.test', 1, { certificateId: 'www', rotationId: 's1:www', state: 'rolled-back', restoredVerified: true }, 2),
      step('rotation.failed', 'human:bob@msp.test', 2, { certificateId: 'www', rotationId: 's1:www', state: 'escalated', rolledBack: true, restoredVerified: true, reason: `override by human:bob@msp.test: ${OVERRIDE_REASON}` }, 2),
      step('human.reviewed', 'human:carol@msp.test', 10, { certificateId: 'api', rotationId: 's1:api', state: 'escalated', note: 'rollback looked right', by: 'carol-subject' }, 2),
      step('notification.sent', 'job:digest', 30, { id: 'd1', kind: 'digest' }, 2),
    ],
  ]);
}

function anObservation(endpointId: string, overrides: Partial<ObservationRecord> = {}): ObservationRecord {
  const [host, port] = endpointId.split(':');
  return {
    tenantId: TENANT, endpointId, host, port: Number(port), servername: null, address: '192.0.2.10', sweepId: 's1', observedAt: at(1),
    outcome: 'ok', status: 'healthy', statusReason: null, renewAt: '2026-05-01T00:00:00.000Z', daysLeft: 80, findings: [], error: null, managedCertificateId: null,
    certificate: {
      fingerprintSha256: `fp-${host}`, subject: `CN=${host}`, commonName: host, dnsNames: [host], ipAddresses: [], issuer: 'CN=Test CA', serialNumber: '01',
      notBefore: '2026-02-01T00:00:00.000Z', notAfter: '2026-05-20T00:00:00.000Z', keyType: 'EC', keySize: 256, signatureAlgorithm: 'ecdsa-with-SHA256', selfSigned: false, chainLength: 2,
    },
    ...overrides,
  };
}

const expiring = (endpointId: string) => anObservation(endpointId, { status: 'expiring', statusReason: 'ExpiresWithinPolicy', daysLeft: 9, findings: [finding('chain-incomplete', 'warning', 'The server does not send its intermediate: add it to the chain.')] });
const unreachable = (endpointId: string) => anObservation(endpointId, { outcome: 'error', status: null, certificate: null, daysLeft: null, error: { code: 'ECONNREFUSED', message: 'connection refused by 192.0.2.10:443' } });

function demoObservations(): ObservationRecord[] {
  return [
    anObservation('www.contoso.test:443', { observedAt: at(0, 1), status: 'renewal-due', sweepId: 's0' }), // superseded below
    anObservation('www.contoso.test:443', { observedAt: at(40) }),
    expiring('api.contoso.test:443'),
    // Not near expiry, but serving a certificate for another name: not healthy either.
    anObservation('mail.contoso.test:443', { findings: [finding('hostname-mismatch', 'critical', 'The certificate does not cover mail.contoso.test: reissue it with that name.')] }),
    unreachable('old.contoso.test:443'),
  ];
}

/** The tenant's latest signed head naming `record` (its signature is not checked here). */
function aSignedHead(record: AuditRecord): SignedHead {
  return {
    index: 7, prev: 'ab'.repeat(32), tenantId: record.tenantId, seq: record.seq, hash: record.hash,
    signedAt: '2026-03-02T23:55:00.000Z', keyId: 'ed25519:1a3efd579309189a', algorithm: 'Ed25519', signature: Buffer.alloc(64, 3).toString('base64'),
  };
}

/** Deterministic v4 UUIDs. */
function counterUuid(): () => string {
  let n = 0;
  return () => `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`;
}

function anExport(overrides: Partial<AssessmentResultsInput> = {}) {
  const records = overrides.records ?? aDemoRun();
  const head = records[records.length - 1];
  return assessmentResults({
    tenantId: TENANT, tenantName: 'Contoso Ltd', records, observations: demoObservations(),
    chainHead: { seq: head?.seq ?? 0, hash: head?.hash ?? GENESIS_HASH },
    signedHead: head ? aSignedHead(head) : null,
    generatedAt: new Date('2026-03-03T00:00:00Z'), toolVersion: '0.1.0', mspName: 'Fabrikam MSP', uuid: counterUuid(),
    ...overrides,
  });
}

// Loose readers over the emitted JSON.
type Json = Record<string, any>;
const resultOf = (doc: Json): Json => doc['assessment-results'].results[0];
const propValues = (o: Json, name: string): string[] => (o.props ?? []).filter((p: Json) => p.name === name).map((p: Json) => p.value);
const countBy = (kinds: string[]) => kinds.reduce<Record<string, number>>((acc, k) => ({ ...acc, [k]: (acc[k] ?? 0) + 1 }), {});

// --- the validator itself ----------------------------------------------------------------------

describe('the OSCAL validator', () => {
  test("When given NIST's own IFA Assessment Results example, then it finds nothing wrong", () => {
    expect(oscalErrors(JSON.parse(fs.readFileSync(IFA_EXAMPLE_PATH, 'utf8')))).toEqual([]);
  });

  test.each([
    ['a UUID that is not v4 or v5', (ar: Json) => { ar.uuid = '00000000-0000-1000-8000-000000000001'; }, '/assessment-results/uuid'],
    ['a time without a time zone', (ar: Json) => { ar.metadata['last-modified'] = '2026-03-03T00:00:00'; }, '/assessment-results/metadata/last-modified'],
    ['a prop name that is not a token', (ar: Json) => { ar.metadata.props[0].name = 'tool version'; }, '/assessment-results/metadata/props/0/name'],
    ['a missing import-ap', (ar: Json) => { delete ar['import-ap']; }, "required property 'import-ap'"],
    ['an unknown member', (ar: Json) => { ar.results[0].verdict = 'fine'; }, 'additional properties'],
  ])('When the export has %s, then the validator names it', (_name, spoil, expected) => {
    const doc = anExport() as Json;
    spoil(doc['assessment-results']);
    expect(oscalErrors(doc).join('\n')).toContain(expected);
  });
});

// --- the export ----------------------------------------------------------------------------------

describe('the OSCAL Assessment Results export', () => {
  test('When a demo run is exported, then the document is valid OSCAL 1.2.1 and so is the assessment plan it imports', () => {
    const doc = anExport() as Json;
    expect(oscalErrors(doc)).toEqual([]);
    const ar = doc['assessment-results'];
    expect(ar.metadata['oscal-version']).toBe('1.2.1');
    const planRef = ar['import-ap'].href;
    const plan = ar['back-matter'].resources.find((r: Json) => `#${r.uuid}` === planRef);
    const embedded = JSON.parse(Buffer.from(plan.base64.value, 'base64').toString('utf8'));
    expect(oscalCompleteErrors(embedded)).toEqual([]);
    expect(embedded['assessment-plan']['reviewed-controls']).toEqual(resultOf(doc)['reviewed-controls']);
  });

  test('When a demo run is exported, then every automated action of the run is an assessment-log entry, kind for kind', () => {
    const records = aDemoRun();
    const entries: Json[] = resultOf(anExport({ records }) as Json)['assessment-log'].entries;
    const automated = records.filter((r) => r.actor.startsWith('stage:') || r.actor.startsWith('job:') || /^(rotation|certificate)\./.test(r.kind));
    const loggedAutomated = entries.filter((e) => propValues(e, 'actor-type')[0] === 'automated');

    expect(countBy(loggedAutomated.map((e) => e.title))).toEqual(countBy(automated.map((r) => r.kind)));
    expect(loggedAutomated.map((e) => Number(propValues(e, 'audit-seq')[0]))).toEqual(automated.map((r) => r.seq));
    // The human decisions are in the timeline too: nothing of the run is missing.
    expect(entries.map((e) => propValues(e, 'audit-record-hash')[0])).toEqual(records.map((r) => r.hash));
    expect(entries.every((e) => e.start && e['logged-by'].length === 1)).toBe(true);
    expect(countBy(automated.map((r) => r.kind))).toMatchObject({ 'rotation.committed': 2, 'certificate.restored': 2, 'rotation.failed': 2, 'sweep.ingested': 1, 'notification.sent': 2 });
  });

  test('When a human overrode a rotation, then an EXAMINE observation names the human (as a party) and the reason', () => {
    const ar = (anExport() as Json)['assessment-results'];
    const overrides = resultOf({ 'assessment-results': ar }).observations.filter((o: Json) => propValues(o, 'step')[0] === 'override');
    expect(overrides).toHaveLength(1);
    const [override] = overrides;
    expect(override.methods).toEqual(['EXAMINE']);
    expect(propValues(override, 'actor')).toEqual(['human:bob@msp.test']);
    expect(propValues(override, 'reason')[0]).toContain(OVERRIDE_REASON);
    const actor = override.origins[0].actors[0];
    expect(actor.type).toBe('party');
    expect(ar.metadata.parties.find((p: Json) => p.uuid === actor['actor-uuid'])).toMatchObject({ type: 'person', name: 'bob@msp.test' });
    const finding = resultOf({ 'assessment-results': ar }).findings.find((f: Json) => f['related-observations'].some((r: Json) => r['observation-uuid'] === override.uuid));
    expect(finding.title).toBe('Rotation s1:www of www was overridden by human:bob@msp.test and rolled back');
    expect(finding.target).toMatchObject({ 'target-id': 'cm-3_obj', status: { state: 'satisfied' } });
  });

  test('When a run has gate decisions, approvals and reviews, then each is an EXAMINE observation with its actor', () => {
    const observations: Json[] = resultOf(anExport() as Json).observations;
    const examined = observations.filter((o) => o.methods[0] === 'EXAMINE').map((o) => `${o.title.split(' ')[0]} ${propValues(o, 'actor')[0]}`);
    expect(examined).toEqual([
      'gate.decided stage:gate', 'gate.decided stage:gate', 'gate.decided stage:gate', 'approval.requested stage:gate',
      'approval.approved human:alice@msp.test', 'human.override human:bob@msp.test', 'human.reviewed human:carol@msp.test',
    ]);
  });

  test('When endpoints are observed, then each address has a TEST observation of its latest state, and unhealthy endpoints a not-satisfied finding', () => {
    const result = resultOf(anExport() as Json);
    const tested: Json[] = result.observations.filter((o: Json) => o.methods[0] === 'TEST' && propValues(o, 'endpoint').length);
    expect(tested.map((o) => [propValues(o, 'endpoint')[0], propValues(o, 'status')[0]])).toEqual([
      ['api.contoso.test:443', 'expiring'], ['mail.contoso.test:443', 'healthy'], ['old.contoso.test:443', 'unreachable (ECONNREFUSED)'], ['www.contoso.test:443', 'healthy'],
    ]);
    const endpointFindings = result.findings.filter((f: Json) => f.target['target-id'] === 'sc-17_obj');
    expect(endpointFindings.map((f: Json) => [f.title, f.target.status.state])).toEqual([
      ['api.contoso.test:443 is not healthy: expiring', 'not-satisfied'],
      ['mail.contoso.test:443 is not healthy: hostname-mismatch', 'not-satisfied'],
      ['old.contoso.test:443 is not healthy: unreachable (ECONNREFUSED)', 'not-satisfied'],
    ]);
    const api = tested.find((o) => propValues(o, 'endpoint')[0] === 'api.contoso.test:443')!;
    expect(endpointFindings[0]['related-observations']).toEqual([{ 'observation-uuid': api.uuid }]);
    expect(propValues(api, 'finding')).toEqual(['chain-incomplete']);
  });

  test.each([
    { name: 'rolled back and the old certificate is served again', state: 'satisfied', outcome: { restoredVerified: true }, extraKinds: [] },
    { name: 'rolled back but the old certificate was not seen again', state: 'not-satisfied', outcome: { restoredVerified: false }, extraKinds: [] },
    { name: 'rolled back but a restore failed', state: 'not-satisfied', outcome: { restoredVerified: true }, extraKinds: ['certificate.restore-failed'] },
  ])('When a rotation was $name, then its cm-3 finding is $state and links the gate decision', ({ outcome, extraKinds, state }) => {
    const records = aChain([
      gateDecided('api', 0, 'L1', 'proceed'),
      ...rotation('api', 1, ['rotation.planned', 'certificate.deployed', 'rotation.rolling-back', ...extraKinds, 'rotation.failed'], { 'rotation.failed': { rolledBack: true, reason: 'not served', ...outcome } }),
    ]);
    const doc = anExport({ records, observations: [] }) as Json;
    expect(oscalErrors(doc)).toEqual([]);
    const result = resultOf(doc);
    const [rotationFinding] = result.findings;
    expect(rotationFinding.target).toMatchObject({ 'target-id': 'cm-3_obj', status: { state } });
    const linked = rotationFinding['related-observations'].map((r: Json) => result.observations.find((o: Json) => o.uuid === r['observation-uuid']));
    expect(linked.map((o: Json) => o.title.split(' ')[0])).toEqual(['Rotation', 'gate.decided']);
  });

  test('When exported, then the chain head (seq, hash) is a back-matter resource', () => {
    const records = aDemoRun();
    const head = records[records.length - 1];
    const resources: Json[] = (anExport({ records }) as Json)['assessment-results']['back-matter'].resources;
    const chain = resources.find((r) => propValues(r, 'chain-head-hash').length)!;
    expect(propValues(chain, 'chain-head-hash')).toEqual([head.hash]);
    expect(propValues(chain, 'chain-head-seq')).toEqual([String(head.seq)]);
    expect(chain.rlinks[0].hashes).toEqual([{ algorithm: 'HMAC-SHA256', value: head.hash }]);
  });

  test('When exported, then the signed head from the head log is a resource: its entry, predecessor, key and signature, and the head itself as JSON a witness can keep', () => {
    const records = aDemoRun();
    const signed = aSignedHead(records[records.length - 1]);
    const doc = anExport({ records, signedHead: signed }) as Json;
    expect(oscalErrors(doc)).toEqual([]);
    const resource = (doc['assessment-results']['back-matter'].resources as Json[]).find((r) => propValues(r, 'signed-head-signature').length)!;

    expect(resource.title).toBe(`Signed audit head of tenant ${TENANT}: record ${signed.seq}, head log entry 7`);
    expect(propValues(resource, 'signed-head-index')).toEqual(['7']);
    expect(propValues(resource, 'signed-head-prev')).toEqual([signed.prev]);
    expect(propValues(resource, 'signed-head-key-id')).toEqual([signed.keyId]);
    expect(propValues(resource, 'signed-head-algorithm')).toEqual(['Ed25519']);
    expect(propValues(resource, 'signed-head-signature')).toEqual([signed.signature]);
    expect(Buffer.from(resource.base64.value, 'base64').toString('utf8')).toBe(headLine(signed));
  });

  test('When no head was signed yet, then the document has no signed-head resource and is still valid', () => {
    const doc = anExport({ signedHead: null }) as Json;
    expect(oscalErrors(doc)).toEqual([]);
    expect((doc['assessment-results']['back-matter'].resources as Json[]).some((r) => propValues(r, 'signed-head-signature').length)).toBe(false);
  });

  test('When a period is given, then only its records and observations are in the document, and the result spans exactly the period', () => {
    const records = aDemoRun();
    const from = at(10);
    const to = at(30);
    const doc = anExport({ records, from, to }) as Json;
    expect(oscalErrors(doc)).toEqual([]);
    const result = resultOf(doc);
    expect([result.start, result.end]).toEqual([from, to]);
    const seqs = result['assessment-log'].entries.map((e: Json) => Number(propValues(e, 'audit-seq')[0]));
    expect(seqs).toEqual(records.filter((r) => r.at >= from && r.at < to).map((r) => r.seq));
    expect(seqs.length).toBeGreaterThan(0);
    // Observed at minute 1 and 40: outside the period.
    expect(result.observations.filter((o: Json) => propValues(o, 'endpoint').length)).toEqual([]);
  });

  test('When the period holds nothing, then the document is still valid: a result without log, observations or findings', () => {
    const doc = anExport({ from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00+01:00' }) as Json;
    expect(oscalErrors(doc)).toEqual([]);
    const result = resultOf(doc);
    expect([result.start, result.end]).toEqual(['2025-01-01T00:00:00.000Z', '2025-01-31T23:00:00.000Z']);
    expect(result).not.toHaveProperty('assessment-log');
    expect(result).not.toHaveProperty('observations');
    expect(result).not.toHaveProperty('findings');
  });

  test('When a tenant has no records at all, then the document is valid and spans the export time', () => {
    const doc = anExport({ records: [], observations: [] }) as Json;
    expect(oscalErrors(doc)).toEqual([]);
    expect(resultOf(doc).start).toBe('2026-03-03T00:00:00.000Z');
  });

  test('When the same input is exported twice with the same UUID source, then the documents are equal, and every UUID is a distinct v4 UUID', () => {
    const records = aDemoRun();
    const first = anExport({ records });
    expect(anExport({ records })).toEqual(first);
    const uuids = [...JSON.stringify(first).matchAll(/"(?:uuid)":"([^"]+)"/g)].map((m) => m[1]);
    expect(uuids.length).toBeGreaterThan(40);
    expect(new Set(uuids).size).toBe(uuids.length);
    const defaultUuids = JSON.stringify(assessmentResults({ tenantId: TENANT, records, observations: [], chainHead: { seq: 1, hash: records[0].hash }, generatedAt: new Date(), toolVersion: '0.1.0' }));
    expect([...defaultUuids.matchAll(/"uuid":"([^"]+)"/g)].every((m) => V4.test(m[1]))).toBe(true);
  });

  test("When the input holds another tenant's record, then the export refuses", () => {
    const records = [...aDemoRun(), ...aChain([step('sweep.ingested', stage('ingest'), 0, { sweepId: 'x' })], 'fabrikam')];
    expect(() => anExport({ records })).toThrow(/tenant fabrikam/);
  });
});

describe('filterPeriod', () => {
  const records = [0, 10, 20, 30].map((m) => ({ at: at(m), m }));
  test.each([
    ['no bounds', undefined, undefined, [0, 10, 20, 30]],
    ['a start only (inclusive)', at(10), undefined, [10, 20, 30]],
    ['an end only (exclusive)', undefined, at(20), [0, 10]],
    ['both', at(10), at(30), [10, 20]],
    ['bounds with another offset', '2026-03-01T03:10:00+01:00', '2026-03-01T03:30:00+01:00', [10, 20]],
  ])('When given %s, then it keeps the records in the half-open period', (_name, from, to, expected) => {
    expect(filterPeriod(records, from, to).map((r) => r.m)).toEqual(expected);
  });

  test('When a bound is not a time, then it throws naming it', () => {
    expect(() => filterPeriod(records, 'yesterday')).toThrow(/from "yesterday"/);
  });
});

test('isAutomatedAction: stages, jobs and every rotation or certificate step, whoever triggered it', () => {
  const [record] = aChain([step('human.reviewed', 'human:carol@msp.test', 0, {})]);
  expect([
    isAutomatedAction({ ...record, actor: 'stage:gate', kind: 'gate.decided' }),
    isAutomatedAction({ ...record, actor: 'job:digest', kind: 'notification.sent' }),
    isAutomatedAction({ ...record, kind: 'certificate.restored' }),
    isAutomatedAction(record),
  ]).toEqual([true, true, true, false]);
});
