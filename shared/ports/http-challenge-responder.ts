/**
 * HttpChallengeResponder: makes `http://<domain>/.well-known/acme-challenge/<token>` answer the
 * key authorization for an ACME HTTP-01 challenge (RFC 8555 §8.3), through whatever serves the
 * domain (a webroot, a hook on the deployment target, or an in-process server in tests).
 *
 * Contract:
 * - `present` resolves once the token is being served; it is idempotent per token.
 * - `cleanup` stops serving the token; idempotent, succeeds when the token is unknown. Callers
 *   always pair it with `present` (in a `finally`).
 * - Both honour `options.abortSignal`. Transient failures throw RetryableError; a target that can
 *   never serve the challenge throws PermanentError.
 * The key authorization is not a secret (the CA fetches it over plain HTTP) but tokens are not logged.
 */
export interface HttpChallengeResponder {
  present(token: string, keyAuthorization: string, options?: { abortSignal?: AbortSignal }): Promise<void>;
  cleanup(token: string, options?: { abortSignal?: AbortSignal }): Promise<void>;
}
