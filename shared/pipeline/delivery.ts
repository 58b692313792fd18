/**
 * Delivering one notification to a tenant's humans: who gets it (the tenant's routes: assignee or
 * escalation contact), what they can do about it (action links into the API), whether it goes now,
 * into the daily digest, or nowhere (noise control: exclusions, snoozes, thresholds, quiet hours;
 * domain/notification-policy.ts), then once per channel.
 *
 * Each channel is told at most once per notification id: a channel that fails transiently gives
 * its claim back and fails the caller (a redelivery retries only what was not delivered); a channel
 * that refuses for good is recorded and the others still count. Every outcome is audited.
 */
import type { TenantConfig } from '../config/model';
import { errorMessage, PermanentError } from '../domain/errors';
import { decideDelivery, routeTo } from '../domain/notification-policy';
import type { Notification, NotificationAction } from '../ports/notifier';
import { underClaim } from './claims';
import type { PipelineDeps } from './stage';

export interface DeliveryContext {
  deps: PipelineDeps;
  tenant: TenantConfig;
  audit(kind: string, data: Record<string, unknown>): Promise<void>;
  log: { error(obj: object, msg: string): void };
}

/** Who is told, as far as a notification needs to say: a name and an address, nothing else. */
export function contact(c: { name: string; email?: string }): Notification['to'] {
  return c.email ? { name: c.name, email: c.email } : { name: c.name };
}

/** The snooze key of a notification's subject: its certificate, else its endpoint. */
export function subjectKey(n: Notification): string | null {
  return n.subject.certificateId ? `certificate:${n.subject.certificateId}` : n.subject.endpoint ? `endpoint:${n.subject.endpoint}` : null;
}

/** The links a human gets for a notification (none without a public API address). */
export function actionLinks(baseUrl: string | undefined, n: Notification, approvalId?: string): NotificationAction[] {
  if (!baseUrl) return [];
  const base = `${baseUrl.replace(/\/+$/, '')}/api/tenants/${encodeURIComponent(n.tenantId)}`;
  const certificate = n.subject.certificateId && `${base}/certificates/${encodeURIComponent(n.subject.certificateId)}`;
  switch (n.kind) {
    case 'rotation-completed':
      return certificate
        ? [
            { label: 'Review', url: `${certificate}/review` },
            { label: 'Override', url: `${certificate}/override` },
            { label: 'Escalate', url: `${certificate}/escalate` },
          ]
        : [];
    case 'approval-requested':
      return approvalId
        ? [
            { label: 'Approve', url: `${base}/approvals/${encodeURIComponent(approvalId)}/approve` },
            { label: 'Deny', url: `${base}/approvals/${encodeURIComponent(approvalId)}/deny` },
          ]
        : [];
    default:
      return certificate ? [{ label: 'Open', url: certificate }] : [{ label: 'Open', url: `${base}/certificates` }];
  }
}

/** Routes, adds action links, applies noise control, then sends (or queues, or suppresses). */
export async function deliver(ctx: DeliveryContext, draft: Notification, options: { approvalId?: string } = {}): Promise<'sent' | 'digest' | 'suppressed'> {
  const { deps, tenant } = ctx;
  const policy = tenant.policy?.notify;
  const route = routeTo(draft.kind, policy, tenant.assignee, tenant.escalation);
  // Digests and approvals address their own human; everything else follows the tenant's routes.
  const routed = draft.kind === 'digest' ? draft.to : route === 'escalation' ? contact(tenant.escalation ?? tenant.assignee) : contact(tenant.assignee);
  const to = draft.kind === 'approval-requested' || draft.kind === 'recommendation' ? draft.to : routed;
  const notification: Notification = { ...draft, to, actions: actionLinks(deps.actionsBaseUrl, draft, options.approvalId) };
  const key = subjectKey(notification);
  const snooze = key ? await deps.governance.getSnooze(tenant.id, key) : null;
  const decision = decideDelivery({ notification, policy, now: deps.clock.now(), snoozedUntil: snooze?.until ?? null });
  if (decision.kind === 'suppress') {
    await ctx.audit('notification.suppressed', { id: notification.id, kind: notification.kind, reason: decision.reason });
    deps.metrics?.notification(tenant.id, 'none', 'suppressed');
    return 'suppressed';
  }
  if (decision.kind === 'digest') {
    await deps.governance.queueDigest({ tenantId: tenant.id, id: notification.id, notification, queuedAt: deps.clock.now().toISOString() });
    await ctx.audit('notification.queued', { id: notification.id, kind: notification.kind, reason: decision.reason });
    deps.metrics?.notification(tenant.id, 'none', 'digest');
    return 'digest';
  }
  await sendNow(ctx, notification);
  return 'sent';
}

/** Every channel, once per notification id. */
export async function sendNow(ctx: DeliveryContext, notification: Notification): Promise<{ delivered: string[]; refused: Array<{ channel: string; error: string }> }> {
  const { deps } = ctx;
  const delivered: string[] = [];
  const refused: Array<{ channel: string; error: string }> = [];
  for (const notifier of deps.notifiers) {
    try {
      const sent = await underClaim(deps.store, ctx.tenant.id, `sent:${notification.id}:${notifier.channel}`, () => notifier.send(notification));
      if (sent.claimed) {
        delivered.push(notifier.channel);
        deps.metrics?.notification(ctx.tenant.id, notifier.channel, 'sent');
      }
    } catch (err) {
      if (!(err instanceof PermanentError)) {
        deps.metrics?.notification(ctx.tenant.id, notifier.channel, 'failed');
        throw err;
      }
      deps.metrics?.notification(ctx.tenant.id, notifier.channel, 'refused');
      refused.push({ channel: notifier.channel, error: errorMessage(err) });
      ctx.log.error({ channel: notifier.channel, err }, 'a notification channel refused the notification');
    }
  }
  if (delivered.length === 0 && refused.length === 0) return { delivered, refused }; // every channel had it already
  await ctx.audit('notification.sent', {
    id: notification.id,
    kind: notification.kind,
    severity: notification.severity,
    to: notification.to.name,
    title: notification.title,
    channels: delivered,
    refused,
  });
  return { delivered, refused };
}
