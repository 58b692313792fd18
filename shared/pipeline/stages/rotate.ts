/**
 * Rotate: observes an approved renewal and replaces the certificate with no downtime, through the
 * rotation engine (../rotation-engine.ts): issue, deploy to every target (a canary first on a
 * large fleet), verify by handshake that every address of every endpoint serves the new
 * certificate, commit; or restore the previous one, verify it is served again, and escalate.
 * Every step is persisted, so a crash or a redelivery resumes the rotation where it stopped.
 *
 * Idempotency key: the rotation id `<sweepId>:<certificateId>` (one request, one rotation).
 */
import type { CloudEvent } from '../../domain/events';
import type { GatedRenewal } from '../event-data';
import { rotateCertificate } from '../rotation-engine';
import type { StageContext } from '../stage';
import { assertOwnCertificate, scopedTenant } from '../tenant-scope';
import { recordOutcome } from '../governance';
import { EVENT_TYPES } from '../topology';

export async function rotate(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const request = event.data as GatedRenewal;
  const tenant = scopedTenant(ctx);
  assertOwnCertificate(ctx, request.certificateId);
  const managed = tenant.managedCertificates!.find((m) => m.id === request.certificateId)!;
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
