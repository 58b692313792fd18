/**
 * Rotate: observes an approved renewal and replaces the certificate with no downtime, through the
 * rotation engine (../rotation-engine.ts): issue, deploy to every target (a canary first on a
 * large fleet), verify by handshake that every address of every endpoint serves the new
 * certificate, commit; or restore the previous one, verify it is served again, and escalate.
 * Every step is persisted, so a crash or a redelivery resumes the rotation where it stopped.
 *
 * Idempotency key: the rotation id `<sweepId>:<certificateId>` (one request, one rotation). A
 * request gated at L2 rotates only while its approval is recorded as approved.
 */
import type { CloudEvent } from '../../domain/events';
import type { GatedRenewal } from '../event-data';
import { rotateCertificate } from '../rotation-engine';
import type { StageContext } from '../stage';
import { assertOwnCertificate, scopedTenant } from '../tenant-scope';
import { approvalRefusal, recordOutcome } from '../governance';
import { EVENT_TYPES } from '../topology';

export async function rotate(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const request = event.data as GatedRenewal;
  const tenant = scopedTenant(ctx);
  assertOwnCertificate(ctx, request.certificateId);
  const managed = tenant.managedCertificates!.find((m) => m.id === request.certificateId)!;
  // Gated at L2: only an approval recorded as approved, now, lets it through (a request published
  // before a denial, or replayed, is refused). Settled, not retried: retrying cannot approve it.
  const refusal = await approvalRefusal(ctx.deps, ctx.tenantId, request);
  if (refusal) {
    ctx.log.warn({ certificateId: managed.id, refusal }, 'renewal needs an approval that is not granted; not rotating');
    await ctx.audit('rotation.refused', { certificateId: managed.id, sweepId: request.sweepId, level: request.decision.level, reason: refusal });
    return [];
  }
  const events = await rotateCertificate(ctx, tenant, managed, {
    rotationId: `${request.sweepId}:${managed.id}`,
    reason: request.reason,
    observedAt: request.observedAt,
    decision: request.decision,
    fromFingerprint: request.currentFingerprint,
    fromNotAfter: request.notAfter,
    replaces: request.replaces ?? null,
  });
  // A committed rotation is an accepted action until a human overrides it (override learning).
  // Counted for the rotation that committed, which may be another request's (one open rotation per certificate).
  const committed = events.find((e) => e.type === EVENT_TYPES.rotationCompleted);
  if (committed) {
    await recordOutcome({ deps: ctx.deps, tenant, audit: ctx.audit, log: ctx.log }, committed.id.replace(/:committed$/, ''), 'accepted', `stage:${ctx.stage}`);
  }
  return events;
}
