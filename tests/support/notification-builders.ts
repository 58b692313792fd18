/** A notification: a warning about one endpoint of tenant "acme", overridable field by field. */
import type { Notification } from '../../shared/ports/notifier';

export function aNotification(overrides: Partial<Notification> = {}): Notification {
  return {
    id: 'acme:endpoint:www.acme.example:443:abc',
    tenantId: 'acme',
    kind: 'certificate-state-changed',
    severity: 'warning',
    title: 'www.acme.example:443 is expiring (12 days left)',
    text: 'expiring: 12 days left',
    to: { name: 'Dana Reyes', email: 'dana@msp.example' },
    subject: { endpoint: 'www.acme.example:443' },
    facts: { status: 'expiring' },
    occurredAt: '2026-03-28T22:15:00.000Z',
    correlationId: 'corr-1',
    ...overrides,
  };
}
