/**
 * Notifier: delivers one notification to one channel (console, outbox file, signed webhook, and
 * later Teams and e-mail). Deduplication is the notify stage's job, not the channel's.
 *
 * Contract: `send` resolves when the channel accepted the notification; throws RetryableError on
 * a transient failure (the bus retries the whole notify message; channels that already accepted
 * are told again with the same `id`, which receivers use to deduplicate).
 */
export interface Notification {
  /** Stable id: the same state change always has the same id (receivers deduplicate on it). */
  id: string;
  tenantId: string;
  kind: 'certificate-state-changed' | 'rotation-completed' | 'rotation-failed' | 'approval-requested' | 'approval-expired' | 'recommendation' | 'gate-changed' | 'digest';
  severity: 'info' | 'warning' | 'critical';
  title: string;
  text: string;
  /** Who is told (the tenant's assigned human, or the escalation contact). */
  to: { name: string; email?: string };
  subject: { endpoint?: string; certificateId?: string; fingerprint?: string };
  facts: Record<string, string | number | boolean | null>;
  occurredAt: string;
  correlationId: string;
  /**
   * What the human can do about it (the L1 loop: Review, Override, Escalate; L2: Approve, Deny):
   * links into certops' API, rendered as buttons (Teams) or links (e-mail). Empty when no public
   * API address is configured.
   */
  actions?: NotificationAction[];
}

export interface NotificationAction {
  label: 'Review' | 'Override' | 'Escalate' | 'Approve' | 'Deny' | 'Open';
  url: string;
}

export interface Notifier {
  readonly channel: string;
  send(notification: Notification): Promise<void>;
}
