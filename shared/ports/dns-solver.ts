/**
 * DnsSolver: publishes and removes the TXT record of an ACME DNS-01 challenge (RFC 8555 §8.4)
 * in a zone certops can write (the client's zone, or the zone `_acme-challenge` is delegated to
 * by CNAME). One adapter per DNS provider (challtestsrv for tests; Azure DNS, RFC 2136 later).
 *
 * Contract:
 * - `present` makes `value` one of the TXT values at `fqdn` and resolves when the provider has
 *   accepted it (propagation to every authoritative server is the provider's or caller's concern).
 *   It is idempotent: presenting the same value twice leaves one record.
 * - `cleanup` removes what `present` published for `fqdn`/`value`; it is idempotent and succeeds
 *   when there is nothing to remove. Callers always pair it with `present` (in a `finally`).
 * - Both honour `options.abortSignal` (reject with the signal's reason once aborted).
 * - Transient provider failures throw RetryableError; refusals (no rights on the zone, zone not
 *   found) throw PermanentError saying which zone and what to grant or delegate.
 */
export interface DnsChallengeRecord {
  /** Fully qualified record name, e.g. `_acme-challenge.www.example.com` (no trailing dot needed). */
  fqdn: string;
  /** The TXT value: base64url(SHA-256(key authorization)), RFC 8555 §8.4. */
  value: string;
}

export interface DnsSolver {
  present(record: DnsChallengeRecord, options?: { abortSignal?: AbortSignal }): Promise<void>;
  cleanup(record: DnsChallengeRecord, options?: { abortSignal?: AbortSignal }): Promise<void>;
}
