/**
 * The Adaptive Card (schema 1.5, https://adaptivecards.io/explorer/) that tells the assigned
 * human in Teams what certops did, why, the evidence, and offers the L1/L2 actions as buttons.
 *
 * Layout, top to bottom: a banner in the severity's style (kind and severity, then the headline);
 * "Why" (the notification's text); the evidence as a FactSet (fingerprints shortened there); the
 * full SHA-256 fingerprints in monospace, so they can be compared character by character with
 * `openssl x509 -fingerprint -sha256`; one Action.OpenUrl per action link.
 *
 * Pure: the same notification always gives the same card. No images (nothing is fetched from
 * elsewhere when the card renders), no `msteams` extension (the 1.5 schema forbids unknown
 * top-level properties). Every text that reaches a Markdown-rendering field (TextBlock.text,
 * Fact.title, Fact.value) is escaped, so a title with `_` or `[x](y)` shows as written.
 */
import type { Notification, NotificationAction } from '../../ports/notifier';
import { CARD_TEXT_LIMIT, notificationView } from './notification-evidence';

export const ADAPTIVE_CARD_VERSION = '1.5';
export const ADAPTIVE_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';

type CardElement = Record<string, unknown> & { type: string };

/** Container style and text colour per severity (schema 1.5 `ContainerStyle`, `Colors`). */
const SEVERITY_STYLE: Record<Notification['severity'], { container: string; color: string }> = {
  info: { container: 'accent', color: 'accent' },
  warning: { container: 'warning', color: 'warning' },
  critical: { container: 'attention', color: 'attention' },
};

/** Approve is the affirmative choice; Deny refuses a change (schema 1.2+ `ActionStyle`). */
const ACTION_STYLE: Partial<Record<NotificationAction['label'], 'positive' | 'destructive'>> = {
  Approve: 'positive',
  Deny: 'destructive',
};

const ACTION_TOOLTIP: Record<NotificationAction['label'], string> = {
  Review: 'See what certops did and the evidence',
  Override: 'Undo or change what certops did',
  Escalate: 'Hand this to the escalation contact',
  Approve: 'Let certops go ahead',
  Deny: 'Stop certops from going ahead',
  Open: 'Open in certops',
};

export function notificationCard(n: Notification): object {
  const view = notificationView(n);
  const style = n.kind === 'rotation-completed' && n.severity === 'info' ? { container: 'good', color: 'good' } : SEVERITY_STYLE[n.severity];
  const why = view.why.length > CARD_TEXT_LIMIT ? `${view.why.slice(0, CARD_TEXT_LIMIT)}…` : view.why;

  const body: CardElement[] = [
    {
      type: 'Container',
      style: style.container,
      bleed: true,
      items: [
        { type: 'TextBlock', text: escapeMarkdown(`${view.severityLabel} · ${kindLabel(n.kind)}`), color: style.color, weight: 'bolder', size: 'small', wrap: true },
        { type: 'TextBlock', text: escapeMarkdown(view.headline), style: 'heading', size: 'medium', weight: 'bolder', wrap: true },
      ],
    },
    { type: 'TextBlock', text: 'Why', weight: 'bolder', spacing: 'medium', wrap: true },
    { type: 'TextBlock', text: escapeMarkdown(why), wrap: true },
    { type: 'TextBlock', text: 'Evidence', weight: 'bolder', spacing: 'medium', wrap: true },
    { type: 'FactSet', facts: view.facts.map((f) => ({ title: escapeMarkdown(f.label), value: escapeMarkdown(f.value) })) },
  ];
  if (view.fingerprints.length > 0) {
    body.push({
      type: 'Container',
      spacing: 'medium',
      items: [
        { type: 'TextBlock', text: 'Full fingerprints (SHA-256)', weight: 'bolder', wrap: true },
        ...view.fingerprints.flatMap((f): CardElement[] => [
          { type: 'TextBlock', text: escapeMarkdown(f.label), isSubtle: true, size: 'small', spacing: 'small', wrap: true },
          { type: 'TextBlock', text: f.hex, fontType: 'monospace', spacing: 'none', wrap: true },
        ]),
      ],
    });
  }
  if (view.actions.length === 0) {
    body.push({ type: 'TextBlock', text: 'No action links: certops has no public API address configured.', isSubtle: true, size: 'small', wrap: true });
  }

  return {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: ADAPTIVE_CARD_VERSION,
    // Shown by hosts that cannot render 1.5, and read in notifications/previews: plain text.
    fallbackText: `${view.severityLabel}: ${view.headline}`,
    body,
    actions: view.actions.map((a) => ({
      type: 'Action.OpenUrl',
      title: a.label,
      url: a.url,
      tooltip: ACTION_TOOLTIP[a.label],
      ...(ACTION_STYLE[a.label] ? { style: ACTION_STYLE[a.label] } : {}),
    })),
  };
}

/**
 * Escapes the Markdown subset Adaptive Cards render (bold, italic, links, lists; Teams adds code,
 * strike-through and headings) with CommonMark backslash escapes, which are valid before any ASCII
 * punctuation. `{{` is broken with a zero-width space: hosts expand `{{DATE(...)}}` functions.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\\`*_[\]()~#<>|]/g, '\\$&')
    .replace(/^(\s*)([-+])(?=\s)/gm, '$1\\$2')
    .replace(/^(\s*\d+)([.)])(?=\s)/gm, '$1\\$2')
    .replace(/\{\{/g, '{\u200b{');
}

function kindLabel(kind: Notification['kind']): string {
  const words = kind.replace(/-/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
