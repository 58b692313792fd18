/**
 * The human side of the gate, persisted per tenant and action type (GovernanceStore):
 * - the level raised above the tenant's policy, by the override rate (domain/override-learning.ts)
 *   or by a human's escalation, which the gate stage applies to every later action of that pair;
 * - the outcome of each action (accepted when it commits, overridden when a human undoes it),
 *   from which the override rate is learned;
 * - L2 approvals: one per certificate, action and certificate being replaced, holding the request
 *   that goes to the rotate stage once a human approves; later sweeps refer to it instead of
 *   asking again, and the rotate stage re-reads it before acting (holdForApproval, approvalGranted).
 * Every change is audited with who and why, and told to the humans concerned.
 */
import type { ManagedCertificateConfig, TenantConfig } from '../config/model';
import type { CloudEvent } from '../domain/events';
import { levelRank, type ActionType, type GateLevel, type RaisedGate } from '../domain/gate-policy';
import { isTerminal } from '../domain/rotation';
import type { RiskFacts } from '../domain/gate-risks';
import { learnFrom, type LearningChange } from '../domain/override-learning';
import { ConcurrencyError, type ManagedCertificateState } from '../ports/certificate-store';
import type { GateState, PendingApproval } from '../ports/governance-store';
import { contact, deliver, type DeliveryContext } from './delivery';
import { endpointRef } from './endpoints';
import type { GatedRenewal } from './event-data';
import type { PipelineDeps } from './stage';

/** The actions a renewal passes the gate for (the stricter decides); outcomes count for both. */
export const RENEWAL_ACTIONS: readonly ActionType[] = ['renew', 'rotate'];
const DEFAULT_APPROVAL_TTL_HOURS = 72;
const WRITE_ATTEMPTS = 5;

/**
 * One approval per certificate, action and certificate being replaced: every sweep that finds the
 * same certificate due under an L2 gate arrives at the same approval, however many sweeps run
 * (or overlap) before a human answers.
 */
export function approvalIdOf(request: Pick<GatedRenewal, 'certificateId' | 'currentFingerprint' | 'decision'>): string {
  return `${request.certificateId}:${request.decision.action}:${(request.currentFingerprint ?? 'unserved').slice(0, 16)}`;
}

/** The rotation an approval's held request starts (rotate's idempotency key). */
export function approvedRotationId(approval: Pick<PendingApproval, 'request' | 'certificateId'>): string {
  return `${((approval.request as CloudEvent<GatedRenewal>).data).sweepId}:${approval.certificateId}`;
}

/**
 * Where a gated renewal stands with its approval:
 * - asked: a new approval was stored (pending): tell the human;
 * - waiting: it is pending already: refer to it, tell nobody again;
 * - approved: a human approved it and its rotation has not run: publish its request (again: the
 *   approval is recorded before its request is published, so a crash in between is mended here);
 * - denied: a human said no, and the denial stands until the approval's window ends.
 * An approval that expired, was denied longer ago than its window, or whose approved rotation ran
 * is replaced by a new pending one (same id, next version): the certificate is due again.
 */
export type ApprovalStanding = { kind: 'asked' | 'waiting' | 'approved' | 'denied'; approval: PendingApproval };

export async function holdForApproval(ctx: DeliveryContext, gated: GatedRenewal, held: CloudEvent<GatedRenewal>): Promise<ApprovalStanding> {
  const { deps, tenant } = ctx;
  const approvalId = approvalIdOf(gated);
  for (let attempt = 1; ; attempt++) {
    const now = deps.clock.now();
    const existing = await deps.governance.getApproval(tenant.id, approvalId);
    if (existing) {
      const open = Date.parse(existing.expiresAt) > now.getTime();
      if (existing.status === 'pending' && open) return { kind: 'waiting', approval: existing };
      if (existing.status === 'denied' && open) return { kind: 'denied', approval: existing };
      // Approved and its rotation not finished (never started, or still running): that rotation is the answer.
      if (existing.status === 'approved' && !(await rotationFinished(deps, tenant.id, approvedRotationId(existing), existing.certificateId))) return { kind: 'approved', approval: existing };
      // Past its time and the expiry job has not run yet: marked, audited and told as it would be.
      if (existing.status === 'pending' && (await expireApproval(ctx, existing))) continue;
    }
    const fresh: PendingApproval = {
      tenantId: tenant.id,
      approvalId,
      certificateId: gated.certificateId,
      action: gated.decision.action,
      requestedAt: now.toISOString(),
      expiresAt: approvalExpiry(tenant, now),
      status: 'pending',
      request: held,
      decidedBy: null,
      decidedAt: null,
      reason: null,
      version: (existing?.version ?? 0) + 1,
    };
    try {
      return { kind: 'asked', approval: await deps.governance.putApproval(fresh, existing?.version ?? 0) };
    } catch (err) {
      // Another sweep stored it first (or a human decided meanwhile): look again.
      if (!(err instanceof ConcurrencyError) || attempt >= WRITE_ATTEMPTS) throw err;
    }
  }
}

/**
 * Marks a pending approval whose time has passed as expired, audits it and tells the assignee
 * (the expiry job runs this on a schedule; the gate too, when it meets one first). False when
 * someone else changed the approval first (a human decided at the last moment, or another
 * instance expired it): the caller reads it again.
 */
export async function expireApproval(ctx: DeliveryContext, approval: PendingApproval): Promise<boolean> {
  const { deps, tenant } = ctx;
  const now = deps.clock.now().toISOString();
  const reason = `nobody answered before ${approval.expiresAt}`;
  let stored: PendingApproval;
  try {
    stored = await deps.governance.putApproval({ ...approval, status: 'expired', decidedAt: now, reason, version: approval.version + 1 }, approval.version);
  } catch (err) {
    if (err instanceof ConcurrencyError) return false;
    throw err;
  }
  await ctx.audit('approval.expired', { approvalId: approval.approvalId, certificateId: approval.certificateId, action: approval.action, requestedAt: approval.requestedAt, expiresAt: approval.expiresAt });
  await deliver(ctx, {
    id: `${tenant.id}:approval:${approval.approvalId}:v${stored.version}:expired`,
    tenantId: tenant.id,
    kind: 'approval-expired',
    severity: 'warning',
    title: `The approval to ${approval.action} ${approval.certificateId} expired unanswered`,
    text: `certops asked on ${approval.requestedAt} and ${reason}. Nothing was changed; the next sweep asks again while the certificate is due.`,
    to: contact(tenant.assignee),
    subject: { certificateId: approval.certificateId },
    facts: { approvalId: approval.approvalId, action: approval.action, requestedAt: approval.requestedAt, expiresAt: approval.expiresAt },
    occurredAt: now,
    correlationId: `approval:${tenant.id}:${approval.approvalId}`,
  });
  return true;
}

/** The held request of an approved approval, its rationale saying who approved it and when (the L2 sentence no longer applies). */
export function approvedRequest(approval: PendingApproval): CloudEvent<GatedRenewal> {
  const request = approval.request as CloudEvent<GatedRenewal>;
  const rationale = `Approved by ${approval.decidedBy} at ${approval.decidedAt}; certops renewed and deployed it. (${request.data.decision.rationale})`;
  return { ...request, data: { ...request.data, decision: { ...request.data.decision, rationale } } };
}

/** Where a rotation stands: not started, open (its record is the certificate's current one), or finished. */
async function rotationStanding(deps: PipelineDeps, tenantId: string, rotationId: string, certificateId: string): Promise<'none' | 'open' | 'finished'> {
  const state = await deps.store.getManagedState(tenantId, certificateId);
  if ((state?.recentRotationIds ?? []).includes(rotationId)) return 'finished';
  if (state?.rotation?.rotationId !== rotationId) return 'none';
  return isTerminal(state.rotation.state) ? 'finished' : 'open';
}

/** Has this rotation finished (committed or escalated)? */
export async function rotationFinished(deps: PipelineDeps, tenantId: string, rotationId: string, certificateId: string): Promise<boolean> {
  return (await rotationStanding(deps, tenantId, rotationId, certificateId)) === 'finished';
}

/**
 * The rotate stage's check before it acts on a renewal gated at L2: the approval must be recorded
 * as approved now (a held request published before a denial, or replayed, must not rotate). A
 * request whose rotation has started already was approved when it started: its redelivery (after
 * a crash) resumes it whatever became of the approval since. Null when granted; otherwise why not.
 */
export async function approvalRefusal(deps: PipelineDeps, tenantId: string, request: GatedRenewal): Promise<string | null> {
  if (request.decision.level !== 'L2') return null;
  if ((await rotationStanding(deps, tenantId, `${request.sweepId}:${request.certificateId}`, request.certificateId)) !== 'none') return null;
  const approvalId = approvalIdOf(request);
  const approval = await deps.governance.getApproval(tenantId, approvalId);
  if (!approval) return `approval ${approvalId} does not exist`;
  if (approval.status !== 'approved') return `approval ${approvalId} is ${approval.status}${approval.decidedBy ? ` (by ${approval.decidedBy})` : ''}`;
  if (approvedRotationId(approval) !== `${request.sweepId}:${request.certificateId}`) return `approval ${approvalId} approved another request (${approvedRotationId(approval)})`;
  return null;
}

export function approvalExpiry(tenant: TenantConfig, now: Date): string {
  return new Date(now.getTime() + (tenant.policy?.approvalTtlHours ?? DEFAULT_APPROVAL_TTL_HOURS) * 3_600_000).toISOString();
}

/** The level raised for a tenant and action, if any. */
export async function raisedGate(deps: PipelineDeps, tenantId: string, action: ActionType): Promise<RaisedGate | null> {
  const state = await deps.governance.getGateState(tenantId, action);
  return state?.raisedTo && state.raisedBy ? { level: state.raisedTo, by: state.raisedBy, reason: state.reason ?? 'raised' } : null;
}

/** Who issues a certificate now: the local CA, or the tenant's ACME directory (a change of CA is a risk). */
export function issuerIdentity(tenant: TenantConfig, managed: ManagedCertificateConfig): string {
  return managed.issuer === 'acme' ? `acme ${tenant.acme?.directoryUrl ?? '?'}` : 'local-ca';
}

export function riskFacts(tenant: TenantConfig, managed: ManagedCertificateConfig, state: ManagedCertificateState | null, servedFingerprint: string | null): RiskFacts {
  const issued = state?.lastRotation?.outcome === 'committed' ? state.rotation?.issued : null;
  return {
    dnsNames: managed.dnsNames,
    endpoints: tenant.endpoints.filter((e) => e.managed === managed.id).map((e) => ({ endpointId: endpointRef(e).endpointId, tags: e.tags ?? [] })),
    deployedFingerprint: state?.deployedFingerprint ?? null,
    servedFingerprint,
    lastIssuer: issued ? (issued.issuer === 'acme' ? `acme ${issued.provenance?.ca ?? '?'}` : issued.issuer) : null,
    nextIssuer: issuerIdentity(tenant, managed),
    // The last rotation was undone by a human: the next one asks first (until one is approved and commits).
    overridden:
      state?.rotation?.failure?.step === 'override' && state.rotation.state === 'escalated'
        ? { at: state.rotation.history.at(-1)?.at ?? '', reason: state.rotation.failure.reason }
        : null,
  };
}

function freshState(tenantId: string, action: ActionType): GateState {
  return { tenantId, action, raisedTo: null, raisedBy: null, raisedAt: null, reason: null, outcomes: [], acceptedRun: 0, version: 0 };
}

/** Read, change, write with the state's version; a concurrent writer makes it read again. */
async function updateGate(deps: PipelineDeps, tenantId: string, action: ActionType, change: (state: GateState) => GateState | null): Promise<GateState | null> {
  for (let attempt = 1; ; attempt++) {
    const current = (await deps.governance.getGateState(tenantId, action)) ?? freshState(tenantId, action);
    const next = change(current);
    if (!next) return null;
    try {
      return await deps.governance.putGateState({ ...next, version: current.version + 1 }, current.version);
    } catch (err) {
      if (!(err instanceof ConcurrencyError) || attempt >= WRITE_ATTEMPTS) throw err;
    }
  }
}

/**
 * Records what a human made of an action (accepted: it committed; overridden: a human undid it)
 * for each action type of a renewal; raising or relaxing the pair's level when the override rate
 * says so, audited and told.
 */
export async function recordOutcome(ctx: DeliveryContext, rotationId: string, outcome: 'accepted' | 'overridden', actor: string): Promise<void> {
  const { deps, tenant } = ctx;
  for (const action of RENEWAL_ACTIONS) {
    let change: LearningChange = null;
    const stored = await updateGate(deps, tenant.id, action, (state) => {
      // Told twice (a redelivered commit, a repeated override): counted once.
      if (state.outcomes.some((o) => o.rotationId === rotationId && o.outcome === outcome)) return null;
      const learned = learnFrom(state, { at: deps.clock.now().toISOString(), rotationId, outcome }, tenant.policy?.learning);
      change = learned.change;
      return { ...state, ...learned.state };
    });
    const happened = change as LearningChange;
    if (!stored || !happened) continue;
    if (happened.kind === 'raised') await announce(ctx, stored, 'raised', happened.level, happened.reason, actor);
    else await announce(ctx, stored, 'relaxed', null, happened.reason, actor);
  }
}

/** A human raises the gate of a tenant and action (default L2): the next such action waits for approval. */
export async function escalateGate(ctx: DeliveryContext, action: ActionType, level: GateLevel, actor: string, reason: string): Promise<GateState> {
  const stored = await updateGate(ctx.deps, ctx.tenant.id, action, (state) => ({
    ...state,
    // An escalation never lowers a level already raised higher (by learning, or an earlier escalation).
    raisedTo: state.raisedTo && levelRank(state.raisedTo) > levelRank(level) ? state.raisedTo : level,
    raisedBy: 'escalation',
    raisedAt: ctx.deps.clock.now().toISOString(),
    reason: `escalated by ${actor}: ${reason}`,
    acceptedRun: 0,
  }));
  await announce(ctx, stored!, 'raised', stored!.raisedTo, `escalated by ${actor}: ${reason}`, actor);
  return stored!;
}

/** A human lifts a raised gate: the tenant's policy applies again. */
export async function lowerGate(ctx: DeliveryContext, action: ActionType, actor: string, reason: string): Promise<GateState> {
  // The window starts afresh, as when learning relaxes: the old overrides must not raise it again at once.
  const stored = await updateGate(ctx.deps, ctx.tenant.id, action, (state) => ({ ...state, raisedTo: null, raisedBy: null, raisedAt: null, reason: null, outcomes: [], acceptedRun: 0 }));
  await announce(ctx, stored!, 'relaxed', null, `lowered by ${actor}: ${reason}`, actor);
  return stored!;
}

/** Told once per stored change: the id comes from the gate state's version, so a redelivery is not told again. */
async function announce(ctx: DeliveryContext, state: GateState, kind: 'raised' | 'relaxed', level: GateLevel | null, reason: string, actor: string): Promise<void> {
  const action = state.action;
  const { deps, tenant } = ctx;
  await ctx.audit(kind === 'raised' ? 'gate.raised' : 'gate.relaxed', { action, level, reason, actor });
  const now = deps.clock.now().toISOString();
  await deliver(ctx, {
    id: `${tenant.id}:gate:${action}:${kind}:v${state.version}`,
    tenantId: tenant.id,
    kind: 'gate-changed',
    severity: 'warning',
    title: kind === 'raised' ? `${action} for ${tenant.name ?? tenant.id} now waits for approval (${level})` : `${action} for ${tenant.name ?? tenant.id} is back to the tenant's level`,
    text: reason,
    to: contact(tenant.escalation ?? tenant.assignee),
    subject: {},
    facts: { action, level, by: actor },
    occurredAt: now,
    correlationId: `gate:${tenant.id}:${action}`,
  });
}
