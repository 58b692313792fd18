/**
 * Signing and checking the heads of the tenants' audit chains. A signed head is written apart from
 * the records at intervals (the scheduler, every sweep's end), so that records removed from the end
 * of a chain are detected: the chain alone cannot tell a truncated chain from a short one.
 */
import { checkSignedHead, signedHeadPayload, type AuditChainVerdict, type SignedHead } from '../domain/audit-chain';
import type { PipelineDeps } from './stage';

/** Six-field NCRONTAB: every five minutes. */
export const DEFAULT_AUDIT_HEAD_SCHEDULE = '0 */5 * * * *';

/** Signs every tenant's head that moved since its last signing; returns the heads signed. */
export async function signAuditHeads(deps: Pick<PipelineDeps, 'audit' | 'auditSigner' | 'clock'>): Promise<SignedHead[]> {
  const signed: SignedHead[] = [];
  for (const tenantId of await deps.audit.tenants()) {
    const last = await deps.audit.tip(tenantId); // the tip only: signing must not read whole chains every sweep
    if (!last) continue;
    const previous = await deps.audit.getSignedHead(tenantId);
    if (previous && previous.seq >= last.seq) continue;
    const unsigned = { tenantId, seq: last.seq, hash: last.hash, signedAt: deps.clock.now().toISOString() };
    const head: SignedHead = { ...unsigned, keyId: deps.auditSigner.keyId, signature: deps.auditSigner.sign(signedHeadPayload(unsigned)) };
    await deps.audit.putSignedHead(head);
    signed.push(head);
  }
  return signed;
}

/** The chain, then its signed head: alteration, deletion, reordering, insertion and truncation, the first bad record named. */
export async function verifyTenantAudit(deps: Pick<PipelineDeps, 'audit' | 'auditSigner'>, tenantId: string): Promise<AuditChainVerdict & { signedHead: SignedHead | null }> {
  const chain = await deps.audit.verify(tenantId);
  const signedHead = await deps.audit.getSignedHead(tenantId);
  if (!chain.ok) return { ...chain, signedHead };
  const head = checkSignedHead(await deps.audit.list(tenantId), signedHead, (payload, signature) => deps.auditSigner.verify(payload, signature));
  return { ...(head ?? chain), signedHead };
}
