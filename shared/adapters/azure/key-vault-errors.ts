/**
 * One place that turns what the Key Vault SDKs throw into certops' error taxonomy
 * (domain/errors.ts, CONVENTIONS §5):
 * - 429, 5xx, the service's throttling codes and transport failures (reset, refused, timed out)
 *   → RetryableError: the bus redelivers later.
 * - any other 4xx → PermanentError, with what to do next (401/403: the identity's role or access
 *   policy; 400: the request itself; 409: the name is held by a deleted, recoverable object).
 *
 * The SDK's RestError carries the request (URL, headers and the body, which may hold a secret or a
 * private key) and the response. It is never passed on as `cause`: the cause is a plain Error that
 * holds only status, service error code and the service's message, so no log of the error chain
 * can print a value.
 */
import { PermanentError, RetryableError, type CertopsError } from '../../domain/errors';

/** Key Vault refused the request (a 4xx other than throttling): permanent, with the status and service code to branch on. */
export class KeyVaultRefusedError extends PermanentError {
  constructor(
    message: string,
    readonly status: number,
    readonly serviceCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the SDK's RestError exposes that this mapping reads (duck-typed: no import of core-rest-pipeline). */
interface RestErrorLike {
  name?: string;
  message?: string;
  statusCode?: number;
  code?: string;
  details?: unknown;
}

/** Transport failures before any HTTP status: worth another attempt. */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'REQUEST_SEND_ERROR', 'ENOTFOUND']);
/** Key Vault answers throttling with 429; older front ends also used these codes. */
const THROTTLING_CODES = new Set(['Throttled', 'TooManyRequests']);

export function statusOf(err: unknown): number | undefined {
  const status = (err as RestErrorLike | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The service error code (`error.code`), e.g. 'CertificateNotFound', 'SecretNotFound', 'Forbidden'. */
export function serviceCode(err: unknown): string | undefined {
  const details = (err as RestErrorLike | null)?.details as { error?: { code?: string } } | undefined;
  return details?.error?.code ?? (err as RestErrorLike | null)?.code;
}

/** The inner error code: Key Vault says 'SecretDisabled' there when a disabled secret version is read. */
export function innerCode(err: unknown): string | undefined {
  const details = (err as RestErrorLike | null)?.details as
    | { error?: { innerError?: { code?: string }; innererror?: { code?: string } } }
    | undefined;
  return details?.error?.innerError?.code ?? details?.error?.innererror?.code;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** 403 with inner code SecretDisabled: the version exists but is disabled (not an access problem). */
export function isDisabledSecret(err: unknown): boolean {
  return statusOf(err) === 403 && innerCode(err) === 'SecretDisabled';
}

/**
 * Maps an SDK failure of `operation` (a short phrase: `import certificate "www" into https://…`) to
 * RetryableError or PermanentError. Errors that are already certops errors pass through.
 */
export function mapKeyVaultError(err: unknown, operation: string): CertopsError {
  if (err instanceof PermanentError || err instanceof RetryableError) return err;
  const status = statusOf(err);
  const code = serviceCode(err);
  const serviceMessage = redactedMessage(err);
  const cause = new Error(`${status ?? 'no status'} ${code ?? ''}: ${serviceMessage}`.trim());
  const said = `Key Vault could not ${operation}: ${status ?? code ?? 'transport error'}${code && status ? ` ${code}` : ''} (${serviceMessage})`;

  if (status === undefined) {
    if (code && TRANSIENT_CODES.has(code)) return new RetryableError(`${said}; the vault was not reachable, certops will retry`, { cause });
    return new PermanentError(`${said}; this is not an HTTP answer from Key Vault: check the vault URL and the client setup`, { cause });
  }
  if (status === 429 || status >= 500 || (code && THROTTLING_CODES.has(code))) {
    return new RetryableError(`${said}; Key Vault is throttling or unavailable, certops will retry`, { cause });
  }
  return new KeyVaultRefusedError(`${said}; ${nextStep(status)}`, status, code, { cause });
}

function nextStep(status: number): string {
  switch (status) {
    case 401:
    case 403:
      return "grant certops' identity the needed Key Vault role (Key Vault Certificates Officer / Secrets Officer) or access policy, then retry";
    case 404:
      return 'check the vault URL and the object name in the configuration';
    case 409:
      return 'the name is held by another operation or by a deleted object that is still recoverable: wait for the operation, or recover or purge the deleted object';
    default:
      return 'the request was refused as invalid: check the certificate material and the target configuration';
  }
}

/** The service message, cut short; it never contains a value, but keep errors readable. */
function redactedMessage(err: unknown): string {
  const message = (err as RestErrorLike | null)?.message ?? String(err);
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}
