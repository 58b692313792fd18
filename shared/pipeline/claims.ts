/**
 * "Claim, then act" with the claim given back when the act fails in a way a retry may fix:
 * a redelivered message must never act twice, and must not find its own failed attempt's claim
 * and silently do nothing. A permanent failure keeps the claim (the input can never succeed).
 *
 * Not covered: a process that dies between claim and completion leaves the claim taken; the
 * persisted rotation state machine (issue 4) resumes such work from its recorded step.
 */
import { NeedsHumanError, PermanentError } from '../domain/errors';
import type { CertificateStore } from '../ports/certificate-store';

export type Claimed<T> = { claimed: true; value: T } | { claimed: false };

export async function underClaim<T>(store: CertificateStore, tenantId: string, key: string, work: () => Promise<T>): Promise<Claimed<T>> {
  if (!(await store.claim(tenantId, key))) return { claimed: false };
  try {
    return { claimed: true, value: await work() };
  } catch (err) {
    if (!(err instanceof PermanentError || err instanceof NeedsHumanError)) await store.releaseClaim(tenantId, key);
    throw err;
  }
}
