/**
 * The audit trail of one tenant as an OSCAL 1.2.1 Assessment Results document (NIST's JSON model,
 * validated against oscal_assessment-results_schema.v1.2.1.json in tests/unit/oscal.test.ts).
 *
 * What goes where, and why:
 * - assessment-log: one entry per audit record of the period, in seq order. Every automated action
 *   (actor `stage:…` / `job:…`, and every rotation.* / certificate.* record, whoever triggered it)
 *   is there; the human decisions are there too, so the log is the whole timeline. Each entry
 *   carries the record's seq and hash, so it can be matched against the hash chain.
 * - observations: evidence. One per certificate state seen (method TEST: certops probed the
 *   endpoint), one per decision (method EXAMINE: a gate decision, an approval request or answer, a
 *   review, a snooze, a gate raised or relaxed, an override), with the actor as its origin, and one
 *   per rotation that was rolled back or failed (TEST: certops checked what is served afterwards).
 * - findings: one per endpoint not in a healthy state (objective sc-17_obj not satisfied), one per
 *   rolled-back or failed rotation (cm-3_obj: satisfied when the previous certificate was verified
 *   to be served again, not satisfied otherwise).
 * - back-matter: the minimal assessment plan that `import-ap` points at (embedded, base64), the
 *   audit chain's head at export time (seq, hash) so that a reader can match the export with the
 *   tenant's chain, and the tenant's latest SIGNED head from the head log (domain/signed-head.ts:
 *   its entry, predecessor, key, algorithm and signature as props, and the head itself embedded as
 *   JSON): the export carries it out of the machine, so a copy kept by its reader is a witness for
 *   `certops audit verify --head FILE`.
 *
 * Pure: the time comes from the input, UUIDs from the injectable `uuid` (v4 by default).
 */
import { randomUUID } from 'node:crypto';
import type { AuditRecord } from '../ports/audit-log';
import { headLine, type SignedHead } from './signed-head';
import type { ObservationRecord } from '../ports/certificate-store';

export const OSCAL_VERSION = '1.2.1';
/** Namespace of certops' own property names (OSCAL: a prop without `ns` is in NIST's namespace). */
export const CERTOPS_NS = 'https://certops.local/ns/oscal';
/** NIST SP 800-53 Rev. 5 controls the evidence speaks to: PKI certificates, change control, audit protection. */
export const REVIEWED_CONTROLS = ['sc-17', 'cm-3', 'au-9'] as const;

export interface ChainHead {
  seq: number;
  hash: string;
  /** How the chain's hashes are made (domain/audit-chain.ts): keyed (the default) or plain. */
  algorithm?: 'HMAC-SHA256' | 'SHA-256';
}

export interface AssessmentResultsInput {
  tenantId: string;
  tenantName?: string;
  /** The tenant's audit records (any span: they are cut to the period here), in seq order. */
  records: AuditRecord[];
  /** The tenant's stored observations (cut to the period by observedAt; the latest per endpoint kept). */
  observations: ObservationRecord[];
  /** The tenant's chain head at export time (not the period's last record). */
  chainHead: ChainHead;
  /** The tenant's latest signed head in the head log at export time; null before the first signing. */
  signedHead?: SignedHead | null;
  /** Period start, inclusive (RFC 3339). */
  from?: string;
  /** Period end, exclusive (RFC 3339). */
  to?: string;
  generatedAt: Date;
  toolVersion: string;
  /** Name of the MSP operating certops (a party of the document); a generic name otherwise. */
  mspName?: string;
  uuid?: () => string;
}

export interface OscalProp { name: string; ns?: string; value: string; class?: string }
export type OscalObject = Record<string, unknown>;
export interface OscalAssessmentResults { 'assessment-results': OscalObject }

const AUTOMATED_ACTOR = /^(stage|job):/;
const ACTION_KIND = /^(rotation|certificate)\./;
const DECISION_KINDS = new Set(['gate.decided', 'gate.raised', 'gate.relaxed', 'approval.requested', 'approval.approved', 'approval.denied']);
const ROTATION_TROUBLE = new Set(['rotation.rolling-back', 'certificate.restored', 'certificate.restore-failed', 'rotation.failed']);

/** An action certops performed (its actor is a stage or job, or it is a rotation or certificate step). */
export function isAutomatedAction(record: AuditRecord): boolean {
  return AUTOMATED_ACTOR.test(record.actor) || ACTION_KIND.test(record.kind);
}

/** A decision, by certops' gate or by a human: evidence for the observations. */
export function isDecision(record: AuditRecord): boolean {
  return DECISION_KINDS.has(record.kind) || record.kind.startsWith('human.') || isOverride(record);
}

function isOverride(record: AuditRecord): boolean {
  return record.kind === 'rotation.rolling-back' && record.data.step === 'override';
}

/**
 * The records at or after `from` and before `to` (a half-open period, so that consecutive exports
 * never share a record), compared as instants. Throws RangeError on a time that does not parse.
 */
export function filterPeriod<T extends { at: string }>(records: T[], from?: string, to?: string): T[] {
  const start = from === undefined ? -Infinity : instant(from, 'from');
  const end = to === undefined ? Infinity : instant(to, 'to');
  return records.filter((r) => {
    const at = instant(r.at, 'a record time');
    return at >= start && at < end;
  });
}

/** Builds the Assessment Results document; throws when a record or observation is another tenant's. */
export function assessmentResults(input: AssessmentResultsInput): OscalAssessmentResults {
  const uuid = input.uuid ?? randomUUID;
  const { tenantId } = input;
  const foreign = [...input.records, ...input.observations].find((r) => r.tenantId !== tenantId);
  if (foreign) throw new Error(`refusing to export tenant ${tenantId}: the input holds a record of tenant ${foreign.tenantId}`);

  const records = filterPeriod(input.records, input.from, input.to).sort((a, b) => a.seq - b.seq);
  const states = latestPerAddress(filterPeriod(input.observations.map((o) => ({ ...o, at: o.observedAt })), input.from, input.to));
  const generatedAt = input.generatedAt.toISOString();
  const start = rfc3339(input.from ?? records[0]?.at ?? generatedAt);
  const end = rfc3339(input.to ?? records[records.length - 1]?.at ?? generatedAt);
  const tenantLabel = input.tenantName ?? tenantId;

  const ids = { document: uuid(), plan: uuid(), chain: uuid(), signedHead: uuid(), msp: uuid(), certops: uuid(), tenant: uuid(), tool: uuid(), platform: uuid(), result: uuid() };
  const humans = new Map<string, string>();
  for (const r of records) if (!AUTOMATED_ACTOR.test(r.actor) && !humans.has(r.actor)) humans.set(r.actor, uuid());
  const tool = [{ actors: [{ type: 'tool', 'actor-uuid': ids.tool }] }];
  const originOf = (r: AuditRecord) => (humans.has(r.actor) ? [{ actors: [{ type: 'party', 'actor-uuid': humans.get(r.actor), 'role-id': 'reviewer' }] }] : tool);

  // Inventory: one item per endpoint, each address's certificate state one observation.
  const endpoints = [...new Set(states.map((s) => s.endpointId))].sort();
  const items = new Map(endpoints.map((e) => [e, uuid()]));
  const stateObservations = states.map((s) => ({ state: s, uuid: uuid() }));
  const observations: OscalObject[] = stateObservations.map(({ state: s, uuid: id }) => ({
    uuid: id,
    title: line(`Certificate served by ${s.endpointId}${s.address ? ` at ${s.address}` : ''}: ${stateOf(s)}`),
    description: stateDescription(s),
    props: props([
      ['endpoint', s.endpointId],
      ['address', s.address],
      ['status', stateOf(s)],
      ['not-after', s.certificate?.notAfter],
      ['days-left', s.daysLeft],
      ['fingerprint-sha256', s.certificate?.fingerprintSha256],
      ['issuer', s.certificate?.issuer],
      ['managed-certificate-id', s.managedCertificateId],
      ['sweep-id', s.sweepId],
      ...s.findings.map((f): [string, string] => ['finding', f.code]),
    ]),
    methods: ['TEST'],
    types: healthy(s) ? ['discovery'] : ['discovery', 'finding'],
    origins: tool,
    subjects: [{ 'subject-uuid': items.get(s.endpointId), type: 'inventory-item', title: line(s.endpointId) }],
    collected: rfc3339(s.observedAt),
  }));

  const decisionObservations = new Map<AuditRecord, string>();
  for (const r of records.filter(isDecision)) {
    const id = uuid();
    decisionObservations.set(r, id);
    observations.push({
      uuid: id,
      title: line(`${isOverride(r) ? 'human.override' : r.kind} by ${r.actor}${subjectOf(r) ? ` for ${subjectOf(r)}` : ''}`),
      description: summary(r),
      props: props([['actor', r.actor], ['audit-seq', r.seq], ['audit-record-hash', r.hash], ['correlation-id', r.correlationId], ...dataProps(r)]),
      methods: ['EXAMINE'],
      types: ['control-objective'],
      origins: originOf(r),
      collected: rfc3339(r.at),
      remarks: JSON.stringify(r.data),
    });
  }

  // Rotations that were rolled back or failed: what was served afterwards, and the finding on it.
  const findings: OscalObject[] = [];
  for (const [rotationId, steps] of troubledRotations(records)) {
    const last = steps[steps.length - 1];
    const verified = steps.map((s) => s.data.restoredVerified).filter((v): v is boolean => typeof v === 'boolean').pop();
    const safe = verified === true && !steps.some((s) => s.kind === 'certificate.restore-failed');
    const outcome = uuid();
    const certificate = String(last.data.certificateId ?? 'unknown');
    observations.push({
      uuid: outcome,
      title: line(`Rotation ${rotationId} of ${certificate}: ${steps.map((s) => s.kind).join(', ')}`),
      description: `${summary(last)} The previous certificate was ${safe ? 'verified to be served again' : 'not verified to be served again'}.`,
      props: props([['rotation-id', rotationId], ['certificate-id', certificate], ['restored-verified', verified ?? 'unknown'], ...steps.map((s): [string, number] => ['audit-seq', s.seq])]),
      methods: ['TEST'],
      types: ['finding'],
      origins: tool,
      collected: rfc3339(last.at),
    });
    const related = [outcome, ...[...decisionObservations].filter(([r]) => rotationOf(r) === rotationId).map(([, id]) => id)];
    const override = steps.find(isOverride);
    const what = override ? `was overridden by ${override.actor} and rolled back` : 'did not complete';
    findings.push({
      uuid: uuid(),
      title: line(`Rotation ${rotationId} of ${certificate} ${what}`),
      description: safe
        ? `The rotation ${what} (${reasonOf(steps)}); the previous certificate was verified to be served, so service is intact, but the certificate was not renewed.`
        : `The rotation ${what} (${reasonOf(steps)}) and the previous certificate was not verified to be served again: a human must act.`,
      origins: tool,
      target: objective('cm-3_obj', safe ? 'satisfied' : 'not-satisfied'),
      'related-observations': related.map((id) => ({ 'observation-uuid': id })),
    });
  }

  for (const endpoint of endpoints) {
    const bad = stateObservations.filter(({ state }) => state.endpointId === endpoint && !healthy(state));
    if (!bad.length) continue;
    findings.push({
      uuid: uuid(),
      title: line(`${endpoint} is not healthy: ${[...new Set(bad.flatMap(({ state }) => troubles(state)))].join(', ')}`),
      description: bad.map(({ state }) => stateDescription(state)).join('\n\n'),
      origins: tool,
      target: objective('sc-17_obj', 'not-satisfied'),
      'related-observations': bad.map(({ uuid: id }) => ({ 'observation-uuid': id })),
    });
  }

  const entries = records.map((r) => ({
    uuid: uuid(),
    title: line(r.kind),
    description: summary(r),
    start: rfc3339(r.at),
    props: props([['actor', r.actor], ['actor-type', isAutomatedAction(r) ? 'automated' : 'human'], ['audit-seq', r.seq], ['audit-record-hash', r.hash], ['correlation-id', r.correlationId], ...dataProps(r)]),
    'logged-by': [{ 'party-uuid': ids.certops, 'role-id': 'assessor' }],
    remarks: JSON.stringify(r.data),
  }));

  const reviewedControls = {
    'control-selections': [{ 'include-controls': REVIEWED_CONTROLS.map((id) => ({ 'control-id': id })) }],
    remarks: 'NIST SP 800-53 Rev. 5: SC-17 (public key infrastructure certificates), CM-3 (configuration change control: gated, verified and reversible rotations), AU-9 (protection of audit information: the hash-chained audit log).',
  };
  const plan = {
    'assessment-plan': {
      uuid: ids.plan,
      metadata: { title: line(`certops automated assessment plan: ${tenantLabel}`), 'last-modified': generatedAt, version: input.toolVersion, 'oscal-version': OSCAL_VERSION },
      'import-ssp': { href: `urn:certops:tenant:${encodeURIComponent(tenantId)}`, remarks: "certops keeps no system security plan: the assessed system is the tenant's TLS endpoints, listed as inventory items in the results." },
      'reviewed-controls': reviewedControls,
    },
  };
  const algorithm = input.chainHead.algorithm ?? 'HMAC-SHA256';

  const ar: OscalObject = {
    uuid: ids.document,
    metadata: {
      title: line(`certops assessment results: ${tenantLabel}, ${start} to ${end}`),
      'last-modified': generatedAt,
      version: `audit-seq-${input.chainHead.seq}`,
      'oscal-version': OSCAL_VERSION,
      props: props([['tool-version', input.toolVersion], ['tenant-id', tenantId]]),
      roles: [
        { id: 'assessor', title: 'Automated assessor: certops acting for the MSP' },
        { id: 'reviewer', title: 'Human reviewer: approves, denies, reviews, overrides or escalates' },
        { id: 'msp', title: 'Managed service provider operating certops' },
        { id: 'system-owner', title: 'Client whose endpoints are assessed' },
      ],
      parties: [
        { uuid: ids.msp, type: 'organization', name: line(input.mspName ?? 'Managed service provider operating certops') },
        { uuid: ids.certops, type: 'organization', name: 'certops', 'short-name': 'certops', 'member-of-organizations': [ids.msp], remarks: 'The certops automation: it performed and logged the automated actions (also the tool component of the assessment assets).' },
        { uuid: ids.tenant, type: 'organization', name: line(tenantLabel), props: props([['tenant-id', tenantId]]) },
        ...[...humans].map(([actor, id]) => ({ uuid: id, type: 'person', name: line(actor.replace(/^(human|cli):/, '') || actor), props: props([['actor', actor]]) })),
      ],
      'responsible-parties': [
        { 'role-id': 'assessor', 'party-uuids': [ids.certops] },
        { 'role-id': 'msp', 'party-uuids': [ids.msp] },
        { 'role-id': 'system-owner', 'party-uuids': [ids.tenant] },
        ...(humans.size ? [{ 'role-id': 'reviewer', 'party-uuids': [...humans.values()] }] : []),
      ],
    },
    'import-ap': { href: `#${ids.plan}` },
    results: [
      {
        uuid: ids.result,
        title: line(`Certificate lifecycle of ${tenantLabel}`),
        description: `What certops observed, decided and did for ${tenantLabel} from ${start} to ${end}: ${records.length} audit records, ${states.length} certificate observations.`,
        start,
        end,
        props: props([['tenant-id', tenantId], ['audit-record-count', records.length], ['first-seq', records[0]?.seq], ['last-seq', records[records.length - 1]?.seq]]),
        'local-definitions': {
          'inventory-items': nonEmpty(endpoints.map((e) => ({ uuid: items.get(e), description: `TLS endpoint ${e}`, props: props([['endpoint', e]]) }))),
          'assessment-assets': {
            components: [{ uuid: ids.tool, type: 'software', title: line(`certops ${input.toolVersion}`), description: 'certops: discovers, assesses and rotates the TLS certificates of MSP clients.', props: props([['tool-version', input.toolVersion]]), status: { state: 'operational' } }],
            'assessment-platforms': [{ uuid: ids.platform, title: 'certops', 'uses-components': [{ 'component-uuid': ids.tool }] }],
          },
        },
        'reviewed-controls': reviewedControls,
        'assessment-log': entries.length ? { entries } : undefined,
        observations: nonEmpty(observations),
        findings: nonEmpty(findings),
      },
    ],
    'back-matter': {
      resources: [
        {
          uuid: ids.plan,
          title: 'certops automated assessment plan (minimal)',
          description: 'The assessment plan this document imports: the controls reviewed, embedded as an OSCAL JSON document.',
          base64: { filename: 'assessment-plan.json', 'media-type': 'application/oscal+json', value: Buffer.from(JSON.stringify(plan), 'utf8').toString('base64') },
        },
        {
          uuid: ids.chain,
          title: line(`Audit chain head of tenant ${tenantId}: record ${input.chainHead.seq}`),
          description: `The last record of the tenant's hash-chained audit log when this document was made. Each record's hash is ${algorithm} over the RFC 8785 canonical JSON of its content and the previous record's hash; \`certops audit verify --tenant ${tenantId}\` recomputes the chain up to this head.`,
          props: props([['chain-head-seq', input.chainHead.seq], ['chain-head-hash', input.chainHead.hash, algorithm]]),
          rlinks: [{ href: `urn:certops:audit:${encodeURIComponent(tenantId)}:${input.chainHead.seq}`, 'media-type': 'application/json', hashes: [{ algorithm, value: input.chainHead.hash }] }],
        },
        ...(input.signedHead ? [signedHeadResource(ids.signedHead, input.signedHead)] : []),
      ],
    },
  };
  return { 'assessment-results': pruned(ar) as OscalObject };
}

/**
 * The latest signed head as a resource: its fields as props (what a human reads) and the head
 * itself as embedded JSON (what `certops audit verify --head FILE` reads, byte for byte as stored
 * in the head log).
 */
function signedHeadResource(id: string, head: SignedHead): OscalObject {
  return {
    uuid: id,
    title: line(`Signed audit head of tenant ${head.tenantId}: record ${head.seq}, head log entry ${head.index}`),
    description: `The latest signed head of the tenant's audit chain: entry ${head.index} of the installation's head log, which is kept apart from the records and links each entry to the one before it (\`prev\`, the SHA-256 of that entry's line). It says the chain reached record ${head.seq} with hash ${head.hash}, signed ${head.signedAt} with ${head.algorithm} key ${head.keyId} over the RFC 8785 canonical JSON of every field but the signature. Keep the embedded JSON: \`certops audit verify --head FILE\` checks that the records and the head log still hold it.`,
    props: props([
      ['signed-head-index', head.index],
      ['signed-head-prev', head.prev, 'SHA-256'],
      ['signed-head-seq', head.seq],
      ['signed-head-hash', head.hash],
      ['signed-head-signed-at', head.signedAt],
      ['signed-head-key-id', head.keyId],
      ['signed-head-algorithm', head.algorithm],
      ['signed-head-signature', head.signature, head.algorithm],
    ]),
    base64: { filename: 'audit-head.json', 'media-type': 'application/json', value: Buffer.from(headLine(head), 'utf8').toString('base64') },
  };
}

// --- certificate state -----------------------------------------------------------------------

type Observed = ObservationRecord & { at: string };

function latestPerAddress(records: Observed[]): ObservationRecord[] {
  const latest = new Map<string, Observed>();
  for (const r of records) {
    const key = `${r.endpointId}\u0000${r.address}`;
    const seen = latest.get(key);
    if (!seen || instant(r.observedAt, 'observedAt') > instant(seen.observedAt, 'observedAt')) latest.set(key, r);
  }
  return [...latest.values()]
    .map(({ at: _at, ...r }) => r)
    .sort((a, b) => a.endpointId.localeCompare(b.endpointId) || a.address.localeCompare(b.address));
}

function stateOf(s: ObservationRecord): string {
  return s.outcome === 'error' ? `unreachable (${s.error?.code ?? 'error'})` : (s.status ?? 'unknown');
}

/** What keeps an unhealthy state from being healthy: its status, and its critical findings. */
function troubles(s: ObservationRecord): string[] {
  return [...(s.outcome === 'ok' && s.status === 'healthy' ? [] : [stateOf(s)]), ...s.findings.filter((f) => f.severity === 'critical').map((f) => f.code)];
}

/** Healthy: reached, not near expiry, and no critical finding about what it serves. */
function healthy(s: ObservationRecord): boolean {
  return s.outcome === 'ok' && s.status === 'healthy' && !s.findings.some((f) => f.severity === 'critical');
}

function stateDescription(s: ObservationRecord): string {
  const head = s.outcome === 'error'
    ? `${s.endpointId} could not be assessed: ${s.error?.message ?? 'no detail'}.`
    : `${s.endpointId} serves ${s.certificate?.subject ?? 'a certificate'} (notAfter ${s.certificate?.notAfter ?? 'unknown'}, ${s.daysLeft ?? '?'} days left): ${s.status ?? 'unknown'}${s.statusReason ? ` (${s.statusReason})` : ''}.`;
  return [head, ...s.findings.map((f) => `${f.severity} ${f.code}: ${f.message}`)].join('\n');
}

// --- audit records ---------------------------------------------------------------------------

/** Record data worth a property: scalar values under names a reader knows. */
const DATA_PROPS: Array<[key: string, prop: string]> = [
  ['certificateId', 'certificate-id'], ['rotationId', 'rotation-id'], ['sweepId', 'sweep-id'], ['approvalId', 'approval-id'],
  ['endpointId', 'endpoint'], ['action', 'action'], ['level', 'gate-level'], ['outcome', 'gate-outcome'], ['reason', 'reason'],
  ['state', 'rotation-state'], ['step', 'step'], ['note', 'note'], ['subjectKey', 'subject-key'], ['until', 'until'],
  ['fingerprint', 'fingerprint-sha256'], ['restoredVerified', 'restored-verified'], ['by', 'by'],
];

function dataProps(r: AuditRecord): Array<[string, unknown]> {
  return DATA_PROPS.filter(([key]) => ['string', 'number', 'boolean'].includes(typeof r.data[key])).map(([key, name]) => [name, r.data[key]]);
}

function subjectOf(r: AuditRecord): string | null {
  const d = r.data;
  return typeof d.certificateId === 'string' ? d.certificateId : typeof d.subjectKey === 'string' ? d.subjectKey : typeof d.action === 'string' ? d.action : null;
}

/** A rotation's id, also for a gate decision (its rotation is `<sweepId>:<certificateId>`). */
function rotationOf(r: AuditRecord): string | null {
  if (typeof r.data.rotationId === 'string') return r.data.rotationId;
  if (r.kind === 'gate.decided' && typeof r.data.sweepId === 'string' && typeof r.data.certificateId === 'string') return `${r.data.sweepId}:${r.data.certificateId}`;
  return null;
}

function summary(r: AuditRecord): string {
  const d = r.data;
  const about = subjectOf(r);
  const why = [d.rationale, d.reason, d.note, d.error].find((v) => typeof v === 'string' && v.trim() !== '');
  return `${r.actor} recorded ${r.kind}${about ? ` for ${about}` : ''}${typeof d.rotationId === 'string' ? ` (rotation ${d.rotationId})` : ''}${why ? `: ${String(why)}` : ''}.`;
}

function troubledRotations(records: AuditRecord[]): Map<string, AuditRecord[]> {
  const byRotation = new Map<string, AuditRecord[]>();
  for (const r of records) {
    const id = typeof r.data.rotationId === 'string' ? r.data.rotationId : null;
    if (id && ROTATION_TROUBLE.has(r.kind)) byRotation.set(id, [...(byRotation.get(id) ?? []), r]);
  }
  return byRotation;
}

function reasonOf(steps: AuditRecord[]): string {
  const reason = [...steps].reverse().map((s) => s.data.reason ?? s.data.error).find((v) => typeof v === 'string' && v.trim() !== '');
  return reason ? String(reason) : 'no reason recorded';
}

// --- OSCAL value shapes ----------------------------------------------------------------------

function objective(targetId: string, state: 'satisfied' | 'not-satisfied'): OscalObject {
  return { type: 'objective-id', 'target-id': targetId, status: { state, reason: state === 'satisfied' ? 'pass' : 'fail' } };
}

/** certops properties; absent and blank values dropped, the rest made single-line (StringDatatype). */
function props(pairs: Array<[string, unknown, string?]>): OscalProp[] | undefined {
  const out: OscalProp[] = [];
  for (const [name, value, cls] of pairs) {
    if (value === undefined || value === null) continue;
    const text = String(value).replace(/\s+/g, ' ').trim();
    if (text) out.push(cls ? { name, ns: CERTOPS_NS, value: text, class: cls } : { name, ns: CERTOPS_NS, value: text });
  }
  return out.length ? out : undefined;
}

/** MarkupLine: one non-empty line. */
function line(text: string): string {
  return text.replace(/\s+/g, ' ').trim() || '-';
}

/** RFC 3339 in UTC with milliseconds (the schema's DateTimeWithTimezone). */
function rfc3339(at: string): string {
  return new Date(instant(at, 'a time')).toISOString();
}

function instant(at: string, what: string): number {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) throw new RangeError(`${what} "${at}" is not an RFC 3339 time`);
  return ms;
}

/** OSCAL arrays have minItems 1: an empty one is left out. */
function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length ? items : undefined;
}

/** The document as JSON will carry it: no `undefined` members (optional OSCAL fields left out). */
function pruned(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pruned);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, pruned(v)]));
}
