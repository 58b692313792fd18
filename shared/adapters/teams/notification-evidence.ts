/**
 * The presentation model of a notification, shared by the Teams card and the e-mail so that both
 * say the same thing: what was done (the title), why (the text), the evidence (labelled facts,
 * fingerprints both short and in full) and what the human can do (the action links).
 *
 * Values here are plain text: each renderer escapes for its own syntax (Markdown in a card,
 * HTML in a mail). Pure: no I/O, no clock.
 */
import type { Notification, NotificationAction } from '../../ports/notifier';

/** Teams renders at most six top-level actions on a card; the e-mail mirrors the same list. */
export const MAX_ACTIONS = 6;
/** Hex digits kept in a short fingerprint: the same prefix the notify stage puts in ids. */
export const SHORT_FINGERPRINT_HEX = 16;
/**
 * The card's "why" is cut here: a Teams message is limited to about 28 KB, and a card is for
 * reading at a glance; the full text stays in the e-mail.
 */
export const CARD_TEXT_LIMIT = 3000;

export interface EvidenceFact {
  label: string;
  /** What to show in a table cell: a fingerprint is shortened here. */
  value: string;
}

export interface FullFingerprint {
  label: string;
  /** The complete lower-case hex SHA-256 digest. */
  hex: string;
}

export interface NotificationView {
  severityLabel: 'Info' | 'Warning' | 'Critical';
  /** What was done (or what happened). */
  headline: string;
  /** Why, and what certops observed. */
  why: string;
  facts: EvidenceFact[];
  fingerprints: FullFingerprint[];
  /** Only absolute http(s) links, at most MAX_ACTIONS, in the order given. */
  actions: NotificationAction[];
}

/** Labels for the fact keys the notify stage writes; unknown keys get a label derived from the key. */
const FACT_LABELS: Record<string, string> = {
  from: 'Old fingerprint',
  to: 'New fingerprint',
  attempted: 'Attempted fingerprint',
  notAfter: 'Not after',
  level: 'Gate level',
  verifiedAddresses: 'Addresses verified',
  verified: 'Verified addresses',
  status: 'Status',
  findings: 'Findings',
  reason: 'Reason',
  previousState: 'Previous state',
  rolledBack: 'Rolled back',
  restoredVerified: 'Previous certificate verified serving',
};

const SEVERITY_LABELS: Record<Notification['severity'], NotificationView['severityLabel']> = {
  info: 'Info',
  warning: 'Warning',
  critical: 'Critical',
};

const SHA256_HEX = /^[0-9a-f]{64}$/i;

export function notificationView(n: Notification): NotificationView {
  const facts: EvidenceFact[] = [];
  const fingerprints: FullFingerprint[] = [];
  const add = (label: string, value: string | number | boolean | null | undefined) => {
    if (value === undefined) return;
    if (typeof value === 'string' && SHA256_HEX.test(value)) {
      const hex = value.toLowerCase();
      facts.push({ label, value: shortFingerprint(hex) });
      fingerprints.push({ label, hex });
      return;
    }
    facts.push({ label, value: factValue(value) });
  };

  add('Tenant', n.tenantId);
  if (n.subject.certificateId) add('Certificate', n.subject.certificateId);
  if (n.subject.endpoint) add('Endpoint', n.subject.endpoint);
  for (const [key, value] of Object.entries(n.facts)) add(FACT_LABELS[key] ?? labelFromKey(key), value);
  // The subject's fingerprint is evidence of its own only when no fact already shows it.
  const subjectFingerprint = n.subject.fingerprint?.toLowerCase();
  if (subjectFingerprint && !fingerprints.some((f) => f.hex === subjectFingerprint)) add('Fingerprint', subjectFingerprint);
  add('Occurred at', n.occurredAt);
  add('Told to', n.to.name);
  add('Correlation id', n.correlationId);

  return {
    severityLabel: SEVERITY_LABELS[n.severity],
    headline: n.title,
    why: n.text,
    facts,
    fingerprints,
    actions: (n.actions ?? []).filter((a) => isWebLink(a.url)).slice(0, MAX_ACTIONS),
  };
}

/** `3f9ac21b77e0d4c1…`: enough to tell two certificates apart at a glance. */
export function shortFingerprint(hex: string): string {
  return `${hex.slice(0, SHORT_FINGERPRINT_HEX)}…`;
}

/** A link a human may be sent to: absolute http(s) only (no `javascript:`, no `data:`). */
export function isWebLink(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:';
  } catch {
    return false;
  }
}

function factValue(value: string | number | boolean | null): string {
  if (value === null) return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

/** `verifiedAddresses` → `Verified addresses`. */
function labelFromKey(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
