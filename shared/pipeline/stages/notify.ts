/**
 * Notify: observes analyses, gate outcomes and rotations and decides whom to tell: once per
 * change of an endpoint's state (notification-state.ts), never once per sweep. A first sighting
 * that is healthy is recorded silently. For a managed endpoint being renewed, the rotation's
 * outcome is what is told (L1: act, then tell the assigned human); a failed rotation goes to the
 * escalation contact.
 *
 * Idempotency: notification ids are derived from the state change; each channel is told a given
 * id at most once (a claim per id and channel), and the stored state hash makes a repeat a no-op.
 */
import type { CloudEvent } from '../../domain/events';
import { contact, deliver } from '../delivery';
import { endpointState, HEALTHY_STATE, isQuiet, stateHash, type EndpointState } from '../../domain/notification-state';
import type { TenantConfig } from '../../config/model';
import type { Notification } from '../../ports/notifier';
import type { CertificateAnalyzed, GatedRenewal, RotationCompleted, RotationFailed } from '../event-data';
import type { StageContext } from '../stage';
import { EVENT_TYPES } from '../topology';
import { endpointRef } from '../endpoints';
import { approvalIdOf } from '../governance';
import { assertOwnCertificate, assertOwnEndpoint, scopedTenant } from '../tenant-scope';

export async function notify(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const tenant = scopedTenant(ctx);
  switch (event.type) {
    case EVENT_TYPES.certificateAnalyzed:
      assertOwnEndpoint(ctx, (event.data as CertificateAnalyzed).endpoint);
      await onAnalyzed(event.data as CertificateAnalyzed, tenant, event, ctx);
      break;
    case EVENT_TYPES.rotationCompleted:
      assertOwnCertificate(ctx, (event.data as RotationCompleted).certificateId);
      await onRotationCompleted(event.data as RotationCompleted, tenant, event, ctx);
      break;
    case EVENT_TYPES.rotationFailed:
      assertOwnCertificate(ctx, (event.data as RotationFailed).certificateId);
      await onRotationFailed(event.data as RotationFailed, tenant, event, ctx);
      break;
    case EVENT_TYPES.approvalRequested:
    case EVENT_TYPES.recommendationIssued:
      assertOwnCertificate(ctx, (event.data as GatedRenewal).certificateId);
      await onGated(event.data as GatedRenewal, event.type === EVENT_TYPES.approvalRequested, tenant, event, ctx);
      break;
  }
  return [];
}

async function onAnalyzed(data: CertificateAnalyzed, tenant: TenantConfig, event: CloudEvent, ctx: StageContext): Promise<void> {
  const findings = [...data.findings, ...data.addresses.flatMap((a) => a.findings)];
  const state = endpointState(data.status, findings);
  const hash = stateHash(state);
  const key = `endpoint:${data.endpoint.endpointId}`;
  const previous = await ctx.deps.store.getNotificationState(ctx.tenantId, key);
  if (previous?.stateHash === hash) return;
  if (data.renewalRequested) return; // the rotation's outcome will be told instead
  if (!previous && isQuiet(state)) {
    await remember(ctx, key, hash);
    return;
  }
  const worst = data.addresses.find((a) => a.status === data.status);
  const codes = state.findingCodes;
  const severity: Notification['severity'] =
    data.status === 'expired' || data.status === 'critical' || findings.some((f) => f.severity === 'critical')
      ? 'critical'
      : isQuiet(state)
        ? 'info'
        : 'warning';
  const problems = codes.length === 1 ? `finding ${codes[0]}` : `${codes.length} findings: ${codes.join(', ')}`;
  const headline = isQuiet(state)
    ? 'is healthy again'
    : data.status === null
      ? `could not be checked (${problems})`
      : data.status === 'healthy'
        ? `has ${problems} (${describeDays(worst?.daysLeft ?? 0)})`
        : `is ${data.status} (${describeDays(worst?.daysLeft ?? 0)})${codes.length ? `, ${problems}` : ''}`;
  await send(ctx, tenant, {
    id: `${ctx.tenantId}:${key}:${hash.slice(0, 16)}:${data.sweepId}`,
    tenantId: ctx.tenantId,
    kind: 'certificate-state-changed',
    severity,
    title: `${data.endpoint.endpointId} ${headline}`,
    text: findings.filter((f) => f.severity !== 'info').map((f) => `${f.code}: ${f.message}`).join('\n') || 'No findings.',
    to: contact(tenant.assignee),
    subject: { endpoint: data.endpoint.endpointId, fingerprint: worst?.fingerprintSha256 ?? undefined },
    facts: { status: data.status, findings: codes.join(', ') || null, notAfter: worst?.notAfter ?? null, previousState: previous ? 'changed' : 'first seen' },
    occurredAt: event.time,
    correlationId: ctx.correlationId,
  });
  await remember(ctx, key, hash);
}

async function onRotationCompleted(data: RotationCompleted, tenant: TenantConfig, event: CloudEvent, ctx: StageContext): Promise<void> {
  // The endpoints now serve a fresh certificate: their next analysis is expected to be healthy.
  for (const e of tenant.endpoints.filter((x) => x.managed === data.certificateId)) {
    await remember(ctx, `endpoint:${endpointRef(e).endpointId}`, stateHash(HEALTHY_STATE));
  }
  if (!data.decision.notifyAfter) return; // L0: act and log only
  await send(ctx, tenant, {
    id: `${ctx.tenantId}:rotation:${data.certificateId}:${data.toFingerprint.slice(0, 16)}`,
    tenantId: ctx.tenantId,
    kind: 'rotation-completed',
    severity: 'info',
    title: `Renewed and deployed ${data.certificateId} (${data.decision.level}: review, override or escalate)`,
    text: `${data.decision.rationale} Reason: ${data.reason}. Every address verified serving the new certificate: ${data.verified.map((v) => `${v.endpointId}@${v.address}`).join(', ')}.`,
    to: data.decision.tell,
    subject: { certificateId: data.certificateId, fingerprint: data.toFingerprint },
    facts: {
      from: data.fromFingerprint,
      to: data.toFingerprint,
      notAfter: data.notAfter,
      level: data.decision.level,
      verifiedAddresses: data.verified.length,
      verified: data.verified.map((v) => `${v.endpointId}@${v.address}`).join(', '),
    },
    occurredAt: event.time,
    correlationId: ctx.correlationId,
  });
}

async function onRotationFailed(data: RotationFailed, tenant: TenantConfig, event: CloudEvent, ctx: StageContext): Promise<void> {
  // A rotation that keeps failing for the same certificate is one state, told once; certops keeps
  // retrying on each sweep, and the next change (success, or another failure mode) is told.
  const key = `rotation-failed:${data.certificateId}:${data.fromFingerprint ?? 'none'}`;
  const hash = stateHash({ status: null, findingCodes: [failureClass(data)] });
  if ((await ctx.deps.store.getNotificationState(ctx.tenantId, key))?.stateHash === hash) return;
  const to = contact(tenant.escalation ?? tenant.assignee);
  await send(ctx, tenant, {
    id: `${ctx.tenantId}:${key}:${hash.slice(0, 16)}`,
    tenantId: ctx.tenantId,
    kind: 'rotation-failed',
    // A human's override is news for the escalation contact, not an incident (unless the old certificate is not back).
    severity: data.reason.startsWith('override by ') && data.restoredVerified ? 'warning' : 'critical',
    title: data.reason.startsWith('override by ')
      ? `Rotation of ${data.certificateId} was overridden by a human and rolled back`
      : `Rotation of ${data.certificateId} failed${data.rolledBack ? ' and was rolled back' : ''}: action needed`,
    text: `${data.reason}. ${
      data.restoredVerified
        ? 'The previous certificate is still what is served (verified).'
        : data.rolledBack
          ? 'The previous files were restored, but serving them could not be verified.'
          : 'The previous files could not be restored.'
    }`,
    to,
    subject: { certificateId: data.certificateId, fingerprint: data.fromFingerprint ?? undefined },
    facts: { attempted: data.attemptedFingerprint, rolledBack: data.rolledBack, restoredVerified: data.restoredVerified, level: data.decision.level },
    occurredAt: event.time,
    correlationId: ctx.correlationId,
  });
  await remember(ctx, key, hash);
}

/** Delivery on behalf of this stage (its audit actor and logger). */
function send(ctx: StageContext, tenant: TenantConfig, notification: Notification, options: { approvalId?: string } = {}): Promise<unknown> {
  return deliver({ deps: ctx.deps, tenant, audit: ctx.audit, log: ctx.log }, notification, options);
}

async function onGated(data: GatedRenewal, approval: boolean, tenant: TenantConfig, event: CloudEvent, ctx: StageContext): Promise<void> {
  // Each approval is told once: the gate sends the question only from the sweep that stored it
  // (an approval asked again after it expired or a denial lapsed comes from a later sweep). A
  // recommendation is told once per certificate state.
  const key = approval ? `approval:${approvalIdOf(data)}:${data.sweepId}` : `gate:${data.certificateId}:${data.currentFingerprint ?? 'none'}`;
  const state: EndpointState = { status: data.status, findingCodes: [approval ? 'awaiting-approval' : 'recommendation'] };
  const hash = stateHash(state);
  if ((await ctx.deps.store.getNotificationState(ctx.tenantId, key))?.stateHash === hash) return;
  await send(ctx, tenant, {
    id: `${ctx.tenantId}:${key}:${approval ? 'approval' : 'recommendation'}`,
    tenantId: ctx.tenantId,
    kind: approval ? 'approval-requested' : 'recommendation',
    severity: 'warning',
    title: approval ? `Approve renewal of ${data.certificateId}?` : `Recommended: renew ${data.certificateId}`,
    text: data.decision.rationale,
    to: contact(tenant.assignee),
    subject: { certificateId: data.certificateId, fingerprint: data.currentFingerprint ?? undefined },
    facts: { reason: data.reason, status: data.status, notAfter: data.notAfter, level: data.decision.level },
    occurredAt: event.time,
    correlationId: ctx.correlationId,
  }, approval ? { approvalId: approvalIdOf(data) } : {});
  await remember(ctx, key, hash);
}

async function remember(ctx: StageContext, key: string, hash: string): Promise<void> {
  await ctx.deps.store.putNotificationState({ tenantId: ctx.tenantId, subjectKey: key, stateHash: hash, notifiedAt: ctx.deps.clock.now().toISOString() });
}

function failureClass(data: RotationFailed): string {
  const stage = /^(\w+) failed/.exec(data.reason)?.[1] ?? 'rotation';
  return `${stage}:${data.rolledBack ? 'rolled-back' : 'not-rolled-back'}:${data.restoredVerified ? 'old-served' : 'old-not-served'}`;
}

function describeDays(days: number): string {
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return `${days} day${days === 1 ? '' : 's'} left`;
}
