/**
 * TeamsWorkflowNotifier: posts each notification as an Adaptive Card to a Teams Workflows URL
 * (Power Automate trigger "When a Teams webhook request is received", which replaces the retired
 * Office 365 connectors). The body is the message shape that trigger expects:
 *
 *   { "type": "message", "attachments": [ { "contentType": "application/vnd.microsoft.card.adaptive",
 *                                           "contentUrl": null, "content": <card> } ] }
 *
 * Workflows answers 202 Accepted once the run is queued: any 2xx means accepted. 408, 429, 5xx,
 * timeouts and network failures are RetryableError (the bus redelivers); other statuses are
 * PermanentError (the flow was deleted or turned off, or the URL is wrong).
 *
 * The URL is a secret: its `sig` query parameter is a SAS signature that lets anyone post into
 * the channel. Logs and errors name only its origin, and a network error's text is scrubbed of
 * the URL before it is wrapped. Plain http is refused except on loopback (tests), because the
 * signature would travel in clear.
 */
import { PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { Notification, Notifier } from '../../ports/notifier';
import { ADAPTIVE_CARD_CONTENT_TYPE, notificationCard } from './adaptive-card';

/** Workflows queues the run and answers at once; a slow answer means trouble on its side. */
export const DEFAULT_TEAMS_TIMEOUT_MS = 10_000;
/** "Try again later" rather than "this request is wrong" (RFC 9110 §15.5.9, RFC 6585 §4). */
const RETRYABLE_4XX = new Set([408, 429]);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** The pino-shaped subset this adapter logs with: object first, then a short message. */
export interface NotifierLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const silentLogger: NotifierLogger = { info: () => undefined, warn: () => undefined };

export interface TeamsWorkflowNotifierOptions {
  /** The workflow's HTTP trigger URL, including `sig=`; a secret, never logged. */
  url: string;
  timeoutMs?: number;
  logger?: NotifierLogger;
}

export class TeamsWorkflowNotifier implements Notifier {
  readonly channel = 'teams';
  private readonly url: URL;
  private readonly origin: string;
  private readonly timeoutMs: number;
  private readonly logger: NotifierLogger;

  constructor(options: TeamsWorkflowNotifierOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new PermanentError('the Teams workflow URL is not a URL; copy it again from the workflow trigger "When a Teams webhook request is received"');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
      throw new PermanentError(`the Teams workflow URL for ${url.origin} must use https: its signature would otherwise travel in clear`);
    }
    this.url = url;
    this.origin = url.origin;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TEAMS_TIMEOUT_MS;
    this.logger = options.logger ?? silentLogger;
  }

  async send(notification: Notification): Promise<void> {
    const body = JSON.stringify(teamsMessage(notification));
    const where = { channel: this.channel, origin: this.origin, notificationId: notification.id };
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
        // A redirect would resend the card (and nothing else) to wherever it points: misconfiguration.
        redirect: 'manual',
      });
    } catch (err) {
      const reason = this.scrub(describeFailure(err));
      this.logger.warn({ ...where, reason }, 'Teams workflow unreachable');
      throw new RetryableError(`Teams workflow at ${this.origin} unreachable for notification ${notification.id}: ${reason}; it will be retried`, {
        cause: new Error(reason),
      });
    }
    const status = response.status;
    const code = await errorCode(response);
    if (status >= 200 && status <= 299) {
      this.logger.info({ ...where, status }, 'Teams workflow accepted the card');
      return;
    }
    this.logger.warn({ ...where, status, code }, 'Teams workflow refused the card');
    const detail = code ? ` (${code})` : '';
    if (status >= 500 || RETRYABLE_4XX.has(status)) {
      const after = response.headers.get('retry-after');
      throw new RetryableError(
        `Teams workflow at ${this.origin} answered ${status}${detail} for notification ${notification.id}${after ? `, retry after ${this.scrub(after)}` : ''}; it will be retried`,
      );
    }
    throw new PermanentError(
      `Teams workflow at ${this.origin} rejected notification ${notification.id} with ${status}${detail}; check that the workflow exists and is turned on, and that the configured URL (with its signature) is current`,
    );
  }

  /** Removes the URL, its query and its signature from a text that may have seen them. */
  private scrub(text: string): string {
    let out = text;
    const secrets = [this.url.href, this.url.search, this.url.searchParams.get('sig') ?? ''].filter((s) => s.length > 0);
    for (const secret of secrets) out = out.split(secret).join('[redacted]');
    return out;
  }
}

/** The body the Workflows trigger expects: a Bot Framework message with one card attachment. */
export function teamsMessage(notification: Notification): object {
  return {
    type: 'message',
    attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, contentUrl: null, content: notificationCard(notification) }],
  };
}

/** Workflows and Logic Apps answer errors as `{ "error": { "code": ... } }`; the code is safe to repeat. */
async function errorCode(response: Response): Promise<string | undefined> {
  const text = await response.text().catch(() => ''); // also drains, releasing the connection
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** undici's "fetch failed" says nothing; the reason (ECONNREFUSED, a timeout) is in `cause`. */
function describeFailure(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const causeCode = (cause as { code?: unknown } | undefined)?.code;
  const parts = [errorMessage(err)];
  if (cause instanceof Error) parts.push(cause.message);
  if (typeof causeCode === 'string' && !parts.some((p) => p.includes(causeCode))) parts.push(causeCode);
  return parts.join(': ');
}
