/**
 * Rotate: observes an approved renewal and replaces the certificate with no downtime:
 * lock (claim), check again that the work is still needed, issue, deploy (files, then reload),
 * verify by handshake that every address of every endpoint using the certificate serves the new
 * one, then commit. If issuance, deployment or verification fails: restore the previous files,
 * verify the old certificate is served again, record the failure and escalate. Nothing is revoked.
 *
 * Idempotency key: `rotate:<sweepId>:<certificateId>` is claimed once and given back when the
 * attempt fails in a way a retry may fix (claims.ts). Checked again under the claim: a rotation
 * certops committed after this request was made has already done the work.
 */
import type { CloudEvent } from '../../domain/events';
import { errorMessage, PermanentError, RetryableError } from '../../domain/errors';
import type { ManagedCertificateConfig, TenantConfig } from '../../config/model';
import type { ManagedCertificateState } from '../../ports/certificate-store';
import { DeploymentError, type DeploymentReceipt } from '../../ports/deployer';
import type { IssuedCertificate } from '../../ports/issuer';
import { underClaim } from '../claims';
import { endpointRef } from '../endpoints';
import type { EndpointRef, GatedRenewal, RotationCompleted, RotationFailed } from '../event-data';
import { waitUntilServed } from '../served-verification';
import type { StageContext } from '../stage';
import { EVENT_TYPES } from '../topology';

const DEFAULT_VALIDITY_DAYS = 90;

interface Rotation {
  ctx: StageContext;
  tenant: TenantConfig;
  managed: ManagedCertificateConfig;
  state: ManagedCertificateState | null;
  request: GatedRenewal;
  endpoints: EndpointRef[];
}

export async function rotate(event: CloudEvent, ctx: StageContext): Promise<CloudEvent[]> {
  const request = event.data as GatedRenewal;
  const tenant = ctx.deps.tenants.get(ctx.tenantId);
  const managed = tenant?.managedCertificates?.find((m) => m.id === request.certificateId);
  if (!tenant || !managed) {
    throw new PermanentError(`certificate ${request.certificateId} of tenant ${ctx.tenantId} is not configured as managed; nothing to rotate`);
  }
  const outcome = await underClaim(ctx.deps.store, ctx.tenantId, `rotate:${request.sweepId}:${request.certificateId}`, async () => {
    const state = await ctx.deps.store.getManagedState(ctx.tenantId, managed.id);
    const last = state?.lastRotation;
    if (last?.outcome === 'committed' && last.toFingerprint !== request.currentFingerprint && last.at >= event.time) {
      ctx.log.info({ certificateId: managed.id, deployed: last.toFingerprint }, 'replaced by certops after this request; nothing to do');
      await ctx.audit('rotation.skipped', { certificateId: managed.id, reason: 'AlreadyReplaced', deployedFingerprint: last.toFingerprint });
      return [];
    }
    const endpoints = tenant.endpoints.filter((e) => e.managed === managed.id).map(endpointRef);
    return attempt({ ctx, tenant, managed, state, request, endpoints });
  });
  if (!outcome.claimed) {
    ctx.log.info({ certificateId: managed.id }, 'rotation already handled for this sweep');
    return [];
  }
  return outcome.value;
}

async function attempt(r: Rotation): Promise<CloudEvent[]> {
  const { ctx, managed, request, endpoints } = r;
  const { deps } = ctx;

  let issued: IssuedCertificate;
  try {
    const issuer = deps.issuers.get(managed.issuer);
    if (!issuer) throw new PermanentError(`issuer ${managed.issuer} is not available; configure it or change the certificate's issuer`);
    issued = await issuer.issue({
      tenantId: ctx.tenantId,
      certificateId: managed.id,
      commonName: managed.dnsNames[0] ?? managed.ipAddresses?.[0] ?? managed.id,
      dnsNames: managed.dnsNames,
      ipAddresses: managed.ipAddresses ?? [],
      keyType: managed.keyType ?? 'ec-p256',
      validityDays: managed.validityDays ?? DEFAULT_VALIDITY_DAYS,
    }, { replaces: request.replaces ?? undefined });
    await ctx.audit('certificate.issued', {
      certificateId: managed.id,
      issuer: issuer.name,
      reason: request.reason,
      fingerprint: issued.fingerprintSha256,
      notAfter: issued.notAfter,
      ...(issued.provenance ? { ca: issued.provenance.ca, challenge: issued.provenance.challenge ?? null, durationMs: issued.provenance.durationMs } : {}),
    });
  } catch (err) {
    if (err instanceof RetryableError) throw err; // redelivered with backoff; the claim is given back
    // Nothing was deployed: the old certificate is still in place, and a human must look.
    return fail(r, { reason: `issuance failed: ${errorMessage(err)}`, rolledBack: false, restoredVerified: await oldServed(r), attempted: null });
  }

  let receipt: DeploymentReceipt;
  try {
    receipt = await deps.deployer.deploy(managed.target, issued);
  } catch (err) {
    ctx.log.error({ err, certificateId: managed.id }, 'deployment failed');
    // With a receipt, files were written (the reload failed): put the previous ones back. Without
    // one, the deployer left the previous files in place (FilesDeployer restores a partial write).
    const restored = err instanceof DeploymentError && err.receipt ? await restoreQuietly(ctx, managed.id, err.receipt) : true;
    // Served-or-not is the truth, whatever the restore reported (a failing reload hook fails both).
    return fail(r, { reason: `deployment failed: ${errorMessage(err)}`, rolledBack: restored, restoredVerified: await oldServed(r), attempted: issued.fingerprintSha256 });
  }
  await ctx.audit('certificate.deployed', { certificateId: managed.id, fingerprint: issued.fingerprintSha256, target: managed.target.type });

  const check = await waitUntilServed(deps, endpoints, issued.fingerprintSha256, verifyOptions(ctx));
  if (!check.ok) {
    const where = check.pending.map((p) => `${p.endpointId} at ${p.address || '?'} serves ${p.served?.slice(0, 12) ?? p.error ?? 'nothing'}`).join('; ');
    ctx.log.error({ certificateId: managed.id, pending: check.pending }, 'verification failed; rolling back');
    const restored = await restoreQuietly(ctx, managed.id, receipt);
    return fail(r, { reason: `verification failed: ${where}`, rolledBack: restored, restoredVerified: await oldServed(r), attempted: issued.fingerprintSha256 });
  }

  await deps.store.putManagedState(
    {
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
      version: (r.state?.version ?? 0) + 1,
    },
    r.state?.version ?? 0,
  );
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

function verifyOptions(ctx: StageContext) {
  return {
    timeoutMs: ctx.deps.rotation.verifyTimeoutMs,
    initialDelayMs: ctx.deps.rotation.verifyInitialDelayMs,
    maxDelayMs: ctx.deps.rotation.verifyMaxDelayMs,
  };
}

async function restoreQuietly(ctx: StageContext, certificateId: string, receipt: DeploymentReceipt): Promise<boolean> {
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

/** Is the certificate that was there before (the request's) what every address serves? */
async function oldServed(r: Rotation): Promise<boolean> {
  if (!r.request.currentFingerprint) return false;
  return (await waitUntilServed(r.ctx.deps, r.endpoints, r.request.currentFingerprint, verifyOptions(r.ctx))).ok;
}

async function fail(
  r: Rotation,
  outcome: { reason: string; rolledBack: boolean; restoredVerified: boolean; attempted: string | null },
): Promise<CloudEvent[]> {
  const { ctx, tenant, managed, state, request } = r;
  await ctx.deps.store.putManagedState(
    {
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
    },
    state?.version ?? 0,
  );
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
