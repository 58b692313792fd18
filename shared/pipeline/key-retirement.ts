/**
 * Retiring what a rotation kept so that a human could undo it. A committed rotation's deployers
 * keep the previous material (files: `<file>.certops-prev`; Key Vault: the previous version,
 * enabled) until the tenant's rollback window ends (policy.rollbackWindowDays, default 7): then the
 * previous private key is deleted and the rotation can no longer be overridden. A renewal whose
 * reason is key compromise keeps nothing once it commits, and the replaced certificate is revoked
 * through the CA that issued it (ACME revokeCert, reason keyCompromise) when certops obtained it.
 *
 * Observes: rotation records (committed, not yet retired). Decides: whether the window has ended.
 * Runs from the rotation engine (at commit, for a compromise; before a later rotation replaces the
 * record) and from the key-retirement job (window ends, and anything the engine could not finish).
 */
import type { TenantConfig } from '../config/model';
import { MS_PER_DAY } from '../domain/clock';
import { errorMessage, PermanentError } from '../domain/errors';
import { DEFAULT_ROLLBACK_WINDOW_DAYS, isKeyCompromise } from '../domain/rotation';
import { ConcurrencyError, type ManagedCertificateState, type RetirementReason, type RotationRecord } from '../ports/certificate-store';
import type { PipelineDeps } from './stage';

/** Six-field NCRONTAB: hourly (a window is days long; an hour late is fine). */
export const DEFAULT_KEY_RETIREMENT_SCHEDULE = '0 23 * * * *';

export function rollbackWindowMs(tenant: TenantConfig): number {
  return (tenant.policy?.rollbackWindowDays ?? DEFAULT_ROLLBACK_WINDOW_DAYS) * MS_PER_DAY;
}

/** When the rotation committed (null when it did not). */
export function committedAt(rotation: RotationRecord): string | null {
  return rotation.state === 'committed' ? (rotation.history.filter((h) => h.state === 'committed').at(-1)?.at ?? null) : null;
}

/**
 * Why a terminal rotation's kept material is due for retirement now (null: not yet, or nothing
 * kept). A committed compromise rotation: at once. A committed rotation: once the window ended.
 */
export function retirementDue(rotation: RotationRecord, tenant: TenantConfig, now: Date): RetirementReason | null {
  if (rotation.retired || rotation.deployments.length === 0) return null;
  const at = committedAt(rotation);
  if (!at) return null;
  if (isKeyCompromise(rotation.reason)) return 'key-compromise';
  return now.getTime() - Date.parse(at) >= rollbackWindowMs(tenant) ? 'window-ended' : null;
}

/** Deletes what every deployment of the rotation kept (idempotent: each deployer's retire is). */
export async function retireDeployments(deps: Pick<PipelineDeps, 'deployer' | 'clock'>, rotation: RotationRecord, why: RetirementReason): Promise<NonNullable<RotationRecord['retired']>> {
  for (const { receipt } of rotation.deployments) await deps.deployer.retire(receipt);
  return { at: deps.clock.now().toISOString(), why };
}

/**
 * Key compromise: asks the issuer that issued the replaced certificate to revoke it (RFC 5280
 * reason keyCompromise). Certificates certops did not obtain, and issuers without revocation
 * (certops' own CA publishes no CRL), are recorded as such: replacing them is all certops can do.
 * A transient failure throws (the job tries again); a refusal is recorded with the CA's words.
 */
export async function revokeReplaced(deps: Pick<PipelineDeps, 'issuers' | 'clock'>, tenantId: string, rotation: RotationRecord): Promise<NonNullable<RotationRecord['revocation']>> {
  const at = deps.clock.now().toISOString();
  const replacing = rotation.replacing;
  if (!replacing) return { at, outcome: 'not-issued-by-certops' };
  const issuer = deps.issuers.get(replacing.issuer);
  if (!issuer?.revoke) return { at, outcome: 'issuer-cannot-revoke', detail: `issuer ${replacing.issuer} offers no revocation` };
  try {
    return { at, outcome: await issuer.revoke(tenantId, replacing.certificatePem, 'keyCompromise') };
  } catch (err) {
    if (err instanceof PermanentError) return { at, outcome: 'refused', detail: errorMessage(err) };
    throw err;
  }
}

/** What is left to do for a committed rotation: retire (now or later) and, for a compromise, revoke. */
export function pendingRevocation(rotation: RotationRecord): boolean {
  return rotation.state === 'committed' && isKeyCompromise(rotation.reason) && !rotation.revocation;
}

/**
 * The job: for every tenant and managed certificate, a committed rotation whose window has ended
 * (or that replaced a compromised key) has its kept material deleted, and a compromised
 * certificate is revoked; each recorded on the rotation (compare-and-set on the certificate's
 * document) and audited. One certificate's failure never stops the others.
 */
export async function retireDueRollbacks(deps: PipelineDeps): Promise<Array<{ tenantId: string; certificateId: string; retired: RetirementReason | null; revoked: string | null }>> {
  const done: Array<{ tenantId: string; certificateId: string; retired: RetirementReason | null; revoked: string | null }> = [];
  const now = deps.clock.now();
  for (const tenant of deps.tenants.list()) {
    for (const managed of tenant.managedCertificates ?? []) {
      try {
        const doc = await deps.store.getManagedState(tenant.id, managed.id);
        const rotation = doc?.rotation;
        if (!doc || !rotation) continue;
        const why = retirementDue(rotation, tenant, now);
        if (!why && !pendingRevocation(rotation)) continue;
        const settled = await settle(deps, tenant.id, doc, why);
        if (settled) done.push({ tenantId: tenant.id, certificateId: managed.id, retired: why, revoked: settled.revocation?.outcome ?? null });
      } catch (err) {
        deps.logger.error({ err, tenantId: tenant.id, certificateId: managed.id }, 'retiring this certificate\'s rollback material failed; the next run tries again');
      }
    }
  }
  return done;
}

/** Retires and revokes what is due for one document's rotation, then records it; null when another writer changed the document first. */
async function settle(deps: PipelineDeps, tenantId: string, doc: ManagedCertificateState, why: RetirementReason | null): Promise<RotationRecord | null> {
  const rotation = doc.rotation!;
  const retired = why ? await retireDeployments(deps, rotation, why) : rotation.retired;
  const revocation = pendingRevocation(rotation) ? await revokeReplaced(deps, tenantId, rotation) : rotation.revocation;
  const next: RotationRecord = { ...rotation, retired: retired ?? null, revocation: revocation ?? null };
  try {
    await deps.store.putManagedState({ ...doc, rotation: next, version: doc.version + 1 }, doc.version);
  } catch (err) {
    if (err instanceof ConcurrencyError) return null; // a rotation started meanwhile: it retires the old one itself
    throw err;
  }
  const audit = (kind: string, data: Record<string, unknown>) => deps.audit.append(tenantId, { kind, actor: 'job:key-retirement', correlationId: rotation.rotationId, data });
  if (why) await audit('rotation.retired', { certificateId: doc.certificateId, rotationId: rotation.rotationId, why, targets: rotation.deployments.map((d) => d.target) });
  if (revocation && !rotation.revocation) await audit('certificate.revocation', { certificateId: doc.certificateId, rotationId: rotation.rotationId, fingerprint: rotation.fromFingerprint, ...revocation });
  return next;
}
