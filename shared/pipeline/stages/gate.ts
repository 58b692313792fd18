/**
 * Gate: observes a renewal request and decides, by the tenant's gate policy, whether certops acts
 * (L0: act and log; L1: act, then tell the assigned human, the default), asks first (L2), or only
 * recommends (L3). A renewal replaces and deploys a certificate, so it passes two gates (renew and
 * rotate); the stricter one decides. Every decision is audited with its rationale.
 *
 * Idempotency key: `gate:<sweepId>:<certificateId>` is claimed once; a redelivered request (or a
 * second endpoint of the same certificate) is not decided twice, and a decision that failed to be
 * recorded gives its claim back for the retry (claims.ts). An L2 request is held as the one
 * approval of its certificate, action and certificate being replaced (governance.ts): later sweeps
 * refer to it instead of asking again.
 */
import type { CloudEvent } from '../../domain/events';
import { decideGate, levelRank, type GateDecision } from '../../domain/gate-policy';
import type { GatedRenewal, RenewalRequested } from '../event-data';
import type { StageContext } from '../stage';
import { EVENT_TYPES } from '../topology';
import { underClaim } from '../claims';
import { assertOwnCertificate, scopedTenant } from '../tenant-scope';
import { gateRisks } from '../../domain/gate-risks';
import { staleRequest } from '../rotation-engine';
import { approvedRequest, holdForApproval, raisedGate, RENEWAL_ACTIONS, riskFacts } from '../governance';


export async function gate(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const request = event.data as RenewalRequested;
  const tenant = scopedTenant(ctx);
  assertOwnCertificate(ctx, request.certificateId);
  const subject = `certificate ${request.certificateId} (${request.reason})`;
  const managed = tenant.managedCertificates!.find((m) => m.id === request.certificateId)!;
  const state = await ctx.deps.store.getManagedState(ctx.tenantId, managed.id);
  const risks = gateRisks(riskFacts(tenant, managed, state, request.currentFingerprint), tenant.policy?.risk);
  const decisions: GateDecision[] = [];
  for (const action of RENEWAL_ACTIONS) {
    const raised = await raisedGate(ctx.deps, ctx.tenantId, action);
    decisions.push(decideGate({ tenantId: ctx.tenantId, action, tenantLevels: tenant.policy?.gate, assignee: tenant.assignee, subject, raised, risks }));
  }
  const decision = decisions.reduce((a, b) => (levelRank(b.level) > levelRank(a.level) ? b : a));
  const gated: GatedRenewal = { ...request, decision };
  // A stale request (observed before certops deployed the current certificate) would be skipped by
  // rotate: nobody is asked to approve replacing a certificate that is no longer there.
  const stale = decision.outcome === 'await-approval' && state ? staleRequest(state, { fromFingerprint: request.currentFingerprint, observedAt: request.observedAt }) : null;
  if (stale) {
    ctx.log.info({ certificateId: request.certificateId, stale }, 'renewal request rests on a stale observation; not asking for approval');
    await underClaim(ctx.deps.store, ctx.tenantId, `gate:${request.sweepId}:${request.certificateId}`, () => ctx.audit('gate.decided', { certificateId: request.certificateId, sweepId: request.sweepId, ...decision, stale }));
    return [];
  }
  const standing = decision.outcome === 'await-approval' ? await holdForApproval({ deps: ctx.deps, tenant, audit: ctx.audit, log: ctx.log }, gated, heldRequest(ctx, gated)) : null;
  const approval = standing && { id: standing.approval.approvalId, standing: standing.kind, requestedAt: standing.approval.requestedAt };
  const recorded = await underClaim(ctx.deps.store, ctx.tenantId, `gate:${request.sweepId}:${request.certificateId}`, async () => {
    ctx.log.info({ certificateId: request.certificateId, level: decision.level, outcome: decision.outcome, reason: decision.reason, approval }, decision.rationale);
    await ctx.audit('gate.decided', { certificateId: request.certificateId, sweepId: request.sweepId, ...decision, ...(approval ? { approval } : {}) });
    if (standing?.kind === 'asked') {
      await ctx.audit('approval.requested', { approvalId: standing.approval.approvalId, certificateId: gated.certificateId, level: decision.level, reason: decision.reason, expiresAt: standing.approval.expiresAt });
    }
  });
  // Decided already (a redelivery, or another endpoint of the certificate): the decision is a pure
  // function of the request and the policy, so the same event (same id) is emitted again rather
  // than nothing, in case the first emission was lost after the audit. Rotate claims per sweep.
  if (recorded.claimed) ctx.deps.metrics?.gateDecision(ctx.tenantId, decision.level, decision.outcome);
  if (!recorded.claimed) ctx.log.info({ certificateId: request.certificateId }, 'renewal already gated in this sweep; emitting the same decision again');
  if (!standing) {
    const type = decision.outcome === 'proceed' ? EVENT_TYPES.renewalApproved : EVENT_TYPES.recommendationIssued;
    return [ctx.emit(type, gated, { id: `${request.sweepId}:gate:${request.certificateId}`, subject: request.certificateId })];
  }
  switch (standing.kind) {
    case 'approved':
      // Approved, and its rotation never ran (the request was lost after the approval was recorded): send it now.
      return [approvedRequest(standing.approval)];
    case 'waiting':
      // Asked by this very sweep (a redelivery): the question goes out again, same id, told once.
      // Asked by an earlier sweep: that approval stands; nobody is asked twice.
      if ((standing.approval.request as CloudEvent<GatedRenewal>).data.sweepId !== request.sweepId) return [];
      break;
    case 'denied':
      return [];
  }
  return [ctx.emit(EVENT_TYPES.approvalRequested, gated, { id: `${request.sweepId}:gate:${request.certificateId}`, subject: request.certificateId })];
}

/** L2: the request the rotate stage gets once a human approves, held with the approval. */
function heldRequest(ctx: StageContext, gated: GatedRenewal): CloudEvent<GatedRenewal> {
  const approved: GatedRenewal = { ...gated, decision: { ...gated.decision, outcome: 'proceed', notifyAfter: true } };
  return ctx.emit(EVENT_TYPES.renewalApproved, approved, { id: `${gated.sweepId}:approved:${gated.certificateId}`, subject: gated.certificateId });
}
