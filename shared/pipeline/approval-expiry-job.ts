/**
 * Approval expiry: an L2 approval nobody answered before its `expiresAt` is marked expired,
 * audited and told to the assignee by this job, on a schedule, so that its end is a recorded fact
 * and not something discovered when a human finally clicks. The next sweep that finds the
 * certificate still due asks again (governance.ts, holdForApproval).
 */
import { expireApproval } from './governance';
import type { PipelineDeps } from './stage';

/** Six-field NCRONTAB: every five minutes (an approval's window is hours long). */
export const DEFAULT_APPROVAL_EXPIRY_SCHEDULE = '0 */5 * * * *';

export async function expireApprovals(deps: PipelineDeps): Promise<Array<{ tenantId: string; approvalId: string }>> {
  const expired: Array<{ tenantId: string; approvalId: string }> = [];
  for (const tenant of deps.tenants.list()) {
    // One tenant's failure (a channel refusing, a store hiccup) must not hold back the others.
    try {
      const now = deps.clock.now().getTime();
      for (const approval of await deps.governance.listApprovals(tenant.id, 'pending')) {
        if (Date.parse(approval.expiresAt) > now) continue;
        const audit = async (kind: string, data: Record<string, unknown>) =>
          void (await deps.audit.append(tenant.id, { kind, actor: 'job:approval-expiry', correlationId: `approval:${tenant.id}:${approval.approvalId}`, data }));
        if (await expireApproval({ deps, tenant, audit, log: deps.logger }, approval)) expired.push({ tenantId: tenant.id, approvalId: approval.approvalId });
      }
    } catch (err) {
      deps.logger.error({ err, tenantId: tenant.id }, 'expiring this tenant\'s approvals failed; the next run tries again');
    }
  }
  return expired;
}
