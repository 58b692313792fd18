/**
 * Notify: observes analyses, gate outcomes and rotations and decides whom to tell: once per
 * change of an endpoint's state (notification-state.ts), never once per sweep. A first sighting
 * that is healthy is recorded silently. For a managed endpoint being renewed, the rotation's
 * outcome is what is told (L1: act, then tell the assigned human); a failed rotation goes to the
 * escalation contact.
 *
 * Idempotency: notification ids are derived from the state change, so a redelivered event sends
 * the same id again (receivers deduplicate on it), and the stored state hash makes a repeat a no-op.
 */
import type { CloudEvent } from '../../domain/events';
import { PermanentError } from '../../domain/errors';
import { endpointState, HEALTHY_STATE, isQuiet, stateHash, type EndpointState } from '../../domain/notification-state';
import type { TenantConfig } from '../../config/model';
import type { Notification } from '../../ports/notifier';
import type { CertificateAnalyzed, GatedRenewal, RotationCompleted, RotationFailed } from '../event-data';
import type { StageContext } from '../stage';
import { EVENT_TYPES } from '../topology';
import { endpointRef } from '../endpoints';

export async function notify(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const tenant = ctx.deps.tenants.get(ctx.tenantId);
  if (!tenant) throw new PermanentError(`tenant ${ctx.tenantId} is not configured; cannot tell anybody about ${event.type}`);
  switch (event.type) {
    case EVENT_TYPES.certificateAnalyzed:
      await onAnalyzed(event.data as CertificateAnalyzed, tenant, event, ctx);
      break;
    case EVENT_TYPES.rotationCompleted:
      await onRotationCompleted(event.data as RotationCompleted, tenant, event, ctx);
      break;
    case EVENT_TYPES.rotationFailed:
      await onRotationFailed(event.data as RotationFailed, tenant, event, ctx);
      break;
    case EVENT_TYPES.approvalRequested:
    case EVENT_TYPES.recommendationIssued:
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
  await send(ctx, {
    id: `${ctx.tenantId}:${key}:${hash.slice(0, 16)}:${data.sweepId}`,
    tenantId: ctx.tenantId,
    kind: 'certificate-state-changed',
    severity,
    title: `${data.endpoint.endpointId} ${headline}`,
    text: findings.filter((f) => f.severity !== 'info').map((f) => `${f.code}: ${f.message}`).join('\n') || 'No findings.',
    to: tenant.assignee,
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
  await send(ctx, {
    id: `${ctx.tenantId}:rotation:${data.certificateId}:${data.toFingerprint.slice(0, 16)}`,
    tenantId: ctx.tenantId,
    kind: 'rotation-completed',
    severity: 'info',
    title: `Renewed and deployed ${data.certificateId} (${data.decision.level}: review, override or escalate)`,
    text: `${data.decision.rationale} Reason: ${data.reason}. Every address verified serving the new certificate: ${data.verified.map((v) => `${v.endpointId}@${v.address}`).join(', ')}.`,
    to: data.decision.tell,
    subject: { certificateId: data.certificateId, fingerprint: data.toFingerprint },
    facts: { from: data.fromFingerprint, to: data.toFingerprint, notAfter: data.notAfter, level: data.decision.level, verifiedAddresses: data.verified.length },
    occurredAt: event.time,
    correlationId: ctx.correlationId,
  });
}

async function onRotationFailed(data: RotationFailed, tenant: TenantConfig, event: CloudEvent, ctx: StageContext): Promise<void> {
  const to = tenant.escalation ?? tenant.assignee;
  await send(ctx, {
    id: `${ctx.tenantId}:rotation-failed:${data.certificateId}:${(data.attemptedFingerprint ?? 'none').slice(0, 16)}`,
    tenantId: ctx.tenantId,
    kind: 'rotation-failed',
    severity: 'critical',
    title: `Rotation of ${data.certificateId} failed${data.rolledBack ? ' and was rolled back' : ''}: action needed`,
    text: `${data.reason}. ${
      data.restoredVerified
        ? 'The previous certificate is served again (verified).'
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
}

async function onGated(data: GatedRenewal, approval: boolean, tenant: TenantConfig, event: CloudEvent, ctx: StageContext): Promise<void> {
  const key = `gate:${data.certificateId}:${data.currentFingerprint ?? 'none'}`;
  const state: EndpointState = { status: data.status, findingCodes: [approval ? 'awaiting-approval' : 'recommendation'] };
  const hash = stateHash(state);
  if ((await ctx.deps.store.getNotificationState(ctx.tenantId, key))?.stateHash === hash) return;
  await send(ctx, {
    id: `${ctx.tenantId}:${key}:${approval ? 'approval' : 'recommendation'}`,
    tenantId: ctx.tenantId,
    kind: approval ? 'approval-requested' : 'recommendation',
    severity: 'warning',
    title: approval ? `Approve renewal of ${data.certificateId}?` : `Recommended: renew ${data.certificateId}`,
    text: data.decision.rationale,
    to: tenant.assignee,
    subject: { certificateId: data.certificateId, fingerprint: data.currentFingerprint ?? undefined },
    facts: { reason: data.reason, status: data.status, notAfter: data.notAfter, level: data.decision.level },
    occurredAt: event.time,
    correlationId: ctx.correlationId,
  });
  await remember(ctx, key, hash);
}

async function send(ctx: StageContext, notification: Notification): Promise<void> {
  for (const notifier of ctx.deps.notifiers) await notifier.send(notification);
  await ctx.audit('notification.sent', {
    id: notification.id,
    kind: notification.kind,
    severity: notification.severity,
    to: notification.to.name,
    title: notification.title,
    channels: ctx.deps.notifiers.map((n) => n.channel),
  });
}

async function remember(ctx: StageContext, key: string, hash: string): Promise<void> {
  await ctx.deps.store.putNotificationState({ tenantId: ctx.tenantId, subjectKey: key, stateHash: hash, notifiedAt: ctx.deps.clock.now().toISOString() });
}

function describeDays(days: number): string {
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return `${days} day${days === 1 ? '' : 's'} left`;
}
