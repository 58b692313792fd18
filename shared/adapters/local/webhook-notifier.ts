/**
 * WebhookNotifier: POSTs each notification as JSON to the MSP's URL, signed the way Stripe and
 * GitHub sign webhooks, so that a receiver can check origin and integrity and reject replays:
 *
 *   x-certops-id:        <notification id>        (receivers deduplicate on it)
 *   x-certops-timestamp: <unix seconds>
 *   x-certops-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 *
 * Binding the timestamp into the MAC is what makes the replay window enforceable: an attacker who
 * captured a request cannot refresh its timestamp without the secret.
 *
 * The body is the notification's JSON plus `auditHead`: the tenant's latest signed audit head
 * (domain/signed-head.ts) when the certops sending it keeps a head log, so every receiver is a
 * witness of where the tenant's audit stood; a copy saved as a file checks the audit later with
 * `certops audit verify --head FILE` (the way Certificate Transparency monitors keep signed tree
 * heads). A head log that cannot be read does not hold the notification back: the head is sent as
 * null, and the next notification carries it.
 *
 * Errors: network failures, timeouts, 408, 429 and 5xx are RetryableError; other 3xx/4xx are
 * PermanentError (the URL or the receiver's configuration is wrong). Messages name only the URL's
 * origin (webhook URLs often carry a token in the path) and never the secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../domain/clock';
import type { SignedHead } from '../../domain/signed-head';
import { systemClock } from '../../domain/clock';
import { PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { Notification, Notifier } from '../../ports/notifier';

/** Long enough for a slow receiver, short enough that a hung one does not hold the notify stage. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** Stripe's default tolerance: five minutes covers clock skew and queueing, not a stored replay. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;
/** Statuses that mean "try again later" rather than "this request is wrong" (RFC 9110 §15.5.9, RFC 6585 §4). */
const RETRYABLE_4XX = new Set([408, 429]);

export interface WebhookNotifierOptions {
  url: string;
  /** Shared HMAC secret; never logged nor put in an error. */
  secret: string;
  timeoutMs?: number;
  clock?: Clock;
  /** The tenant's latest signed audit head, sent with every notification as `auditHead`. */
  latestAuditHead?: (tenantId: string) => Promise<SignedHead | null>;
}

/** The JSON body a receiver gets. */
export type WebhookPayload = Notification & { auditHead?: SignedHead | null };

export class WebhookNotifier implements Notifier {
  readonly channel = 'webhook';
  private readonly timeoutMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: WebhookNotifierOptions) {
    if (!options.secret) throw new PermanentError('the webhook secret is empty; set the environment variable the configuration names');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
    this.clock = options.clock ?? systemClock;
  }

  /** The same channel, sending each tenant's latest signed audit head along (composition roots). */
  withAuditHeads(latestAuditHead: (tenantId: string) => Promise<SignedHead | null>): WebhookNotifier {
    return new WebhookNotifier({ ...this.options, clock: this.clock, latestAuditHead });
  }

  async send(notification: Notification): Promise<void> {
    const payload: WebhookPayload = this.options.latestAuditHead
      ? { ...notification, auditHead: await this.options.latestAuditHead(notification.tenantId).catch(() => null) }
      : notification;
    const body = JSON.stringify(payload);
    const timestamp = Math.floor(this.clock.now().getTime() / 1000).toString();
    const where = origin(this.options.url);
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-certops-id': notification.id,
          'x-certops-timestamp': timestamp,
          'x-certops-signature': signWebhook(this.options.secret, timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
        // A redirect would resend the signed body to wherever it points: treat it as misconfiguration.
        redirect: 'manual',
      });
      await response.arrayBuffer().catch(() => undefined); // drain so the connection is released
    } catch (err) {
      throw new RetryableError(`webhook ${where} unreachable for notification ${notification.id}: ${errorMessage(err)}; it will be retried`, { cause: err });
    }
    const status = response.status;
    if (status >= 200 && status <= 299) return;
    if (status >= 500 || RETRYABLE_4XX.has(status)) {
      throw new RetryableError(`webhook ${where} answered ${status} for notification ${notification.id}; it will be retried`);
    }
    throw new PermanentError(`webhook ${where} rejected notification ${notification.id} with ${status}; check the URL and the receiver's secret`);
  }
}

/** The `x-certops-signature` header value for `body` sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: string | number, body: string | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return `sha256=${mac}`;
}

/**
 * For receivers: true when `header` is the signature of `body` at `timestamp` under `secret` and
 * the timestamp lies within `toleranceSeconds` of `now`. Compares in constant time.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | number,
  body: string | Buffer,
  header: string | undefined,
  now: Date,
  toleranceSeconds: number = DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
): boolean {
  const ts = String(timestamp);
  if (!header || !/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(now.getTime() / 1000 - Number(ts)) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, ts, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/** `notifiers` with every signed webhook among them sending the tenant's latest audit head. */
export function withAuditHeads(notifiers: readonly Notifier[], latestAuditHead: (tenantId: string) => Promise<SignedHead | null>): Notifier[] {
  return notifiers.map((n) => (n instanceof WebhookNotifier ? n.withAuditHeads(latestAuditHead) : n));
}
