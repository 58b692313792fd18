/**
 * Rotate: observes an approved renewal and replaces the certificate with no downtime:
 * lock (claim), check again that the work is still needed, issue, deploy (files, then reload),
 * verify by handshake that every address of every endpoint using the certificate serves the new
 * one, then commit. If deployment or verification fails: restore the previous files, verify the
 * old certificate is served again, and escalate. Nothing is revoked.
 *
 * Idempotency key: `rotate:<sweepId>:<certificateId>` is claimed once; and the managed state's
 * deployed fingerprint is checked again, so a request about a certificate that has already been
 * replaced does nothing.
 */
import type { CloudEvent } from '../../domain/events';
import { errorMessage, PermanentError } from '../../domain/errors';
import type { ManagedCertificateConfig, TenantConfig } from '../../config/model';
import type { ManagedCertificateState } from '../../ports/certificate-store';
import { DeploymentError, type DeploymentReceipt } from '../../ports/deployer';
import { endpointRef } from '../endpoints';
import type { GatedRenewal, RotationCompleted, RotationFailed } from '../event-data';
import { waitUntilServed } from '../served-verification';
import type { StageContext } from '../stage';
import { EVENT_TYPES } from '../topology';

const DEFAULT_VALIDITY_DAYS = 90;

export async function rotate(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const request = event.data as GatedRenewal;
  const { deps } = ctx;
  const tenant = deps.tenants.get(ctx.tenantId);
  const managed = tenant?.managedCertificates?.find((m) => m.id === request.certificateId);
  if (!tenant || !managed) {
    throw new PermanentError(`certificate ${request.certificateId} of tenant ${ctx.tenantId} is not configured as managed; nothing to rotate`);
  }
  if (!(await deps.store.claim(ctx.tenantId, `rotate:${request.sweepId}:${request.certificateId}`))) {
    ctx.log.info({ certificateId: managed.id }, 'rotation already handled for this sweep');
    return [];
  }
  const state = await deps.store.getManagedState(ctx.tenantId, managed.id);
  if (state?.deployedFingerprint && request.currentFingerprint && state.deployedFingerprint !== request.currentFingerprint) {
    ctx.log.info({ certificateId: managed.id, deployed: state.deployedFingerprint }, 'already replaced since this request; nothing to do');
    await ctx.audit('rotation.skipped', { certificateId: managed.id, reason: 'AlreadyReplaced', deployedFingerprint: state.deployedFingerprint });
    return [];
  }

  const endpoints = tenant.endpoints.filter((e) => e.managed === managed.id).map(endpointRef);
  const issuer = deps.issuers.get(managed.issuer);
  if (!issuer) throw new PermanentError(`issuer ${managed.issuer} is not available; configure it or change the certificate's issuer`);

  const issued = await issuer.issue({
    tenantId: ctx.tenantId,
    certificateId: managed.id,
    commonName: managed.dnsNames[0] ?? managed.ipAddresses?.[0] ?? managed.id,
    dnsNames: managed.dnsNames,
    ipAddresses: managed.ipAddresses ?? [],
    keyType: managed.keyType ?? 'ec-p256',
    validityDays: managed.validityDays ?? DEFAULT_VALIDITY_DAYS,
  });
  await ctx.audit('certificate.issued', { certificateId: managed.id, issuer: issuer.name, fingerprint: issued.fingerprintSha256, notAfter: issued.notAfter });

  const failed = (reason: string, rolledBack: boolean, restoredVerified: boolean): Promise<CloudEvent[]> =>
    fail(ctx, tenant, managed, state, request, { reason, rolledBack, restoredVerified, attempted: issued.fingerprintSha256 });

  let receipt: DeploymentReceipt;
  try {
    receipt = await deps.deployer.deploy(managed.target, issued);
  } catch (err) {
    ctx.log.error({ err, certificateId: managed.id }, 'deployment failed');
    // A failed reload happens after the files were written: put the previous ones back.
    const restored = await restoreQuietly(ctx, managed.id, err instanceof DeploymentError ? err.receipt : undefined);
    // Served-or-not is the truth, whatever the restore reported (a failing reload hook fails both).
    return failed(`deployment failed: ${errorMessage(err)}`, restored, await oldServed(ctx, endpoints, request));
  }
  await ctx.audit('certificate.deployed', { certificateId: managed.id, fingerprint: issued.fingerprintSha256, target: managed.target.type });

  const check = await waitUntilServed(deps, endpoints, issued.fingerprintSha256, {
    timeoutMs: deps.rotation.verifyTimeoutMs,
    initialDelayMs: deps.rotation.verifyInitialDelayMs,
    maxDelayMs: deps.rotation.verifyMaxDelayMs,
  });
  if (!check.ok) {
    const where = check.pending.map((p) => `${p.endpointId} at ${p.address || '?'} serves ${p.served?.slice(0, 12) ?? p.error ?? 'nothing'}`).join('; ');
    ctx.log.error({ certificateId: managed.id, pending: check.pending }, 'verification failed; rolling back');
    const restored = await restoreQuietly(ctx, managed.id, receipt);
    return failed(`verification failed: ${where}`, restored, await oldServed(ctx, endpoints, request));
  }

  const next: ManagedCertificateState = {
    tenantId: ctx.tenantId,
    certificateId: managed.id,
    deployedFingerprint: issued.fingerprintSha256,
    notAfter: issued.notAfter,
    lastRotation: {
      at: deps.clock.now().toISOString(),
      outcome: 'committed',
      fromFingerprint: request.currentFingerprint,
      toFingerprint: issued.fingerprintSha256,
      reason: request.reason,
    },
    version: (state?.version ?? 0) + 1,
  };
  await deps.store.putManagedState(next, state?.version ?? 0);
  await ctx.audit('rotation.committed', {
    certificateId: managed.id,
    from: request.currentFingerprint,
    to: issued.fingerprintSha256,
    verified: check.verified,
    level: request.decision.level,
  });
  ctx.log.info({ certificateId: managed.id, to: issued.fingerprintSha256, verified: check.verified.length }, 'rotation committed');
  const data: RotationCompleted = {
    certificateId: managed.id,
    decision: request.decision,
    fromFingerprint: request.currentFingerprint,
    toFingerprint: issued.fingerprintSha256,
    notAfter: issued.notAfter,
    verified: check.verified,
    reason: request.reason,
  };
  return [ctx.emit(EVENT_TYPES.rotationCompleted, data, { id: `${request.sweepId}:rotated:${managed.id}`, subject: managed.id })];
}

async function restoreQuietly(ctx: StageContext, certificateId: string, receipt: DeploymentReceipt | undefined): Promise<boolean> {
  if (!receipt) return false;
  try {
    await ctx.deps.deployer.restore(receipt);
    await ctx.audit('certificate.restored', { certificateId, target: receipt.target.type });
    return true;
  } catch (err) {
    ctx.log.error({ err, certificateId }, 'restoring the previous certificate failed');
    await ctx.audit('certificate.restore-failed', { certificateId, error: errorMessage(err) });
    return false;
  }
}

async function oldServed(ctx: StageContext, endpoints: ReturnType<typeof endpointRef>[], request: GatedRenewal): Promise<boolean> {
  if (!request.currentFingerprint) return false;
  const check = await waitUntilServed(ctx.deps, endpoints, request.currentFingerprint, {
    timeoutMs: ctx.deps.rotation.verifyTimeoutMs,
    initialDelayMs: ctx.deps.rotation.verifyInitialDelayMs,
    maxDelayMs: ctx.deps.rotation.verifyMaxDelayMs,
  });
  return check.ok;
}

async function fail(
  ctx: StageContext,
  tenant: TenantConfig,
  managed: ManagedCertificateConfig,
  state: ManagedCertificateState | null,
  request: GatedRenewal,
  outcome: { reason: string; rolledBack: boolean; restoredVerified: boolean; attempted: string },
): Promise<CloudEvent[]> {
  const next: ManagedCertificateState = {
    tenantId: ctx.tenantId,
    certificateId: managed.id,
    deployedFingerprint: state?.deployedFingerprint ?? request.currentFingerprint,
    notAfter: state?.notAfter ?? request.notAfter,
    lastRotation: {
      at: ctx.deps.clock.now().toISOString(),
      outcome: outcome.rolledBack ? 'rolled-back' : 'failed',
      fromFingerprint: request.currentFingerprint,
      toFingerprint: outcome.attempted,
      reason: outcome.reason,
    },
    version: (state?.version ?? 0) + 1,
  };
  await ctx.deps.store.putManagedState(next, state?.version ?? 0);
  await ctx.audit('rotation.failed', { certificateId: managed.id, ...outcome, escalateTo: (tenant.escalation ?? tenant.assignee).name });
  const data: RotationFailed = {
    certificateId: managed.id,
    decision: request.decision,
    fromFingerprint: request.currentFingerprint,
    attemptedFingerprint: outcome.attempted,
    reason: outcome.reason,
    rolledBack: outcome.rolledBack,
    restoredVerified: outcome.restoredVerified,
  };
  return [ctx.emit(EVENT_TYPES.rotationFailed, data, { id: `${request.sweepId}:rotation-failed:${managed.id}`, subject: managed.id })];
}
