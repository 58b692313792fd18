/**
 * GraphMailNotifier: e-mails each notification to its human through Microsoft Graph, sending
 * MIME (https://learn.microsoft.com/graph/api/user-sendmail, "send message in MIME format"):
 *
 *   POST /users/{senderUserId}/sendMail   Content-Type: text/plain   body: base64(MIME)
 *
 * MIME rather than the JSON `message` because JSON carries ONE body (text or HTML); MIME carries
 * a multipart/alternative with both, so clients that show text only still get the evidence and
 * the links. Graph answers 202 Accepted; the mail is saved to the sender's Sent Items.
 *
 * Recipients: `n.to.email`. A notification whose contact has no e-mail address is SKIPPED: the
 * call resolves and logs the reason at warn. A Teams-only contact is a configuration choice, not
 * a failure, and a PermanentError would be logged as a refusal on every notification.
 *
 * The Message-ID is derived from the notification id: when the bus redelivers and the mail is
 * sent again, mail clients that deduplicate on Message-ID show it once.
 *
 * Errors: 429, 5xx, timeouts and network or token-endpoint failures are RetryableError (the
 * message says what Retry-After asked); 401/403 are PermanentError saying the app registration
 * needs the Mail.Send application permission; other statuses and an unusable recipient address
 * are PermanentError. The bearer token is never logged nor put in an error.
 */
import { createHash } from 'node:crypto';
import type { Client } from '@microsoft/microsoft-graph-client';
import type { Clock } from '../../domain/clock';
import { systemClock } from '../../domain/clock';
import { PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { Notification, Notifier } from '../../ports/notifier';
import type { NotifierLogger } from '../teams/teams-workflow-notifier';
import { buildMime, MimeAddressError } from './mime';
import { notificationMail } from './notification-mail';

export { graphClient, type GraphClientOptions } from './graph-client';

const silentLogger: NotifierLogger = { info: () => undefined, warn: () => undefined };

export interface GraphMailNotifierOptions {
  /** A Graph client whose chain has no RetryHandler (graphClient builds one). */
  client: Client;
  /** The mailbox that sends: its object id or user principal name. */
  senderUserId: string;
  /** The From address; defaults to senderUserId when that is an address, else Graph fills it in. */
  from?: { name?: string; email: string };
  clock?: Clock;
  logger?: NotifierLogger;
}

export class GraphMailNotifier implements Notifier {
  readonly channel = 'email';
  private readonly clock: Clock;
  private readonly logger: NotifierLogger;
  private readonly from?: { name?: string; email: string };

  constructor(private readonly options: GraphMailNotifierOptions) {
    if (!options.senderUserId) throw new PermanentError('the e-mail sender (senderUserId) is empty; configure the mailbox certops sends from');
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.from = options.from ?? (options.senderUserId.includes('@') ? { name: 'certops', email: options.senderUserId } : undefined);
  }

  async send(n: Notification): Promise<void> {
    const where = { channel: this.channel, notificationId: n.id, sender: this.options.senderUserId };
    if (!n.to.email) {
      this.logger.warn({ ...where, to: n.to.name, reason: 'no-email-address' }, 'e-mail skipped: the contact has no e-mail address');
      return;
    }
    const mail = notificationMail(n);
    let mime: string;
    try {
      mime = buildMime({
        from: this.from ? { name: this.from.name, address: this.from.email } : undefined,
        to: [{ name: n.to.name, address: n.to.email }],
        subject: mail.subject,
        date: this.clock.now(),
        messageId: `${createHash('sha256').update(n.id).digest('hex').slice(0, 32)}@${messageIdDomain(this.from?.email)}`,
        headers: { 'X-Certops-Notification-Id': n.id, 'X-Certops-Tenant': n.tenantId },
        text: mail.text,
        html: mail.html,
      });
    } catch (err) {
      if (err instanceof MimeAddressError) throw new PermanentError(`e-mail for notification ${n.id} not sent: ${err.message}; fix the contact's address`, { cause: err });
      throw err;
    }

    try {
      await this.options.client
        .api(`/users/${encodeURIComponent(this.options.senderUserId)}/sendMail`)
        .header('Content-Type', 'text/plain')
        .post(Buffer.from(mime, 'utf8').toString('base64'));
    } catch (err) {
      const error = mapGraphError(err, n.id, this.options.senderUserId, this.clock.now());
      this.logger.warn({ ...where, status: statusOf(err), code: codeOf(err) }, 'Graph refused sendMail');
      throw error;
    }
    this.logger.info({ ...where, to: n.to.email }, 'Graph accepted the e-mail');
  }
}

/** Graph errors (GraphError: statusCode, code, headers) mapped to the taxonomy, with what to do. */
export function mapGraphError(err: unknown, notificationId: string, sender: string, now: Date): Error {
  const status = statusOf(err);
  const code = codeOf(err);
  const said = `${status}${code ? ` ${code}` : ''}`;
  const what = `Graph sendMail as ${sender} for notification ${notificationId}`;
  if (status === undefined || status <= 0) {
    return new RetryableError(`${what} failed before Graph answered (network or token): ${failureDetail(err)}; it will be retried`, { cause: err });
  }
  if (status === 429 || status >= 500) {
    const after = retryAfterSeconds(err, now);
    return new RetryableError(`${what} answered ${said}${after !== undefined ? `; Graph asked to retry after ${after} s` : ''}; it will be retried`, { cause: err });
  }
  if (status === 401 || status === 403) {
    return new PermanentError(
      `${what} answered ${said}: the app registration needs the Mail.Send application permission with admin consent` +
        ` (and, if an application access policy limits mailboxes, access to ${sender})`,
      { cause: err },
    );
  }
  if (status === 404) return new PermanentError(`${what} answered ${said}: no such mailbox; check senderUserId`, { cause: err });
  return new PermanentError(`${what} answered ${said}: ${errorMessage(err)}`, { cause: err });
}

/**
 * The SDK wraps a transport or credential failure in a GraphError whose message is the original
 * one, except when the original fails `instanceof Error` (another realm, e.g. under jest): then
 * the message is empty and the original sits in `body`.
 */
function failureDetail(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  const inner = body && typeof body === 'object' ? (body as { message?: unknown; code?: unknown }) : undefined;
  const parts = [errorMessage(err), typeof inner?.message === 'string' ? inner.message : '', typeof body === 'string' ? body : ''];
  return parts.find((p) => p.length > 0) ?? 'no detail';
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Retry-After is seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
function retryAfterSeconds(err: unknown, now: Date): number | undefined {
  const headers = (err as { headers?: { get?: (name: string) => string | null } }).headers;
  const value = typeof headers?.get === 'function' ? headers.get('retry-after') : null;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

function messageIdDomain(address: string | undefined): string {
  return address?.split('@')[1] ?? 'certops.invalid';
}
