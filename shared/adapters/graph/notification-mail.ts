/**
 * The e-mail rendering of a notification: a subject line, a plain-text body and an HTML body that
 * say what the Teams card says (notificationView is shared): what was done, why, the evidence
 * with full fingerprints, and the action links.
 *
 * The HTML is self-contained: inline styles only, no images or stylesheets fetched from
 * elsewhere (mail clients block them, and they would tell a tracker when the mail was read).
 * Every notification text is HTML-escaped; links are only absolute http(s) URLs.
 */
import type { Notification } from '../../ports/notifier';
import { notificationView, type NotificationView } from '../teams/notification-evidence';

export interface NotificationMail {
  subject: string;
  text: string;
  html: string;
}

/** Severity colours close to the Teams ones, readable on white. */
const SEVERITY_COLOUR: Record<Notification['severity'], string> = {
  info: '#0f6cbd',
  warning: '#bc4b09',
  critical: '#c50f1f',
};

export function notificationMail(n: Notification): NotificationMail {
  const view = notificationView(n);
  const marker = n.severity === 'info' ? '' : `[${view.severityLabel}] `;
  return {
    subject: `${marker}${n.title} (certops, ${n.tenantId})`,
    text: plainText(view),
    html: html(view, SEVERITY_COLOUR[n.severity]),
  };
}

function plainText(view: NotificationView): string {
  const width = Math.max(...view.facts.map((f) => f.label.length));
  const lines = [
    `${view.severityLabel.toUpperCase()}: ${view.headline}`,
    '',
    'Why',
    view.why,
    '',
    'Evidence',
    ...view.facts.map((f) => `  ${`${f.label}:`.padEnd(width + 1)} ${f.value}`),
  ];
  if (view.fingerprints.length) lines.push('', 'Full fingerprints (SHA-256)', ...view.fingerprints.map((f) => `  ${f.label}: ${f.hex}`));
  lines.push('');
  if (view.actions.length) lines.push('What you can do', ...view.actions.map((a) => `  ${a.label}: ${a.url}`));
  else lines.push('No action links: certops has no public API address configured.');
  return `${lines.join('\n')}\n`;
}

function html(view: NotificationView, colour: string): string {
  const rows = view.facts
    .map((f) => `<tr><th align="left" style="padding:2px 12px 2px 0;font-weight:600;vertical-align:top">${esc(f.label)}</th><td style="padding:2px 0">${esc(f.value)}</td></tr>`)
    .join('\n');
  const fingerprints = view.fingerprints
    .map((f) => `<p style="margin:4px 0"><span style="color:#616161">${esc(f.label)}</span><br><code style="font-family:Consolas,Menlo,monospace;word-break:break-all">${esc(f.hex)}</code></p>`)
    .join('\n');
  const actions = view.actions.length
    ? view.actions
        .map((a) => `<a href="${esc(a.url)}" style="display:inline-block;margin:0 8px 8px 0;padding:6px 14px;border:1px solid ${colour};border-radius:4px;color:${colour};text-decoration:none">${esc(a.label)}</a>`)
        .join('\n')
    : '<p style="color:#616161">No action links: certops has no public API address configured.</p>';
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${esc(view.headline)}</title></head>
<body style="margin:0;padding:16px;font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#242424">
<div style="border-left:6px solid ${colour};padding:4px 0 4px 12px">
<p style="margin:0;color:${colour};font-weight:600">${esc(view.severityLabel)}</p>
<h1 style="margin:4px 0 0;font-size:18px">${esc(view.headline)}</h1>
</div>
<h2 style="font-size:15px;margin:16px 0 4px">Why</h2>
<p style="margin:0;white-space:pre-line">${esc(view.why)}</p>
<h2 style="font-size:15px;margin:16px 0 4px">Evidence</h2>
<table role="presentation" style="border-collapse:collapse">
${rows}
</table>
${view.fingerprints.length ? `<h2 style="font-size:15px;margin:16px 0 4px">Full fingerprints (SHA-256)</h2>\n${fingerprints}` : ''}
<h2 style="font-size:15px;margin:16px 0 4px">What you can do</h2>
${actions}
</body>
</html>
`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
