/**
 * How AcmeIssuer retries, and how it names what went wrong: the schedules as data with their
 * reasoning (CONVENTIONS §6), and the mapping of CA problem documents (RFC 8555 §6.7) onto the
 * error taxonomy, keeping the CA's own words.
 */
import { CertopsError, PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { CertificateRequest } from '../../ports/issuer';
import { AcmeProblemError } from './acme-transport';

/**
 * badNonce: retry at once with the nonce the error carried (RFC 8555 §6.5). Each retry is cheap;
 * at a 30% rejection rate (Pebble's storm test) 10 retries fail one request in ~170,000.
 */
export const BAD_NONCE_RETRIES = 10;
/**
 * Whole-attempt retries for transient failures (serverInternal, network, badNonce exhausted):
 * a few, spaced out, with full jitter so a fleet does not return in step. Beyond these the error
 * is thrown as RetryableError and the bus's redelivery schedule takes over.
 */
export const TRANSIENT_RETRY_DELAYS_MS = [1_000, 4_000] as const;
/**
 * 429/rateLimited: honour Retry-After (RFC 8555 §6.6). A short wait is done inline; a longer one
 * (Let's Encrypt answers hours) is thrown as RetryableError naming the time, so a worker is not
 * held and the scheduler can try the other certificates meanwhile.
 */
export const RATE_LIMIT_MAX_INLINE_WAIT_MS = 30_000;
/**
 * Polling of challenges and orders while the CA validates: acme-client's default first delay is
 * 5 s; real CAs validate in 1–10 s, Pebble with PEBBLE_VA_NOSLEEP in milliseconds.
 */
export const DEFAULT_POLL_BACKOFF = { minMs: 500, maxMs: 10_000, attempts: 20 } as const;

/** RFC 8555 §6.7 problem types the CA uses when retrying the same request cannot help. */
export const PERMANENT_PROBLEMS = new Set([
  'rejectedIdentifier', 'unauthorized', 'incorrectResponse', 'caa', 'dns', 'malformed', 'badCSR',
  'unsupportedIdentifier', 'externalAccountRequired', 'badPublicKey', 'badSignatureAlgorithm',
  'invalidContact', 'unsupportedContact', 'userActionRequired', 'accountDoesNotExist', 'badRevocationReason',
]);

/** How long to wait before another attempt, or undefined when the error is final here. */
export function retryDelayMs(err: unknown, attempt: number): number | undefined {
  if (err instanceof AcmeProblemError && err.shortType === 'rateLimited') {
    const wait = err.retryAfterMs ?? TRANSIENT_RETRY_DELAYS_MS[0];
    return attempt === 0 && wait <= RATE_LIMIT_MAX_INLINE_WAIT_MS ? wait : undefined;
  }
  if (!(toCertopsError(err, '') instanceof RetryableError) || attempt >= TRANSIENT_RETRY_DELAYS_MS.length) return undefined;
  return Math.round(Math.random() * TRANSIENT_RETRY_DELAYS_MS[attempt]);
}

/**
 * An ACME operation other than issuance, for the messages: what was attempted, and what to do
 * when the CA refuses it.
 */
export interface AcmeOperation {
  what: string;
  whenRefused: string;
}

/** Maps anything thrown during issuance (or `operation`) onto the taxonomy, keeping the CA's words. */
export function toCertopsError(err: unknown, directoryUrl?: string, request?: CertificateRequest | AcmeOperation): CertopsError {
  if (err instanceof CertopsError) return err;
  const operation = request && 'what' in request ? request : undefined;
  const what = operation?.what ?? (request && 'certificateId' in request ? `ACME issuance of ${request.certificateId} (tenant ${request.tenantId}) at ${directoryUrl ?? 'the CA'}` : 'ACME issuance');
  if (err instanceof AcmeProblemError) {
    const short = err.shortType;
    if (short === 'rateLimited') {
      const when = err.retryAfterMs !== undefined ? ` retry after ${Math.ceil(err.retryAfterMs / 1000)} s` : ' retry later';
      return new RetryableError(`${what} was rate limited by the CA: ${err.detail};${when}`, { cause: err });
    }
    if (PERMANENT_PROBLEMS.has(short) || (err.status >= 400 && err.status < 500 && short !== 'badNonce' && short !== 'network')) {
      const next = short === 'externalAccountRequired' || /external account/i.test(err.detail)
        ? "check the tenant's External Account Binding kid and HMAC key for this CA"
        : operation?.whenRefused ?? 'fix the names, DNS or account and order again';
      return new PermanentError(`${what} refused by the CA: ${err.detail} (${err.type}); ${next}`, { cause: err });
    }
    return new RetryableError(`${what} failed transiently: ${err.detail} (${err.type}); it will be retried`, { cause: err });
  }
  return new RetryableError(`${what} failed: ${errorMessage(err)}; it will be retried`, { cause: err });
}

export function abortableSleep(ms: number, abortSignal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    abortSignal?.throwIfAborted();
    const timer = setTimeout(() => {
      abortSignal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortSignal?.reason);
    };
    abortSignal?.addEventListener('abort', onAbort, { once: true });
  });
}
