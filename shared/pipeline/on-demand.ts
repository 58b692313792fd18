/**
 * What an operator asks of one certificate outside any sweep: renew it now, or undo its last
 * rotation.
 *
 * An operator's renewal of one managed certificate, outside any sweep (a suspected key
 * compromise, a CA change, a forced re-issue). It enters the pipeline where analyze would have
 * put it, as a `certops.renewal.requested.v1`, so it passes the same gate and the same rotation
 * engine as a scheduled renewal.
 *
 * The certificate being replaced is the one certops last deployed, or else the one its endpoints
 * were last seen serving: the rotation verifies that one is served again if it has to roll back.
 */
import { randomUUID } from 'node:crypto';
import { PermanentError } from '../domain/errors';
import { KEY_COMPROMISE_REASON } from '../domain/rotation';
import { cloudEvent, type CloudEvent } from '../domain/events';
import type { Clock } from '../domain/clock';
import type { CertificateStore } from '../ports/certificate-store';
import type { TenantDirectory } from '../ports/tenant-directory';
import { endpointRef } from './endpoints';
import type { RenewalRequested } from './event-data';
import { EVENT_TYPES } from './topology';
import { overrideRotation } from './rotation-engine';
import { recordOutcome } from './governance';
import { stageContext, type PipelineDeps } from './stage';

export interface OnDemandRenewal {
  tenantId: string;
  certificateId: string;
  /** Why, in the operator's words; recorded as `Requested:<reason>` (`KeyCompromise:<reason>`). */
  reason: string;
  /**
   * The current key is compromised: once the new certificate is committed nothing of the old key
   * is kept (no rollback window) and the old certificate is revoked through its CA.
   */
  keyCompromise?: boolean;
}

export async function onDemandRenewal(
  deps: { tenants: TenantDirectory; store: CertificateStore; clock: Clock },
  request: OnDemandRenewal,
): Promise<CloudEvent<RenewalRequested>> {
  const tenant = deps.tenants.get(request.tenantId);
  if (!tenant) throw new PermanentError(`tenant ${request.tenantId} is not configured`);
  const managed = tenant.managedCertificates?.find((m) => m.id === request.certificateId);
  if (!managed) {
    const known = (tenant.managedCertificates ?? []).map((m) => m.id);
    throw new PermanentError(`tenant ${request.tenantId} has no managed certificate ${request.certificateId} (managed: ${known.join(', ') || 'none'})`);
  }
  const endpoints = tenant.endpoints.filter((e) => e.managed === managed.id).map(endpointRef);
  const state = await deps.store.getManagedState(request.tenantId, managed.id);
  let currentFingerprint = state?.deployedFingerprint ?? null;
  let notAfter = state?.notAfter ?? null;
  if (!currentFingerprint) {
    const ids = new Set(endpoints.map((e) => e.endpointId));
    const seen = (await deps.store.listObservations(request.tenantId))
      .filter((o) => ids.has(o.endpointId) && o.certificate)
      .sort((a, b) => b.observedAt.localeCompare(a.observedAt))[0];
    currentFingerprint = seen?.certificate?.fingerprintSha256 ?? null;
    notAfter = seen?.certificate?.notAfter ?? null;
  }
  const now = deps.clock.now();
  const sweepId = `renew-${now.toISOString().replace(/[:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  const data: RenewalRequested = {
    sweepId,
    certificateId: managed.id,
    endpointId: endpoints[0]?.endpointId ?? managed.id,
    currentFingerprint,
    observedAt: now.toISOString(),
    notAfter,
    status: null,
    reason: `${request.keyCompromise ? KEY_COMPROMISE_REASON : 'Requested'}:${request.reason}`,
    replaces: null,
  };
  return cloudEvent({
    id: `${sweepId}:renew:${managed.id}`,
    type: EVENT_TYPES.renewalRequested,
    source: '/certops/operator',
    time: now,
    tenantId: request.tenantId,
    correlationId: sweepId,
    subject: managed.id,
    data,
  });
}

export interface OnDemandOverride {
  tenantId: string;
  certificateId: string;
  reason: string;
  /** Who decided: `human:<email>` from the HTTP API, `cli:<user>` from the command line. */
  actor: string;
  /** The decider's stable id (the token's `oid` or `sub`): names can repeat, this cannot. */
  subject?: string;
}

/**
 * A human's override of a certificate's last committed rotation, run by the rotation engine in
 * the caller's process (an override is a decision, not a queued job); returns the events the
 * engine emits (the failure notification to the escalation contact).
 */
export async function runOverride(deps: PipelineDeps, request: OnDemandOverride): Promise<CloudEvent[]> {
  const tenant = deps.tenants.get(request.tenantId);
  const managed = tenant?.managedCertificates?.find((m) => m.id === request.certificateId);
  if (!tenant || !managed) throw new PermanentError(`tenant ${request.tenantId} has no managed certificate ${request.certificateId}`);
  const now = deps.clock.now();
  const correlationId = `override-${now.toISOString().replace(/[:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  const trigger = cloudEvent({
    id: correlationId,
    type: 'certops.override.requested.v1',
    source: `/certops/${request.actor}`,
    time: now,
    tenantId: tenant.id,
    correlationId,
    subject: managed.id,
    data: { certificateId: managed.id, reason: request.reason, actor: request.actor },
  });
  const log = deps.logger.child({ stage: 'rotate', tenantId: tenant.id, correlationId });
  // The human decided: the records of what follows from it name the human as the actor.
  const ctx = { ...stageContext('rotate', trigger, deps, log), audit: async (kind: string, data: Record<string, unknown>) => void (await deps.audit.append(tenant.id, { kind, actor: request.actor, correlationId, data: request.subject ? { ...data, by: request.subject } : data })) };
  const rotationId = (await deps.store.getManagedState(tenant.id, managed.id))?.rotation?.rotationId;
  const events = await overrideRotation(ctx, tenant, managed, { actor: request.actor, reason: request.reason });
  deps.metrics?.override(tenant.id);
  if (rotationId) await recordOutcome({ deps, tenant, audit: ctx.audit, log }, rotationId, 'overridden', request.actor);
  return events;
}
